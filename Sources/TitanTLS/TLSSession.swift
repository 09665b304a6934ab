import COpenSSL
#if canImport(Glibc)
import Glibc
#endif

/// Who the peer proved to be in the handshake.
public struct TLSPeer: Sendable, Equatable {
    /// The subject's common name of the peer's certificate, if it sent one.
    public let commonName: String?
    /// True when the peer sent a certificate and it was checked against the CA.
    public let verified: Bool

    public init(commonName: String?, verified: Bool) {
        self.commonName = commonName
        self.verified = verified
    }
}

/// One TLS connection as a pure state machine over bytes (OpenSSL with memory BIOs): ciphertext
/// from the socket goes in, plaintext for the reader comes out, and whatever must go back to the
/// peer (handshake, alerts, records) is appended to an output buffer the caller writes. No I/O,
/// no threads: the owner (a connection on the loop) drives it.
///
/// Plaintext sent before the handshake completes is held and goes out right after it.
public final class TLSSession {
    public enum Role: Sendable {
        /// `serverName`: the host dialled (an IP literal or a DNS name); the server's certificate
        /// must be issued for it. Nil skips that check (the certificate must still be signed by
        /// a trusted CA).
        case client(serverName: String?)
        case server
    }

    private let ssl: OpaquePointer
    private let input: OpaquePointer
    private let output: OpaquePointer
    private let isClient: Bool
    public private(set) var handshakeComplete = false
    /// The peer sent close_notify: it will send nothing more.
    public private(set) var peerClosed = false
    private var held: [UInt8] = []
    private var sawPeerBytes = false
    private var chunk = [UInt8](repeating: 0, count: 16 * 1024)

    public init(context: TLSContext, role: Role) throws(TLSError) {
        ERR_clear_error()
        guard let ssl = SSL_new(context.context) else { throw .configuration("TLS: \(TLSContext.lastError("cannot create a connection"))") }
        guard let input = BIO_new(BIO_s_mem()), let output = BIO_new(BIO_s_mem()) else {
            SSL_free(ssl)
            throw .configuration("TLS: cannot allocate buffers")
        }
        self.ssl = ssl
        self.input = input
        self.output = output
        // The SSL object owns both BIOs from here on (freed by SSL_free).
        SSL_set_bio(ssl, input, output)
        switch role {
        case .client(let serverName):
            isClient = true
            SSL_set_connect_state(ssl)
            if let serverName, !serverName.isEmpty {
                if Self.isIPAddress(serverName) {
                    guard X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), serverName) == 1 else {
                        throw .configuration("TLS: cannot check certificates for address \(serverName)")
                    }
                } else {
                    SSL_set_hostflags(ssl, UInt32(X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS))
                    guard SSL_set1_host(ssl, serverName) == 1, titan_ssl_set_sni(ssl, serverName) == 1 else {
                        throw .configuration("TLS: '\(serverName)' is not a host name a certificate can be checked against")
                    }
                }
            }
        case .server:
            isClient = false
            SSL_set_accept_state(ssl)
        }
    }

    deinit {
        titan_ssl_release_failed_cert(ssl)
        SSL_free(ssl)
    }

    /// A client starts the handshake: its hello is appended to `out`. (A server waits for one.)
    public func start(into out: inout [UInt8]) throws(TLSError) {
        guard isClient, !handshakeComplete else { return }
        _ = try advanceHandshake(into: &out)
    }

    /// Takes bytes read from the socket. Appends decrypted bytes to `plaintext` and what must be
    /// sent back to `out` (also when it throws: an alert telling the peer why). Returns true when
    /// this call completed the handshake.
    @discardableResult
    public func receive(_ bytes: UnsafeRawBufferPointer, plaintext: inout [UInt8], out: inout [UInt8]) throws(TLSError) -> Bool {
        guard !bytes.isEmpty else { return false }
        if !sawPeerBytes {
            sawPeerBytes = true
            // A TLS record starts with its content type: handshake (22) or alert (21) first.
            if let first = bytes.first, first != 22 && first != 21 {
                throw .peerNotTLS(firstBytes: Array(bytes.prefix(8)))
            }
        }
        guard BIO_write(input, bytes.baseAddress, Int32(bytes.count)) == Int32(bytes.count) else {
            throw .protocolFailure("cannot buffer \(bytes.count) bytes")
        }
        var completed = false
        if !handshakeComplete {
            completed = try advanceHandshake(into: &out)
            guard handshakeComplete else { return false }
        }
        try readAvailable(into: &plaintext, out: &out)
        return completed
    }

    /// ``receive(_:plaintext:out:)`` for an array.
    @discardableResult
    public func receive(_ bytes: [UInt8], plaintext: inout [UInt8], out: inout [UInt8]) throws(TLSError) -> Bool {
        var result: Result<Bool, TLSError> = .success(false)
        bytes.withUnsafeBytes { raw in
            do throws(TLSError) { result = .success(try receive(raw, plaintext: &plaintext, out: &out)) } catch { result = .failure(error) }
        }
        return try result.get()
    }

    /// Encrypts `bytes` for the peer into `out`; before the handshake completes they are held.
    public func send(_ bytes: UnsafeRawBufferPointer, into out: inout [UInt8]) throws(TLSError) {
        guard !bytes.isEmpty else { return }
        guard handshakeComplete else {
            held.append(contentsOf: bytes)
            return
        }
        ERR_clear_error()
        let rc = SSL_write(ssl, bytes.baseAddress, Int32(bytes.count))
        if rc <= 0 { throw failure(rc) }
        drain(into: &out)
    }

    /// ``send(_:into:)`` for an array.
    public func send(_ bytes: [UInt8], into out: inout [UInt8]) throws(TLSError) {
        var failed: TLSError?
        bytes.withUnsafeBytes { raw in
            do throws(TLSError) { try send(raw, into: &out) } catch { failed = error }
        }
        if let failed { throw failed }
    }

    /// Says goodbye (close_notify) so the peer can tell a clean end from a cut connection.
    public func shutdown(into out: inout [UInt8]) {
        guard handshakeComplete else { return }
        ERR_clear_error()
        _ = SSL_shutdown(ssl)
        ERR_clear_error()
        drain(into: &out)
    }

    /// The peer's identity; nil before the handshake completes.
    public var peer: TLSPeer? {
        guard handshakeComplete else { return nil }
        guard let cert = SSL_get0_peer_certificate(ssl) else { return TLSPeer(commonName: nil, verified: false) }
        return TLSPeer(commonName: Self.commonName(cert), verified: SSL_get_verify_result(ssl) == X509_V_OK)
    }

    /// The TLS version agreed, e.g. "TLSv1.3".
    public var version: String { String(cString: SSL_get_version(ssl)) }

    // MARK: internals

    private func advanceHandshake(into out: inout [UInt8]) throws(TLSError) -> Bool {
        ERR_clear_error()
        let rc = SSL_do_handshake(ssl)
        if rc == 1 {
            handshakeComplete = true
            drain(into: &out)
            if !held.isEmpty {
                let pending = held
                held = []
                try send(pending, into: &out)
            }
            return true
        }
        let error = SSL_get_error(ssl, rc)
        drain(into: &out)
        if error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE { return false }
        throw failure(rc, error: error)
    }

    private func readAvailable(into plaintext: inout [UInt8], out: inout [UInt8]) throws(TLSError) {
        while true {
            // Nothing left in the input BIO nor buffered in OpenSSL (a partial record counts as
            // buffered): one more SSL_read could only say "want read", and that answer costs
            // about as much as decrypting a small record (OpenSSL 3.0: ~0.5 µs, a fifth of a
            // ping's TLS work).
            if titan_bio_pending(input) == 0 && SSL_has_pending(ssl) == 0 {
                drain(into: &out)
                return
            }
            ERR_clear_error()
            let rc = chunk.withUnsafeMutableBytes { SSL_read(ssl, $0.baseAddress, Int32($0.count)) }
            if rc > 0 {
                plaintext.append(contentsOf: chunk[0..<Int(rc)])
                continue
            }
            let error = SSL_get_error(ssl, rc)
            drain(into: &out)
            if error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE { return }
            if error == SSL_ERROR_ZERO_RETURN {
                peerClosed = true
                return
            }
            throw failure(rc, error: error)
        }
    }

    private func drain(into out: inout [UInt8]) {
        let pending = titan_bio_pending(output)
        guard pending > 0 else { return }
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: pending))
        let got = out.withUnsafeMutableBytes { BIO_read(output, $0.baseAddress! + start, Int32(pending)) }
        out.removeLast(pending - max(0, Int(got)))
    }

    /// Turns OpenSSL's error state into what went wrong, in the terms of ``TLSError``.
    private func failure(_ rc: Int32, error: Int32? = nil) -> TLSError {
        let kind = error ?? SSL_get_error(ssl, rc)
        let code = ERR_peek_last_error()
        defer { ERR_clear_error() }
        let verify = SSL_get_verify_result(ssl)
        if verify != X509_V_OK && (code == 0 || titan_err_verify_failed(code) != 0) {
            let names = (titan_ssl_failed_cert(ssl) ?? SSL_get0_peer_certificate(ssl)).flatMap(Self.names)
            return .peerCertificateRejected(reason: String(cString: X509_verify_cert_error_string(Int(verify))), names: names)
        }
        if code != 0 {
            let alert = titan_err_alert(code)
            if alert >= 0 { return .rejectedByPeer(alert: Self.alertName(alert)) }
            if titan_err_not_tls(code) != 0 { return .peerNotTLS(firstBytes: []) }
            if let reason = titan_err_reason(code) { return .protocolFailure(String(cString: reason)) }
        }
        if kind == SSL_ERROR_SYSCALL || kind == SSL_ERROR_ZERO_RETURN {
            return handshakeComplete ? .protocolFailure("the peer ended the connection abruptly") : .closedDuringHandshake
        }
        return .protocolFailure("error \(kind)")
    }

    /// OpenSSL's long names are "unknown CA", "certificate expired", ...
    private static func alertName(_ alert: Int32) -> String {
        String(cString: SSL_alert_desc_string_long(alert))
    }

    private static func isIPAddress(_ text: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, text, &v4) == 1 || inet_pton(AF_INET6, text, &v6) == 1
    }

    private static func commonName(_ cert: OpaquePointer) -> String? {
        guard let subject = X509_get_subject_name(cert) else { return nil }
        var buffer = [CChar](repeating: 0, count: 256)
        let length = X509_NAME_get_text_by_NID(subject, NID_commonName, &buffer, Int32(buffer.count))
        guard length > 0 else { return nil }
        return String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// What a certificate is for: its subject alternative names as OpenSSL prints them
    /// ("DNS:master.local, IP Address:10.0.0.5"), else its common name.
    private static func names(_ cert: OpaquePointer) -> String? {
        let index = X509_get_ext_by_NID(cert, NID_subject_alt_name, -1)
        if index >= 0, let ext = X509_get_ext(cert, index), let bio = BIO_new(BIO_s_mem()) {
            defer { BIO_free(bio) }
            if X509V3_EXT_print(bio, ext, 0, 0) == 1 {
                var buffer = [UInt8](repeating: 0, count: 1024)
                let got = buffer.withUnsafeMutableBytes { BIO_read(bio, $0.baseAddress, Int32($0.count)) }
                if got > 0 { return String(decoding: buffer.prefix(Int(got)), as: UTF8.self) }
            }
        }
        return commonName(cert).map { "CN=\($0)" }
    }
}
