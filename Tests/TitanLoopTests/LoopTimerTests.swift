import Testing
import TitanLoop

@Suite("LoopTimer")
struct LoopTimerTests {
    /// A one-shot timer whose firing proves that the loop has been past `ms` for a while.
    private func sentinel(_ loop: EventLoop, afterMs ms: UInt64) async throws -> (LoopTimer, Inbox<Void>) {
        let fired = Inbox<Void>()
        let timer = try await onLoop(loop) { LoopTimer(loop: loop) }
        await timer.start(afterMs: ms) { fired.send(()) }
        return (timer, fired)
    }

    @Test("fires once, on the loop thread, not before its timeout")
    func firesOnce() async throws {
        let loop = EventLoop()
        let fires = Locked<[Int64]>([])
        let fired = Inbox<Bool>()
        let timer = try await onLoop(loop) { LoopTimer(loop: loop) }
        let started = Time.monotonicMs()
        await timer.start(afterMs: 20) {
            fires.withLock { $0.append(Time.monotonicMs()) }
            fired.send(loop.inLoopThread)
        }
        #expect(try await fired.next("the timer to fire"))
        let first = try #require(fires.value.first)
        // Not early. libuv's clock is a millisecond clock (possibly CLOCK_MONOTONIC_COARSE), cached
        // per loop iteration: allow a few ms of rounding. No upper bound: timings are not asserted.
        #expect(first - started >= 15)

        // A later timer firing shows the first one had its chance to fire again and did not.
        let (check, checked) = try await sentinel(loop, afterMs: 40)
        try await checked.next("the sentinel timer")
        #expect(fires.value.count == 1)
        await timer.close()
        await check.close()
        try await expectCleanShutdown(loop)
    }

    @Test("repeats until stopped")
    func repeats() async throws {
        let loop = EventLoop()
        let count = Locked(0)
        let ticks = Inbox<Int>()
        let timer = try await onLoop(loop) { LoopTimer(loop: loop) }
        await timer.start(afterMs: 1, repeatMs: 2) {
            ticks.send(count.withLock { $0 += 1; return $0 })
        }
        for expected in 1...5 {
            #expect(try await ticks.next("tick \(expected)") == expected)
        }
        await timer.stop()
        let stoppedAt = count.value
        let (check, checked) = try await sentinel(loop, afterMs: 30)
        try await checked.next("the sentinel timer")
        #expect(count.value == stoppedAt, "the timer fired after stop()")
        await timer.close()
        await check.close()
        try await expectCleanShutdown(loop)
    }

    @Test("stop before the timeout: it never fires")
    func stopBeforeFiring() async throws {
        let loop = EventLoop()
        let fired = Locked(false)
        let timer = try await onLoop(loop) { LoopTimer(loop: loop) }
        // Start and stop in one loop turn, so a slow machine cannot let it fire in between.
        try await onLoop(loop) {
            timer.assumeIsolated { t in
                t.start(afterMs: 5) { fired.withLock { $0 = true } }
                t.stop()
            }
        }
        let (check, checked) = try await sentinel(loop, afterMs: 30)
        try await checked.next("the sentinel timer")
        #expect(!fired.value)
        await timer.close()
        await check.close()
        try await expectCleanShutdown(loop)
    }

    @Test("a stopped timer can be started again")
    func restartAfterStop() async throws {
        let loop = EventLoop()
        let fired = Inbox<Void>()
        let timer = try await onLoop(loop) { LoopTimer(loop: loop) }
        await timer.start(afterMs: 1_000) { fired.send(()) }
        await timer.stop()
        await timer.start(afterMs: 1) { fired.send(()) }
        try await fired.next("the restarted timer")
        await timer.close()
        try await expectCleanShutdown(loop)
    }

    @Test("start replaces the earlier schedule and body")
    func startReplaces() async throws {
        let loop = EventLoop()
        let which = Inbox<String>()
        let timer = try await onLoop(loop) { LoopTimer(loop: loop) }
        // Both in one loop turn: the first schedule cannot fire before it is replaced, however
        // slow the machine.
        try await onLoop(loop) {
            timer.assumeIsolated { t in
                t.start(afterMs: 10) { which.send("first") }
                t.start(afterMs: 1) { which.send("second") }
            }
        }
        #expect(try await which.next("the timer") == "second")
        let (check, checked) = try await sentinel(loop, afterMs: 30)
        try await checked.next("the sentinel timer")
        await timer.close()
        await check.close()
        try await expectCleanShutdown(loop)
        // Anything else that arrived was the replaced body.
        which.send("end")
        #expect(try await which.next("end marker") == "end")
    }

    @Test("close: a pending timer never fires, further calls are no-ops, the handle is freed")
    func close() async throws {
        let loop = EventLoop()
        let fired = Locked(false)
        let timer = try await onLoop(loop) { LoopTimer(loop: loop) }
        try await onLoop(loop) {
            timer.assumeIsolated { t in
                t.start(afterMs: 5) { fired.withLock { $0 = true } }
                t.close()
            }
        }
        await timer.close()
        await timer.start(afterMs: 1) { fired.withLock { $0 = true } }
        await timer.stop()
        let (check, checked) = try await sentinel(loop, afterMs: 30)
        try await checked.next("the sentinel timer")
        #expect(!fired.value)
        await check.close()
        #expect(try await onLoop(loop) { loop.openHandleCount() } == 0)
        try await expectCleanShutdown(loop)
    }
}
