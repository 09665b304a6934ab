import Glibc
import TitanProtocol

/// Reads one job's log file (see ``LogFormat``) a page at a time: positions are found through
/// the index, then only the records from there are read. Never holds the whole file.
final class LogFileReader {
    struct Record {
        var offset: UInt64
        var type: UInt8
        var length: Int
        var payload: UInt64 { offset + UInt64(LogFormat.headerSize) }
        var end: UInt64 { payload + UInt64(length) }
        var stream: OutputChannel? { OutputChannel(rawValue: type) }
    }

    /// The log's totals, from its last index entry on.
    struct Totals {
        /// Just past the last whole record (a torn record after it is not counted).
        var end: UInt64
        var newlines: UInt64
        var outputBytes: UInt64
        /// The last output byte is `\n` (or there is none).
        var endsWithNewline: Bool
        var lastMarkMs: Int64?
    }

    let path: String
    private let fd: Int32
    let size: UInt64
    private var indexFd: Int32 = -1
    /// Entries in the index that point inside the log.
    private(set) var entryCount = 0
    private var window: [UInt8] = []
    private var windowStart: UInt64 = 0
    private static let windowSize = 128 << 10

    /// Nil when the job has no log file.
    init?(path: String) throws(LogStoreError) {
        guard let fd = try LogFileIO.open(path, O_RDONLY) else { return nil }
        self.path = path
        self.fd = fd
        do {
            size = try LogFileIO.size(fd, path: path)
        } catch {
            Glibc.close(fd)
            throw error
        }
        openIndex()
    }

    deinit {
        Glibc.close(fd)
        if indexFd >= 0 { Glibc.close(indexFd) }
    }

    /// A missing or unreadable index is no error: the log is read from its start instead.
    private func openIndex() {
        let indexPath = LogFormat.indexPath(path)
        guard let ifd = try? LogFileIO.open(indexPath, O_RDONLY) else { return }
        guard let header = try? LogFileIO.read(ifd, count: LogFormat.indexMagic.count, at: 0, path: indexPath),
              header == LogFormat.indexMagic, let bytes = try? LogFileIO.size(ifd, path: indexPath) else {
            Glibc.close(ifd)
            return
        }
        indexFd = ifd
        var count = Int((bytes - UInt64(LogFormat.indexMagic.count)) / UInt64(LogFormat.indexEntrySize))
        // Entries only ever point at records already written; one past the log's end is not trusted.
        while count > 0, (entry(count - 1)?.offset ?? .max) > size { count -= 1 }
        entryCount = count
    }

    func entry(_ i: Int) -> LogCheckpoint? {
        guard indexFd >= 0 else { return nil }
        let at = UInt64(LogFormat.indexMagic.count + i * LogFormat.indexEntrySize)
        guard let bytes = try? LogFileIO.read(indexFd, count: LogFormat.indexEntrySize, at: at, path: path),
              bytes.count == LogFormat.indexEntrySize else { return nil }
        return LogCheckpoint(bytes[...])
    }

    /// The last entry for which `before` holds (entries are in log order, `before` true then
    /// false), or the start of the log.
    func lastCheckpoint(where before: (LogCheckpoint) -> Bool) -> (index: Int, checkpoint: LogCheckpoint) {
        var low = 0, high = entryCount  // answer in [low - 1, high)
        while low < high {
            let mid = (low + high) / 2
            if let e = entry(mid), before(e) { low = mid + 1 } else { high = mid }
        }
        guard low > 0, let e = entry(low - 1) else { return (-1, .start) }
        return (low - 1, e)
    }

    // MARK: bytes and records

    private func bytes(at offset: UInt64, count: Int) throws(LogStoreError) -> ArraySlice<UInt8> {
        if offset >= windowStart, offset + UInt64(count) <= windowStart + UInt64(window.count) {
            let from = Int(offset - windowStart)
            return window[from..<from + count]
        }
        if count > Self.windowSize / 2 {
            return try LogFileIO.read(fd, count: count, at: offset, path: path)[...]
        }
        window = try LogFileIO.read(fd, count: Self.windowSize, at: offset, path: path)
        windowStart = offset
        return window.prefix(count)
    }

    /// The whole record at `offset`, or nil at the end (or a torn or corrupt record: nothing
    /// after it can be framed).
    func record(at offset: UInt64) throws(LogStoreError) -> Record? {
        guard offset + UInt64(LogFormat.headerSize) <= size else { return nil }
        let header = try bytes(at: offset, count: LogFormat.headerSize)
        guard header.count == LogFormat.headerSize else { return nil }
        let h = header.startIndex
        let length = Int(LogFormat.u64(header[h + 1..<h + 5]))
        let record = Record(offset: offset, type: header[h], length: length)
        guard length <= LogFormat.maxPayload, record.end <= size,
              record.type != LogFormat.markType || length == 8 else { return nil }
        return record
    }

    func payload(_ record: Record, from: Int = 0, count: Int? = nil) throws(LogStoreError) -> ArraySlice<UInt8> {
        let n = count ?? record.length - from
        return try bytes(at: record.payload + UInt64(from), count: n)
    }

    func markMs(_ record: Record) throws(LogStoreError) -> Int64 {
        Int64(bitPattern: LogFormat.u64(try payload(record)))
    }

    // MARK: positions

    /// Counts from the last index entry to the end of the log.
    func totals() throws(LogStoreError) -> Totals {
        var index = entryCount - 1
        while true {
            let checkpoint = index >= 0 ? (entry(index) ?? .start) : .start
            var totals = Totals(end: checkpoint.offset, newlines: checkpoint.newlines, outputBytes: checkpoint.outputBytes,
                                endsWithNewline: true, lastMarkMs: checkpoint.markMs == .min ? nil : checkpoint.markMs)
            var sawOutput = false
            while let record = try record(at: totals.end) {
                if record.stream != nil, record.length > 0 {
                    let bytes = try payload(record)
                    totals.newlines += LogFormat.newlines(in: bytes)
                    totals.outputBytes += UInt64(record.length)
                    totals.endsWithNewline = bytes.last == 10
                    sawOutput = true
                } else if record.type == LogFormat.markType {
                    totals.lastMarkMs = try markMs(record)
                }
                totals.end = record.end
            }
            // Whether the output ends with a newline is in an earlier record: look from the entry before.
            if sawOutput || index < 0 || checkpoint.outputBytes == 0 { return totals }
            index -= 1
        }
    }

    /// Where the last `lines` lines begin (a line ends with `\n`; an unfinished last one counts).
    func tailStart(lines: UInt32, totals: Totals) throws(LogStoreError) -> LogPosition {
        let all = totals.newlines + (totals.endsWithNewline ? 0 : 1)
        guard all > UInt64(lines) else { return LogPosition(record: 0) }
        return try position(afterNewline: all - UInt64(lines))
    }

    /// Just after the `k`th newline (k ≥ 1) of the output.
    func position(afterNewline k: UInt64) throws(LogStoreError) -> LogPosition {
        let checkpoint = lastCheckpoint { $0.newlines < k }.checkpoint
        var seen = checkpoint.newlines
        var offset = checkpoint.offset
        while let record = try record(at: offset) {
            if record.stream != nil {
                let bytes = try payload(record)
                let here = LogFormat.newlines(in: bytes)
                if seen + here >= k {
                    var i = bytes.startIndex
                    while true {
                        if bytes[i] == 10 {
                            seen += 1
                            if seen == k { break }
                        }
                        i += 1
                    }
                    let intra = i - bytes.startIndex + 1
                    return intra == record.length ? LogPosition(record: record.end) : LogPosition(record: offset, intra: intra)
                }
                seen += here
            }
            offset = record.end
        }
        return LogPosition(record: offset)
    }

    /// Where output byte `b` (counted from 0) is.
    func position(ofOutputByte b: UInt64) throws(LogStoreError) -> LogPosition {
        let checkpoint = lastCheckpoint { $0.outputBytes <= b }.checkpoint
        var before = checkpoint.outputBytes
        var offset = checkpoint.offset
        while let record = try record(at: offset) {
            if record.stream != nil {
                if b < before + UInt64(record.length) { return LogPosition(record: offset, intra: Int(b - before)) }
                before += UInt64(record.length)
            }
            offset = record.end
        }
        return LogPosition(record: offset)
    }

    /// Where the output that arrived at or after `ms` begins: at the first mark of a second that
    /// ends after `ms` (so up to a second of earlier output is included, none later is lost); the
    /// end when there is none. A log without marks (written before they existed) has no times:
    /// all of it.
    func sinceStart(_ ms: Int64) throws(LogStoreError) -> LogPosition {
        let threshold = ms == .min ? ms : ms - LogFormat.markEveryMs
        let found = lastCheckpoint { $0.markMs <= threshold }
        if found.index + 1 < entryCount, let e = entry(found.index + 1) { return LogPosition(record: e.offset) }
        // Past the last entry (or no index): look at the marks themselves.
        var offset = found.checkpoint.offset
        var sawMark = found.index >= 0
        while let record = try record(at: offset) {
            if record.type == LogFormat.markType {
                sawMark = true
                if try markMs(record) > threshold { return LogPosition(record: offset) }
            }
            offset = record.end
        }
        return sawMark ? LogPosition(record: offset) : LogPosition(record: 0)
    }

    /// Whether `position` is one this log hands out: on a record boundary, inside that record.
    func isValid(_ position: LogPosition) throws(LogStoreError) -> Bool {
        var offset = lastCheckpoint { $0.offset <= position.record }.checkpoint.offset
        while offset < position.record, let record = try record(at: offset) { offset = record.end }
        guard offset == position.record else { return false }
        guard let record = try record(at: offset) else { return position.intra == 0 }
        return record.stream != nil ? position.intra <= record.length : position.intra == 0
    }

    // MARK: pages

    /// At most `limit` output bytes from `start`, stopping before any record at or after `stopAt`.
    func page(from start: LogPosition, limit: Int, stopAt: UInt64 = .max)
        throws(LogStoreError) -> (chunks: [LogChunk], next: LogPosition, atEnd: Bool) {
        var out = LogPageBuilder(limit: limit)
        var position = start
        while !out.full, position.record < stopAt, let record = try record(at: position.record) {
            if let stream = record.stream, position.intra < record.length {
                let want = min(record.length - position.intra, limit - out.count)
                out.add(stream, try payload(record, from: position.intra, count: want))
                position.intra += want
                if position.intra < record.length { break }
            }
            position = LogPosition(record: record.end)
        }
        var atEnd = position.intra == 0 && position.record >= stopAt
        if position.intra == 0 && !atEnd { atEnd = try record(at: position.record) == nil }
        return (out.chunks, position, atEnd)
    }
}
