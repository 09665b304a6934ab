import Crypto
import Foundation

/// A credential: an id the master knows it by and a secret only its holder has. Written as
/// `titan.ID.SECRET` (SECRET: 64 hex digits, 256 random bits), so it can sit in an environment
/// variable or a file. The secret never crosses the wire: see ``AuthExchange``.
public struct AuthToken: Sendable, Equatable, CustomStringConvertible {
    public var id: String
    public var secret: [UInt8]

    public init(id: String, secret: [UInt8]) {
        self.id = id
        self.secret = secret
    }

    /// A new token with a random secret.
    public static func generate(id: String) -> AuthToken {
        var rng = SystemRandomNumberGenerator()
        return AuthToken(id: id, secret: (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) })
    }

    /// A random token id: 12 hex digits.
    public static func newId() -> String {
        hex((0..<6).map { _ in UInt8.random(in: 0...255) })
    }

    /// Parses `titan.ID.SECRET` (surrounding whitespace ignored).
    public init(parsing text: String) throws(AuthError) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard trimmed.hasPrefix("titan."), let lastDot = trimmed.lastIndex(of: "."),
              lastDot > trimmed.index(trimmed.startIndex, offsetBy: 5) else {
            throw AuthError.malformedToken("expected titan.ID.SECRET")
        }
        let id = String(trimmed[trimmed.index(trimmed.startIndex, offsetBy: 6)..<lastDot])
        let hex = Array(trimmed[trimmed.index(after: lastDot)...].utf8)
        guard !id.isEmpty, hex.count == 64, let secret = Self.decodeHex(hex) else {
            throw AuthError.malformedToken("expected titan.ID.SECRET with a secret of 64 hex digits")
        }
        self.id = id
        self.secret = secret
    }

    /// The text form, `titan.ID.SECRET`.
    public var text: String { "titan.\(id)." + Self.hex(secret) }

    /// Lower-case hex digits of `bytes` (made once per dispatch for a job's token: no Foundation
    /// formatting on that path).
    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        return String(unsafeUninitializedCapacity: bytes.count * 2) { buffer in
            for (i, byte) in bytes.enumerated() {
                buffer[2 * i] = digits[Int(byte >> 4)]
                buffer[2 * i + 1] = digits[Int(byte & 0x0F)]
            }
            return bytes.count * 2
        }
    }

    /// Never the secret: safe to log.
    public var description: String { "token \(id)" }

    /// The bytes written as hex digits (either case), or nil if `digits` are not an even number
    /// of hex digits.
    public static func decodeHex(_ digits: [UInt8]) -> [UInt8]? {
        guard digits.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(digits.count / 2)
        var i = 0
        while i < digits.count {
            guard let hi = nibble(digits[i]), let lo = nibble(digits[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// Why authentication failed.
public enum AuthError: Error, Sendable, Equatable, CustomStringConvertible {
    case malformedToken(String)
    case unreadable(path: String, problem: String)
    /// The master does not know the token, or it is revoked or expired.
    case refused(String)
    /// The master's proof of knowing the token is wrong: not the master that issued it.
    case masterNotAuthentic

    public var description: String {
        switch self {
        case .malformedToken(let problem): "malformed token: \(problem)"
        case .unreadable(let path, let problem): "cannot read the token file '\(path)': \(problem)"
        case .refused(let reason): "authentication refused: \(reason)"
        case .masterNotAuthentic: "the master could not prove it knows this token: it is not the master that issued it"
        }
    }
}
