import Glibc

/// The layout of a job's log file and of its index.
///
/// Log file (`NAME.log`): records `type u8, length u32 BE, payload`, appended. Types 1 (stdout)
/// and 2 (stderr) hold output bytes, and were the only ones before time marks. Type 0x80 is a time
/// mark (payload: wall ms, i64 BE): the output after it, up to the next mark, arrived at or after
/// that time and less than a second later. The writer adds one before output when the last is a
/// second old, so at most one per second. Unknown types are skipped by their length.
///
/// Index (`NAME.log.idx`): the 8-byte header `TITANLX\u{1}`, then 32-byte entries `offset u64,
/// markMs i64, newlines u64, outputBytes u64` (big-endian): a record boundary in the log, the
/// time of the mark that opened its second, and the newline and output byte counts before it.
/// One at each mark and every 256 KiB in between, written after the records they point at, so
/// every entry is true of the log; any may be missing (a log older than indexes has none):
/// readers start from the last entry before what they look for and read forward from there.
enum LogFormat {
    static let headerSize = 5
    static let markType: UInt8 = 0x80
    /// Output longer than this is written as several records (so intra-record cursors stay small).
    static let maxWrittenPayload = 1 << 20
    /// A longer record is corrupt: no frame a worker sends can carry it.
    static let maxPayload = (1 << 24) - 1
    static let markEveryMs: Int64 = 1_000
    /// A log stops growing here (1 TiB): a cursor holds a record offset in 40 bits.
    static let maxFileBytes: UInt64 = (1 << 40) - (64 << 20)  // room for the largest append (a frame)
    static let indexMagic: [UInt8] = Array("TITANLX".utf8) + [1]
    static let indexEntrySize = 32
    static let indexEveryBytes = 256 << 10

    static func indexPath(_ logPath: String) -> String { logPath + ".idx" }

    static func header(_ type: UInt8, _ length: Int) -> [UInt8] {
        let n = UInt32(length)
        return [type, UInt8(n >> 24), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)]
    }

    static func mark(_ ms: Int64) -> [UInt8] {
        header(markType, 8) + bigEndian(UInt64(bitPattern: ms))
    }

    static func bigEndian(_ value: UInt64) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * $0)) }
    }

    static func u64(_ bytes: ArraySlice<UInt8>) -> UInt64 {
        bytes.reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// `\n` bytes in `bytes`.
    static func newlines(in bytes: ArraySlice<UInt8>) -> UInt64 {
        bytes.withUnsafeBytes { raw -> UInt64 in
            guard var p = raw.baseAddress else { return 0 }
            var left = raw.count
            var count: UInt64 = 0
            while left > 0, let hit = memchr(p, 10, left) {
                count += 1
                let skip = UnsafeRawPointer(hit) - p + 1
                p += skip
                left -= skip
            }
            return count
        }
    }
}

/// A place in a log file: a record's offset and a byte offset into its payload. As a client's
/// cursor: `record << 24 | intra` (payloads are shorter than 2^24 bytes).
struct LogPosition: Comparable, Sendable {
    var record: UInt64
    var intra: Int

    init(record: UInt64, intra: Int = 0) {
        self.record = record
        self.intra = intra
    }

    init(cursor: UInt64) {
        record = cursor >> 24
        intra = Int(cursor & 0xFF_FFFF)
    }

    var cursor: UInt64 { record << 24 | UInt64(intra) }

    static func < (a: LogPosition, b: LogPosition) -> Bool {
        (a.record, a.intra) < (b.record, b.intra)
    }
}

/// An index entry: counts at a record boundary.
struct LogCheckpoint: Sendable, Equatable {
    var offset: UInt64
    var markMs: Int64
    var newlines: UInt64
    var outputBytes: UInt64

    /// The start of every log.
    static let start = LogCheckpoint(offset: 0, markMs: .min, newlines: 0, outputBytes: 0)

    var encoded: [UInt8] {
        LogFormat.bigEndian(offset) + LogFormat.bigEndian(UInt64(bitPattern: markMs))
            + LogFormat.bigEndian(newlines) + LogFormat.bigEndian(outputBytes)
    }

    init(offset: UInt64, markMs: Int64, newlines: UInt64, outputBytes: UInt64) {
        self.offset = offset
        self.markMs = markMs
        self.newlines = newlines
        self.outputBytes = outputBytes
    }

    init(_ bytes: ArraySlice<UInt8>) {
        let b = bytes.startIndex
        offset = LogFormat.u64(bytes[b..<b + 8])
        markMs = Int64(bitPattern: LogFormat.u64(bytes[b + 8..<b + 16]))
        newlines = LogFormat.u64(bytes[b + 16..<b + 24])
        outputBytes = LogFormat.u64(bytes[b + 24..<b + 32])
    }
}

/// System calls for log files: errors name the path, EINTR is retried, short I/O is looped.
enum LogFileIO {
    static func open(_ path: String, _ flags: Int32) throws(LogStoreError) -> Int32? {
        while true {
            let fd = Glibc.open(path, flags | O_CLOEXEC, 0o644)
            if fd >= 0 { return fd }
            if errno == EINTR { continue }
            if errno == ENOENT && flags & O_CREAT == 0 { return nil }
            throw LogStoreError(path: path, problem: "cannot open: \(String(cString: strerror(errno)))")
        }
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws(LogStoreError) {
        let failed: Int32? = bytes.withUnsafeBytes { raw -> Int32? in
            guard var p = raw.baseAddress else { return nil }
            var left = raw.count
            while left > 0 {
                let n = Glibc.write(fd, p, left)
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                if n == 0 { return EIO }
                p += n
                left -= n
            }
            return nil
        }
        if let failed { throw LogStoreError(path: path, problem: "cannot write: \(String(cString: strerror(failed)))") }
    }

    /// Reads up to `count` bytes at `offset` (fewer at the end of the file).
    static func read(_ fd: Int32, count: Int, at offset: UInt64, path: String) throws(LogStoreError) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: count)
        var failed: Int32?
        let done = buffer.withUnsafeMutableBytes { raw -> Int in
            guard let base = raw.baseAddress else { return 0 }
            var done = 0
            while done < count {
                let n = Glibc.pread(fd, base + done, count - done, off_t(offset) + off_t(done))
                if n < 0 {
                    if errno == EINTR { continue }
                    failed = errno
                    return done
                }
                if n == 0 { break }
                done += n
            }
            return done
        }
        if let failed { throw LogStoreError(path: path, problem: "cannot read: \(String(cString: strerror(failed)))") }
        if done < count { buffer.removeLast(count - done) }
        return buffer
    }

    static func size(_ fd: Int32, path: String) throws(LogStoreError) -> UInt64 {
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw LogStoreError(path: path, problem: "cannot stat: \(String(cString: strerror(errno)))")
        }
        return UInt64(max(0, info.st_size))
    }

    static func truncate(_ fd: Int32, to length: UInt64, path: String) throws(LogStoreError) {
        while ftruncate(fd, off_t(length)) != 0 {
            if errno != EINTR {
                throw LogStoreError(path: path, problem: "cannot truncate: \(String(cString: strerror(errno)))")
            }
        }
    }
}
