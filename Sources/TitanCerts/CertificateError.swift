import Foundation

/// Why a certificate could not be made, loaded or written. Each case carries what a person needs
/// to fix it: the host, the dates, which PEM, the path.
public enum CertificateError: Error, CustomStringConvertible, Equatable, Sendable {
    /// A host for the SubjectAlternativeNames is neither an IP address nor a valid DNS name.
    case badHost(String, reason: String)
    /// A node certificate needs at least one host.
    case noHosts
    /// More hosts than one certificate should name.
    case tooManyHosts(count: Int, limit: Int)
    /// A common name that is empty, too long or holds control characters.
    case badCommonName(String, reason: String)
    /// The validity period ends before (or when) it starts.
    case notAfterBeforeNotBefore(notBefore: Date, notAfter: Date)
    /// The CA expired before `notAfter`: a node certificate would outlive what signs it.
    case outlivesAuthority(notAfter: Date, authorityNotAfter: Date)
    /// `which` ("CA certificate", "CA private key") could not be read as PEM of the right kind.
    case unreadablePEM(which: String, reason: String)
    /// The private key is not the one whose public half the certificate holds.
    case keyDoesNotMatchCertificate
    /// The certificate cannot sign others (`reason` says what it lacks).
    case notACertificateAuthority(reason: String)
    /// The library refused to build or sign the certificate.
    case signingFailed(String)
    /// A file is there already and overwriting was not asked for.
    case fileExists(path: String)
    /// A path is a symbolic link: certificate files are never written or replaced through one.
    case symbolicLink(path: String)
    /// A path that should be a regular file is something else (a directory, a FIFO...).
    case notARegularFile(path: String)
    /// A file is larger than any certificate or key file could be.
    case fileTooLarge(path: String, limit: Int)
    /// A system call on `path` failed: `operation` is what was tried, `errno` why.
    case io(path: String, operation: String, errno: Int32)
    /// `error` happened with the file at `path` (loading a CA from its files).
    indirect case inFile(path: String, error: CertificateError)

    public var description: String {
        switch self {
        case .badHost(let host, let reason):
            return "host '\(Self.printable(host))' \(reason)"
        case .noHosts:
            return "a node certificate needs at least one host (an IP address or a DNS name)"
        case .tooManyHosts(let count, let limit):
            return "\(count) hosts: a certificate names at most \(limit)"
        case .badCommonName(let name, let reason):
            return "common name '\(Self.printable(name))' \(reason)"
        case .notAfterBeforeNotBefore(let notBefore, let notAfter):
            return "the certificate would expire (\(Self.date(notAfter))) before it becomes valid (\(Self.date(notBefore)))"
        case .outlivesAuthority(let notAfter, let authorityNotAfter):
            return "the certificate would expire (\(Self.date(notAfter))) after its CA (\(Self.date(authorityNotAfter))): "
                + "make it shorter, or make a new CA"
        case .unreadablePEM(let which, let reason):
            return "\(which) is unreadable: \(reason)"
        case .keyDoesNotMatchCertificate:
            return "the private key does not belong to the certificate (their public keys differ)"
        case .notACertificateAuthority(let reason):
            return "the certificate is not a CA: \(reason)"
        case .signingFailed(let reason):
            return "could not make the certificate: \(reason)"
        case .fileExists(let path):
            return "\(path) exists already: not replaced"
        case .symbolicLink(let path):
            return "\(path) is a symbolic link: refusing to write through it"
        case .notARegularFile(let path):
            return "\(path) is not a regular file"
        case .fileTooLarge(let path, let limit):
            return "\(path) is larger than \(limit / 1024) KiB: not a certificate or key file"
        case .io(let path, let operation, let code):
            return "\(path): cannot \(operation): \(String(cString: strerror(code)))"
        case .inFile(let path, let error):
            return "\(path): \(error)"
        }
    }

    /// The innermost error (without the `inFile` wrappers).
    public var underlying: CertificateError {
        if case .inFile(_, let error) = self { return error.underlying }
        return self
    }

    static func date(_ date: Date) -> String {
        ISO8601DateFormatter().string(from: date)
    }

    /// `text` with control characters and non-ASCII escaped (it goes to a terminal), at most 80 characters.
    static func printable(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars.prefix(80) {
            if scalar.value >= 0x20 && scalar.value < 0x7F {
                out.unicodeScalars.append(scalar)
            } else {
                out += "\\u{\(String(scalar.value, radix: 16))}"
            }
        }
        return text.unicodeScalars.count > 80 ? out + "…" : out
    }
}
