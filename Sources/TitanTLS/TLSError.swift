/// Why TLS failed, in words a user can act on. Each case says which side it concerns: a
/// certificate this end refused, an alert the peer sent, a peer that does not speak TLS at all.
public enum TLSError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A certificate, key or CA file could not be used (names the file and the reason).
    case configuration(String)
    /// This end refused the peer's certificate: `reason` is OpenSSL's verdict (e.g. "certificate
    /// has expired"), `names` what the certificate is for, when it could be read.
    case peerCertificateRejected(reason: String, names: String?)
    /// The peer refused the connection with a TLS alert (e.g. "unknown CA": it does not trust the
    /// CA that signed this end's certificate).
    case rejectedByPeer(alert: String)
    /// The peer answered with something that is not TLS (a plaintext Titan frame, HTTP, ...).
    case peerNotTLS(firstBytes: [UInt8])
    /// The connection ended before the handshake completed.
    case closedDuringHandshake
    /// Any other failure of the TLS protocol, with OpenSSL's reason.
    case protocolFailure(String)

    public var description: String {
        switch self {
        case .configuration(let problem):
            return problem
        case .peerCertificateRejected(let reason, let names):
            let hint: String
            switch reason {
            case _ where reason.contains("local issuer") || reason.contains("self-signed") || reason.contains("self signed"):
                hint = ": it is not signed by a CA this end trusts (--tls-ca)"
            case _ where reason.contains("expired"):
                hint = ": renew it (titan certs issue)"
            case _ where reason.contains("mismatch"):
                hint = ": it was issued for other names; reissue it with --host for the address dialled, or set --tls-server-name"
            default:
                hint = ""
            }
            return "the peer's certificate was refused: \(reason)\(names.map { " (certificate for \($0))" } ?? "")\(hint)"
        case .rejectedByPeer(let alert):
            let hint: String
            switch alert {
            case "unknown CA": hint = ": it does not trust the CA that signed this end's certificate"
            case "certificate required": hint = ": it requires a certificate from this end (--tls-cert and --tls-key)"
            case "certificate expired": hint = ": this end's certificate has expired"
            case "bad certificate", "unsupported certificate": hint = ": it does not accept this end's certificate"
            case "protocol version": hint = ": no TLS version in common (Titan needs TLS 1.2 or newer)"
            default: hint = ""
            }
            return "the peer refused the TLS connection (alert: \(alert))\(hint)"
        case .peerNotTLS(let bytes):
            let what: String
            if let first = bytes.first, first == 1 || first == 2 {
                what = "a plaintext Titan frame"
            } else if bytes.starts(with: Array("HTTP".utf8)) || bytes.starts(with: Array("GET ".utf8)) {
                what = "plaintext HTTP"
            } else {
                what = "bytes that are not TLS"
            }
            return "the peer does not speak TLS (it sent \(what)): TLS is on at one end only"
        case .closedDuringHandshake:
            return "the peer closed the connection during the TLS handshake"
        case .protocolFailure(let reason):
            return "TLS failed: \(reason)"
        }
    }
}
