import TitanTLS

/// Why a connection closed: the socket failed, or TLS did (with the reason in TLS's terms).
public enum ConnectionError: Error, Sendable, Equatable, CustomStringConvertible {
    case io(UVError)
    case tls(TLSError)

    public var description: String {
        switch self {
        case .io(let error): error.description
        case .tls(let error): error.description
        }
    }
}
