import TitanLoop
import TitanProtocol

/// A job's output kept in memory, bounded: past `limitBytes` the oldest chunks are dropped and
/// counted, so a chatty job cannot grow the master without bound.
///
/// Positions (`startPosition`, page cursors) count every byte the buffer was given, dropped ones
/// included, so a cursor stays valid while older output is dropped.
struct LogBuffer {
    private(set) var chunks: [LogChunk] = []
    /// When each chunk arrived (wall ms), for `sinceMs`.
    private var times: [Int64] = []
    private(set) var bytes = 0
    private(set) var droppedBytes = 0
    private var head = 0
    let limitBytes: Int
    /// Given every byte the job printed (it had not run before this process knew it). A job
    /// restored after a restart printed before: its tail here is not all of it.
    private let complete: Bool

    init(limitBytes: Int, complete: Bool = false) {
        self.limitBytes = limitBytes
        self.complete = complete
    }

    mutating func append(_ stream: OutputChannel, _ data: [UInt8], atMs: Int64 = Time.wallMs()) {
        chunks.append(LogChunk(stream: stream, bytes: data))
        times.append(atMs)
        bytes += data.count
        while bytes > limitBytes && head < chunks.count - 1 {
            bytes -= chunks[head].bytes.count
            droppedBytes += chunks[head].bytes.count
            chunks[head] = LogChunk(stream: chunks[head].stream, bytes: [])
            head += 1
        }
        if head > 64 && head * 2 > chunks.count {
            chunks.removeFirst(head)
            times.removeFirst(head)
            head = 0
        }
    }

    /// Forgets everything held (counted as dropped).
    mutating func dropAll() {
        droppedBytes += bytes
        bytes = 0
        chunks = []
        times = []
        head = 0
    }

    /// Whether the job ever produced output (also after `dropAll`).
    var everWritten: Bool { bytes > 0 || droppedBytes > 0 }

    /// Holds every byte the job printed: nothing dropped, nothing printed before this process.
    var holdsAll: Bool { complete && droppedBytes == 0 }

    /// The chunks still held, oldest first.
    var retained: ArraySlice<LogChunk> { chunks[head...] }

    /// Position of the first byte held, and just past the last.
    var startPosition: UInt64 { UInt64(droppedBytes) }
    var endPosition: UInt64 { UInt64(droppedBytes + bytes) }

    /// At most `limit` bytes from `cursor` (0: the beginning; on it, `tailLines` and `sinceMs`
    /// may move the start later). `skipped`: bytes between the start and the page that were dropped.
    func page(from cursor: UInt64, limit: Int, tailLines: UInt32 = 0, sinceMs: Int64 = 0)
        -> (chunks: [LogChunk], next: UInt64, skipped: UInt64) {
        var start = min(cursor, endPosition)
        if cursor == 0 {
            if tailLines > 0 { start = max(start, tailStart(lines: Int(tailLines))) }
            if sinceMs != 0 { start = max(start, sinceStart(sinceMs)) }
        }
        let skipped = start < startPosition ? startPosition - start : 0
        start = max(start, startPosition)
        var out = LogPageBuilder(limit: limit)
        var position = startPosition
        for chunk in retained {
            let end = position + UInt64(chunk.bytes.count)
            defer { position = end }
            guard end > start else { continue }
            let from = Int(start > position ? start - position : 0)
            let taken = out.add(chunk.stream, chunk.bytes[from...])
            start = position + UInt64(from + taken)
            if out.full { break }
        }
        return (out.chunks, start, skipped)
    }

    /// Where the last `lines` lines held begin (a line ends with "\n"; an unfinished last one counts).
    func tailStart(lines: Int) -> UInt64 {
        var newlines = 0
        var position = endPosition
        for chunk in retained.reversed() {
            let base = position - UInt64(chunk.bytes.count)
            for i in chunk.bytes.indices.reversed() where chunk.bytes[i] == 10 {
                let after = base + UInt64(i) + 1
                if after == endPosition { continue }  // the newline that ends the output starts no line
                newlines += 1
                if newlines == lines { return after }
            }
            position = base
        }
        return startPosition
    }

    /// Where output that arrived at or after `ms` begins (the end when none did).
    func sinceStart(_ ms: Int64) -> UInt64 {
        var position = startPosition
        for (i, chunk) in retained.enumerated() {
            if times[head + i] >= ms { return position }
            position += UInt64(chunk.bytes.count)
        }
        return endPosition
    }
}

/// Gathers a page: merges neighbouring bytes of one stream, stops at the byte limit.
struct LogPageBuilder {
    private(set) var chunks: [LogChunk] = []
    private(set) var count = 0
    let limit: Int

    init(limit: Int) {
        self.limit = max(1, limit)
    }

    var full: Bool { count >= limit }

    /// Adds what fits of `bytes`; returns how many were taken.
    @discardableResult
    mutating func add(_ stream: OutputChannel, _ bytes: ArraySlice<UInt8>) -> Int {
        let n = min(bytes.count, limit - count)
        guard n > 0 else { return 0 }
        let part = bytes.prefix(n)
        if let last = chunks.indices.last, chunks[last].stream == stream {
            chunks[last].bytes += part
        } else {
            chunks.append(LogChunk(stream: stream, bytes: Array(part)))
        }
        count += n
        return n
    }
}
