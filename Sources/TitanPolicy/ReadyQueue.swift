import HeapModule

/// Ready jobs, one priority queue per distinct requirement set, so a job nobody can run yet
/// never delays a job somebody can run. Higher priority first; FIFO among equals.
public struct ReadyQueue: Sendable {
    struct Entry: Comparable, Sendable {
        var priority: Int32
        var sequence: UInt64
        var jobId: String

        static func < (a: Entry, b: Entry) -> Bool {
            // Heap is a min-max heap; we pop the max: higher priority, then earlier sequence.
            if a.priority != b.priority { return a.priority < b.priority }
            return a.sequence > b.sequence
        }

        static func == (a: Entry, b: Entry) -> Bool { a.sequence == b.sequence }
    }

    private var queues: [Set<String>: Heap<Entry>] = [:]
    private var sequence: UInt64 = 0
    public private(set) var count = 0

    public init() {}

    public mutating func push(jobId: String, priority: Int32, requirements: Set<String>) {
        sequence += 1
        queues[requirements, default: Heap()].insert(Entry(priority: priority, sequence: sequence, jobId: jobId))
        count += 1
    }

    /// The requirement sets that have waiting jobs.
    public var requirementSets: [Set<String>] { Array(queues.keys) }

    /// How many jobs wait with exactly these requirements.
    public func count(_ requirements: Set<String>) -> Int { queues[requirements]?.count ?? 0 }

    /// The best job waiting with exactly these requirements, without removing it: its id,
    /// priority and submission order.
    public func peek(_ requirements: Set<String>) -> (jobId: String, priority: Int32, sequence: UInt64)? {
        queues[requirements]?.max.map { ($0.jobId, $0.priority, $0.sequence) }
    }

    @discardableResult
    public mutating func pop(_ requirements: Set<String>) -> String? {
        // Mutate in place through the dictionary: a local copy would copy the whole heap.
        guard let top = queues[requirements]?.popMax() else { return nil }
        if queues[requirements]?.isEmpty == true { queues[requirements] = nil }
        count -= 1
        return top.jobId
    }

    /// Removes a job (cancelled while queued). O(n) in its queue; cancels are rare.
    @discardableResult
    public mutating func remove(jobId: String, requirements: Set<String>) -> Bool {
        guard let heap = queues[requirements] else { return false }
        let kept = heap.unordered.filter { $0.jobId != jobId }
        guard kept.count != heap.count else { return false }
        queues[requirements] = kept.isEmpty ? nil : Heap(kept)
        count -= heap.count - kept.count
        return true
    }
}
