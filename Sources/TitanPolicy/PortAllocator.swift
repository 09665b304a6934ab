/// Hands out TCP ports to a worker's services from a configured range. Pure: the caller probes
/// whether a port can really be bound and passes that probe in.
public struct PortAllocator: Sendable, Equatable {
    public let range: ClosedRange<Int>
    /// Ports handed out and not released yet.
    public private(set) var allocated: Set<Int> = []
    private var lastAllocated: Int?

    /// `startingAt`: the first candidate (default the start of the range). Workers sharing a
    /// host start at different places, so two of them rarely probe the same port at once.
    public init(range: ClosedRange<Int> = 20_000...29_999, startingAt first: Int? = nil) {
        precondition(range.lowerBound >= 1 && range.upperBound <= 65_535, "not a TCP port range")
        self.range = range
        if let first, range.contains(first) { lastAllocated = first == range.lowerBound ? nil : first - 1 }
    }

    /// The first usable port after the last one allocated, wrapping at the end of the range: a
    /// just-released port is reused last, so late clients of a stopped service don't reach a new
    /// one. Skips ports allocated here, ports in `inUse` (held by this worker's services), and
    /// ports `isFree` rejects (called only for the remaining candidates). Nil when none is usable.
    public mutating func allocate(excluding inUse: Set<Int> = [], isFree: (Int) -> Bool) -> Int? {
        let count = range.count
        let start = lastAllocated.map { $0 - range.lowerBound + 1 } ?? 0
        for step in 0..<count {
            let port = range.lowerBound + (start + step) % count
            guard !allocated.contains(port), !inUse.contains(port), isFree(port) else { continue }
            allocated.insert(port)
            lastAllocated = port
            return port
        }
        return nil
    }

    /// Makes `port` available again (no effect if it was not allocated).
    public mutating func release(_ port: Int) {
        allocated.remove(port)
    }
}
