import Glibc

/// Every failure TitanStore reports. Each case carries enough context (path, byte offset,
/// record index, key) for an operator to act on the message alone.
public enum StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A system call failed; `errno` is the raw code, `description` adds its text.
    case io(path: String, operation: String, errno: Int32)
    /// The file is not a TitanStore log of a version this code reads.
    case badHeader(path: String, reason: String)
    /// A damaged record is followed by intact data, so it is not a torn tail and cannot be
    /// dropped safely. `offset` is where the damaged record starts; `recordIndex` counts the
    /// intact records before it (zero-based index of the damaged one).
    case corrupt(path: String, offset: Int64, recordIndex: Int, reason: String)
    /// A payload that cannot be framed: empty (indistinguishable from zero fill) or too large.
    case invalidRecord(path: String, size: Int, reason: String)
    /// The log was closed before this request.
    case closed(path: String)
    /// An earlier write or fsync failed, so the log refuses further writes rather than
    /// acknowledge data it may not have recorded.
    indirect case unavailable(path: String, cause: StoreError)
    /// A key holds a value of another type (SADD on a string, GET on a set).
    case wrongType(key: String, expected: String)
    /// INCR on a value that is not a decimal 64-bit integer.
    case notAnInteger(key: String)
    /// INCR would overflow a 64-bit integer.
    case integerOverflow(key: String)
    /// Bytes that do not decode as a `KVMutation`; `offset` is the byte where decoding failed.
    case malformedMutation(offset: Int, reason: String)
    /// Another process holds the data directory's lock. `pid` and `since` are what the holder
    /// wrote into the lock file (nil if it had not written them yet).
    case directoryInUse(directory: String, pid: Int32?, since: String?)

    public var description: String {
        switch self {
        case let .io(path, operation, code):
            return "\(operation) \(path): \(String(cString: strerror(code))) (errno \(code))"
        case let .badHeader(path, reason):
            return "\(path): not a Titan append-only file: \(reason)"
        case let .corrupt(path, offset, index, reason):
            return "\(path): corrupt record #\(index) at byte offset \(offset): \(reason); "
                + "refusing to guess, inspect or restore the file"
        case let .invalidRecord(path, size, reason):
            return "\(path): cannot append a \(size)-byte record: \(reason)"
        case let .closed(path):
            return "\(path): log is closed"
        case let .unavailable(path, cause):
            return "\(path): log stopped accepting writes after an earlier failure: \(cause)"
        case let .wrongType(key, expected):
            return "key '\(key)' holds the wrong kind of value (expected \(expected))"
        case let .notAnInteger(key):
            return "key '\(key)' does not hold a decimal integer"
        case let .integerOverflow(key):
            return "increment of key '\(key)' would overflow"
        case let .malformedMutation(offset, reason):
            return "malformed mutation at byte \(offset): \(reason)"
        case let .directoryInUse(directory, pid, since):
            let holder = pid.map { "pid \($0)" + (since.map { ", started \($0)" } ?? "") } ?? "pid unknown"
            return "data directory '\(directory)' is in use by another master (\(holder))"
        }
    }
}
