import HeapModule

/// Jobs waiting for a moment in time (a start delay, or the backoff before a retry): a min-heap by
/// due time, FIFO among equal times. Pure: the caller owns the clock and the timer, and skips
/// entries whose job was cancelled or rescheduled meanwhile (lazy deletion).
public struct DelayQueue: Sendable {
    struct Entry: Comparable, Sendable {
        var dueMs: Int64
        var sequence: UInt64
        var jobId: String

        static func < (a: Entry, b: Entry) -> Bool {
            (a.dueMs, a.sequence) < (b.dueMs, b.sequence)
        }

        static func == (a: Entry, b: Entry) -> Bool { a.sequence == b.sequence }
    }

    private var heap = Heap<Entry>()
    private var sequence: UInt64 = 0

    public init() {}

    public var count: Int { heap.count }

    /// When the earliest entry is due, if any.
    public var nextDueMs: Int64? { heap.min?.dueMs }

    public mutating func push(jobId: String, dueMs: Int64) {
        sequence += 1
        heap.insert(Entry(dueMs: dueMs, sequence: sequence, jobId: jobId))
    }

    /// Removes and returns every entry due at or before `nowMs`, earliest first.
    public mutating func popDue(nowMs: Int64) -> [(jobId: String, dueMs: Int64)] {
        var due: [(jobId: String, dueMs: Int64)] = []
        while let first = heap.min, first.dueMs <= nowMs {
            heap.removeMin()
            due.append((first.jobId, first.dueMs))
        }
        return due
    }
}
