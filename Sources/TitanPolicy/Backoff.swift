/// Exponential backoff with a cap and optional full jitter: pure, the random source injected.
public struct Backoff: Sendable, Equatable {
    public var initialMs: UInt64
    public var maxMs: UInt64
    public var multiplier: Double

    public init(initialMs: UInt64 = 100, maxMs: UInt64 = 5_000, multiplier: Double = 2) {
        self.initialMs = initialMs
        self.maxMs = maxMs
        self.multiplier = multiplier
    }

    /// Delay before retry number `attempt` (0-based), without jitter.
    public func delayMs(attempt: Int) -> UInt64 {
        var delay = Double(initialMs)
        for _ in 0..<max(0, min(attempt, 64)) {
            delay *= multiplier
            if delay >= Double(maxMs) { return maxMs }
        }
        return min(maxMs, UInt64(delay))
    }

    /// Delay with jitter in [delay/2, delay]: spreads reconnects of many workers.
    public func jitteredDelayMs(attempt: Int, using rng: inout some RandomNumberGenerator) -> UInt64 {
        let d = delayMs(attempt: attempt)
        return d / 2 + UInt64.random(in: 0...(d - d / 2), using: &rng)
    }
}
