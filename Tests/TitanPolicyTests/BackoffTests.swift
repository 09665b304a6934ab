import TitanTestSupport
import Testing
import TitanPolicy

@Suite("Backoff")
struct BackoffTests {
    @Test("doubles from the initial delay up to the cap (defaults 100 ms → 5 s)")
    func defaultGrowth() {
        let b = Backoff()
        #expect((0..<8).map { b.delayMs(attempt: $0) } == [100, 200, 400, 800, 1_600, 3_200, 5_000, 5_000])
    }

    @Test("custom multiplier and cap")
    func customGrowth() {
        let b = Backoff(initialMs: 10, maxMs: 1_000, multiplier: 3)
        #expect((0..<7).map { b.delayMs(attempt: $0) } == [10, 30, 90, 270, 810, 1_000, 1_000])
        let gentle = Backoff(initialMs: 1_000, maxMs: 10_000, multiplier: 1.5)
        #expect((0..<4).map { gentle.delayMs(attempt: $0) } == [1_000, 1_500, 2_250, 3_375])
    }

    @Test("capped for huge attempt numbers, without overflow")
    func capForHugeAttempts() {
        let cap: UInt64 = .max / 2
        let b = Backoff(initialMs: 1, maxMs: cap, multiplier: 10)
        #expect(b.delayMs(attempt: 1_000) == cap)
        #expect(b.delayMs(attempt: .max) == cap)
        #expect(Backoff().delayMs(attempt: .max) == 5_000)
    }

    @Test("never above the cap, even when the initial delay is")
    func initialAboveCap() {
        let b = Backoff(initialMs: 10_000, maxMs: 500)
        #expect(b.delayMs(attempt: 0) == 500)
        #expect(b.delayMs(attempt: 3) == 500)
    }

    @Test("multiplier 1 is a constant delay; initial 0 stays 0")
    func degenerate() {
        let constant = Backoff(initialMs: 250, maxMs: 5_000, multiplier: 1)
        #expect((0..<10).allSatisfy { constant.delayMs(attempt: $0) == 250 })
        let zero = Backoff(initialMs: 0, maxMs: 5_000)
        #expect(zero.delayMs(attempt: 5) == 0)
        var rng = SplitMix64(seed: 1)
        #expect(zero.jitteredDelayMs(attempt: 5, using: &rng) == 0)
    }

    @Test("delays never decrease with the attempt number", arguments: [1.1, 1.5, 2, 3, 10] as [Double])
    func monotonic(multiplier: Double) {
        let b = Backoff(initialMs: 7, maxMs: 60_000, multiplier: multiplier)
        let delays = (0..<80).map { b.delayMs(attempt: $0) }
        #expect(zip(delays, delays.dropFirst()).allSatisfy { $0 <= $1 })
        #expect(delays.allSatisfy { $0 >= 7 && $0 <= 60_000 })
        if multiplier >= 1.5 { #expect(delays.last == 60_000) }
    }

    @Test("jitter stays within [delay/2, delay] and actually spreads", arguments: [3, 17, 12345] as [UInt64])
    func jitterBounds(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        let b = Backoff(initialMs: 1, maxMs: 5_000, multiplier: 2)
        for attempt in 0..<16 {
            let d = b.delayMs(attempt: attempt)
            var seen = Set<UInt64>()
            for _ in 0..<300 {
                let j = b.jitteredDelayMs(attempt: attempt, using: &rng)
                #expect(j >= d / 2 && j <= d, "attempt \(attempt): \(j) outside [\(d / 2), \(d)]")
                seen.insert(j)
            }
            // Both ends of a small range are reachable; a wide range gets many distinct values.
            if d <= 8 {
                #expect(seen.contains(d / 2) && seen.contains(d), "attempt \(attempt): \(seen.sorted())")
            } else {
                let width = Int(d - d / 2 + 1)
                #expect(seen.count >= min(width, 50) / 2, "attempt \(attempt): only \(seen.count) distinct delays")
            }
        }
    }

    @Test("jitter is a pure function of the random source")
    func jitterDeterministic() {
        let b = Backoff()
        var r1 = SplitMix64(seed: 77)
        var r2 = SplitMix64(seed: 77)
        let a = (0..<50).map { b.jitteredDelayMs(attempt: $0 % 8, using: &r1) }
        let c = (0..<50).map { b.jitteredDelayMs(attempt: $0 % 8, using: &r2) }
        #expect(a == c)
    }
}
