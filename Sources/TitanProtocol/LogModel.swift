/// Ask for one page of a job's output (`readLogs`): at most `limit` bytes, from `cursor`.
///
/// Cursors are opaque positions handed out by the master (`LogPage.next`); 0 is the beginning.
/// On the first request (cursor 0) `tailLines` and `sinceMs` may move the start: to where the
/// last `tailLines` lines begin, and to the first output produced at or after `sinceMs` (wall
/// time, ms; the master keeps time to about a second). With both, the later start wins.
public struct LogRead: Sendable, Equatable {
    public var jobId: String
    public var cursor: UInt64
    /// Most output bytes wanted in the page; the master caps it (``LogRead/maxPageBytes``).
    public var limit: UInt32
    /// 0: no tail. Else start where the last `tailLines` lines begin.
    public var tailLines: UInt32
    /// 0: no time filter. Else start at output produced at or after this wall time (ms).
    public var sinceMs: Int64

    public init(jobId: String, cursor: UInt64 = 0, limit: UInt32 = LogRead.maxPageBytes, tailLines: UInt32 = 0,
                sinceMs: Int64 = 0) {
        self.jobId = jobId
        self.cursor = cursor
        self.limit = limit
        self.tailLines = tailLines
        self.sinceMs = sinceMs
    }

    /// The largest page the master sends (a page always fits well inside a frame).
    public static let maxPageBytes: UInt32 = 1 << 20
}

/// One page of a job's output (`logPage`), the reply to ``LogRead``.
public struct LogPage: Sendable, Equatable {
    public var jobId: String
    public var chunks: [LogChunk]
    /// Where the next page starts: pass it back as ``LogRead/cursor``.
    public var next: UInt64
    /// The job has finished and nothing follows `next`: the output is complete.
    public var end: Bool
    /// Output bytes before this page that are lost (dropped from memory, or never saved), when known.
    public var skipped: UInt64

    public init(jobId: String, chunks: [LogChunk], next: UInt64, end: Bool, skipped: UInt64 = 0) {
        self.jobId = jobId
        self.chunks = chunks
        self.next = next
        self.end = end
        self.skipped = skipped
    }

    /// Output bytes in the page.
    public var byteCount: Int { chunks.reduce(0) { $0 + $1.bytes.count } }
}
