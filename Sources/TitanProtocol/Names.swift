/// The one rule for every name a user or a peer gives the cluster: worker ids, the ids of jobs in a
/// DAG, services, schedules and uploaded artifacts.
///
/// Names end up in file names (job output, work directories, the artifact store), in logs and in
/// terminals, so they are short, printable and never a path: 1 to 128 bytes of ASCII letters,
/// digits and `.`, `_`, `-`, `+`, `@`, `=`, starting with a letter, a digit or `_`. That excludes
/// `.`, `..`, `/`, spaces, NUL and every control character.
public enum Names {
    /// Longest name, in bytes.
    public static let maxLength = 128

    /// What is wrong with `name` used as a `kind` (e.g. "worker id", "service name"), or nil.
    public static func problem(_ name: String, kind: String) -> String? {
        if name.isEmpty { return "\(kind) must not be empty" }
        let bytes = name.utf8
        if bytes.count > maxLength {
            return "\(kind) '\(printable(name.prefix(32)))…' is longer than \(maxLength) bytes"
        }
        guard let first = bytes.first, isAlphanumeric(first) || first == UInt8(ascii: "_") else {
            return "\(kind) '\(printable(name))' must start with a letter, a digit or '_'"
        }
        for byte in bytes where !isAllowed(byte) {
            let shown = byte >= 0x20 && byte < 0x7F ? "'\(Character(Unicode.Scalar(byte)))'" : byteDescription(byte)
            return "\(kind) '\(printable(name))' contains \(shown): use only letters, digits and . _ - + @ ="
        }
        return nil
    }

    /// True when `text` holds a control character (a display name may hold anything else).
    public static func hasControlCharacters(_ text: some StringProtocol) -> Bool {
        text.unicodeScalars.contains { $0.value < 0x20 || ($0.value >= 0x7F && $0.value < 0xA0) }
    }

    /// True when `name` follows the rule.
    public static func isValid(_ name: String) -> Bool {
        problem(name, kind: "name") == nil
    }

    /// `text` with control characters and non-ASCII shown as escapes, safe for a message or a log.
    public static func printable(_ text: some StringProtocol) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            if scalar.value >= 0x20 && scalar.value < 0x7F {
                out.unicodeScalars.append(scalar)
            } else {
                out += "\\u{\(String(scalar.value, radix: 16))}"
            }
        }
        return out
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
            || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
    }

    private static func isAllowed(_ byte: UInt8) -> Bool {
        if isAlphanumeric(byte) { return true }
        switch byte {
        case UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "@"), UInt8(ascii: "="):
            return true
        default:
            return false
        }
    }

    private static func byteDescription(_ byte: UInt8) -> String {
        byte == 0 ? "a NUL byte" : byte < 0x20 || byte == 0x7F ? "a control character (0x\(String(byte, radix: 16)))"
            : "a non-ASCII byte (0x\(String(byte, radix: 16)))"
    }
}
