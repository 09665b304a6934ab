import Glibc

/// Wall-clock time as UTC text, for names and messages an operator reads.
enum UTCTimestamp {
    /// `2026-01-02T03:04:05Z`, or `20260102T030405Z` with `compact` (for file names).
    static func now(compact: Bool = false) -> String {
        var seconds = time(nil)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        var buffer = [CChar](repeating: 0, count: 32)
        let count = strftime(&buffer, buffer.count, compact ? "%Y%m%dT%H%M%SZ" : "%Y-%m-%dT%H:%M:%SZ", &parts)
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
