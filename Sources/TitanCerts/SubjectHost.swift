import Foundation
import SwiftASN1
import X509

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One name a node certificate is valid for: an IP address (an IP SAN, as TLS clients compare the
/// address they dialed) or a DNS name (a DNS SAN).
public enum SubjectHost: Hashable, Sendable, CustomStringConvertible {
    /// 4 bytes (IPv4) or 16 (IPv6), network order.
    case ipAddress([UInt8])
    /// Lowercase, without a trailing dot; may start with `*.`.
    case dnsName(String)

    /// Longest DNS name, in bytes (RFC 1035).
    public static let maxDNSNameLength = 253
    /// Longest label between dots (RFC 1035).
    public static let maxLabelLength = 63

    /// Reads `text`: an IPv4 or IPv6 literal (`[::1]` too) becomes an IP address, anything else
    /// must be a DNS name: letters, digits, hyphens and dots, labels of 1 to 63 bytes that neither
    /// start nor end with a hyphen, at most 253 bytes, optionally starting with `*.` followed by at
    /// least two labels.
    public init(parsing text: String) throws(CertificateError) {
        // inet_pton reads a C string: "10.0.0.1\0evil" must not pass as 10.0.0.1.
        if text.utf8.contains(0) { throw .badHost(text, reason: "contains a NUL byte") }
        if text.hasPrefix("[") && text.hasSuffix("]") && text.count > 2 {
            guard let bytes = Self.ipBytes(String(text.dropFirst().dropLast())), bytes.count == 16 else {
                throw .badHost(text, reason: "is in brackets but is not an IPv6 address")
            }
            self = .ipAddress(bytes)
            return
        }
        if let bytes = Self.ipBytes(text) {
            self = .ipAddress(bytes)
            return
        }
        self = .dnsName(try Self.checkedDNSName(text))
    }

    public var description: String {
        switch self {
        case .dnsName(let name):
            return name
        case .ipAddress(let bytes):
            var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
            let family = bytes.count == 4 ? AF_INET : AF_INET6
            let ok = bytes.withUnsafeBytes { raw in
                inet_ntop(family, raw.baseAddress, &buffer, socklen_t(buffer.count)) != nil
            }
            return ok ? String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "?"
        }
    }

    /// This host as a SubjectAlternativeName entry.
    var generalName: GeneralName {
        switch self {
        case .ipAddress(let bytes): return .ipAddress(ASN1OctetString(contentBytes: bytes[...]))
        case .dnsName(let name): return .dnsName(name)
        }
    }

    /// The address bytes when `text` is an IPv4 (dotted quad) or IPv6 literal.
    static func ipBytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        return nil
    }

    static func checkedDNSName(_ text: String) throws(CertificateError) -> String {
        if text.isEmpty { throw .badHost(text, reason: "is empty") }
        let bytes = Array(text.utf8)
        if bytes.count > maxDNSNameLength {
            throw .badHost(text, reason: "is longer than \(maxDNSNameLength) bytes")
        }
        var rest = text.lowercased()
        var wildcard = false
        if rest.hasPrefix("*.") {
            wildcard = true
            rest.removeFirst(2)
        }
        if rest.hasSuffix(".") {
            throw .badHost(text, reason: "ends with a dot: name it without")
        }
        let labels = rest.split(separator: ".", omittingEmptySubsequences: false)
        for label in labels {
            if label.isEmpty { throw .badHost(text, reason: "has an empty label (two dots in a row, or a leading dot)") }
            if label.utf8.count > maxLabelLength {
                throw .badHost(text, reason: "has a label longer than \(maxLabelLength) bytes")
            }
            for byte in label.utf8 where !isLabelByte(byte) {
                let shown = byte >= 0x20 && byte < 0x7F ? "'\(Character(Unicode.Scalar(byte)))'" : "byte 0x\(String(byte, radix: 16))"
                let hint = byte == UInt8(ascii: "*") ? " (a wildcard is allowed only as a leading '*.')" : ""
                throw .badHost(text, reason: "contains \(shown): a DNS name has only letters, digits, hyphens and dots\(hint)")
            }
            if label.hasPrefix("-") || label.hasSuffix("-") {
                throw .badHost(text, reason: "has a label that starts or ends with a hyphen")
            }
        }
        if wildcard && labels.count < 2 {
            throw .badHost(text, reason: "is a wildcard over a single label: name at least two after '*.'")
        }
        // All digits in the last label: a mistyped IP address (e.g. 10.0.0.256), not a name.
        if let last = labels.last, last.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) {
            throw .badHost(text, reason: "is neither a valid IP address nor a DNS name")
        }
        return (wildcard ? "*." : "") + rest
    }

    private static func isLabelByte(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
            || byte == UInt8(ascii: "-")
    }
}
