import Testing
import TitanPolicy

@Suite("FailureDetector (injected clock)")
struct FailureDetectorTests {
    typealias T = FailureDetector.Transition

    @Test("alive → suspect → dead exactly at the thresholds; the dead worker is removed")
    func transitionsAtThresholds() {
        var fd = FailureDetector(suspectAfterMs: 3_000, deadAfterMs: 5_000)
        #expect(fd.heard("w1", atMs: 1_000) == nil)
        #expect(fd.health(of: "w1") == .alive)

        #expect(fd.evaluate(nowMs: 1_000).isEmpty)
        #expect(fd.evaluate(nowMs: 3_999).isEmpty)
        #expect(fd.health(of: "w1") == .alive)

        #expect(fd.evaluate(nowMs: 4_000) == [T(worker: "w1", health: .suspect)])
        #expect(fd.health(of: "w1") == .suspect)
        // Reported once, not on every evaluation.
        #expect(fd.evaluate(nowMs: 4_500).isEmpty)
        #expect(fd.evaluate(nowMs: 5_999).isEmpty)
        #expect(fd.health(of: "w1") == .suspect)

        #expect(fd.evaluate(nowMs: 6_000) == [T(worker: "w1", health: .dead)])
        #expect(fd.health(of: "w1") == nil)
        // Gone: never reported again.
        #expect(fd.evaluate(nowMs: 60_000).isEmpty)
    }

    @Test("heard() brings a suspect back and reports it alive; the clock restarts")
    func suspectRecovers() {
        var fd = FailureDetector(suspectAfterMs: 100, deadAfterMs: 300)
        fd.heard("w", atMs: 0)
        #expect(fd.evaluate(nowMs: 150) == [T(worker: "w", health: .suspect)])
        #expect(fd.heard("w", atMs: 200) == T(worker: "w", health: .alive))
        #expect(fd.health(of: "w") == .alive)
        // Measured from the new sign of life: 299 is only 99 ms of silence.
        #expect(fd.evaluate(nowMs: 299).isEmpty)
        #expect(fd.evaluate(nowMs: 300) == [T(worker: "w", health: .suspect)])
        #expect(fd.evaluate(nowMs: 499).isEmpty)
        #expect(fd.evaluate(nowMs: 500) == [T(worker: "w", health: .dead)])
    }

    @Test("heard() on an alive or unknown worker reports no transition")
    func heardWithoutTransition() {
        var fd = FailureDetector()
        #expect(fd.heard("new", atMs: 0) == nil)
        #expect(fd.heard("new", atMs: 10) == nil)
        #expect(fd.health(of: "new") == .alive)
        #expect(fd.health(of: "never-heard") == nil)
    }

    @Test("a long silence goes straight to dead, without a separate suspect step")
    func straightToDead() {
        var fd = FailureDetector(suspectAfterMs: 100, deadAfterMs: 200)
        fd.heard("w", atMs: 0)
        #expect(fd.evaluate(nowMs: 10_000) == [T(worker: "w", health: .dead)])
        #expect(fd.health(of: "w") == nil)
    }

    @Test("equal thresholds: dead wins")
    func equalThresholds() {
        var fd = FailureDetector(suspectAfterMs: 100, deadAfterMs: 100)
        fd.heard("w", atMs: 0)
        #expect(fd.evaluate(nowMs: 99).isEmpty)
        #expect(fd.evaluate(nowMs: 100) == [T(worker: "w", health: .dead)])
    }

    @Test("a dead worker that comes back starts over as alive")
    func deadThenBack() {
        var fd = FailureDetector(suspectAfterMs: 10, deadAfterMs: 20)
        fd.heard("w", atMs: 0)
        #expect(fd.evaluate(nowMs: 20) == [T(worker: "w", health: .dead)])
        #expect(fd.heard("w", atMs: 25) == nil)
        #expect(fd.health(of: "w") == .alive)
        #expect(fd.evaluate(nowMs: 34).isEmpty)
        #expect(fd.evaluate(nowMs: 35) == [T(worker: "w", health: .suspect)])
    }

    @Test("remove() forgets a worker: no later transitions")
    func remove() {
        var fd = FailureDetector(suspectAfterMs: 10, deadAfterMs: 20)
        fd.heard("a", atMs: 0)
        fd.heard("b", atMs: 0)
        fd.remove("a")
        #expect(fd.health(of: "a") == nil)
        #expect(fd.evaluate(nowMs: 10) == [T(worker: "b", health: .suspect)])
        fd.remove("b")
        #expect(fd.evaluate(nowMs: 1_000).isEmpty)
        fd.remove("never-known") // harmless
    }

    @Test("several workers: each on its own clock, transitions sorted by worker id")
    func severalWorkers() {
        var fd = FailureDetector(suspectAfterMs: 100, deadAfterMs: 200)
        for (i, id) in ["w3", "w1", "w2", "w0"].enumerated() { fd.heard(id, atMs: Int64(i) * 10) }
        // Silences at 130: w3 130, w1 120, w2 110, w0 100.
        #expect(fd.evaluate(nowMs: 130) == [
            T(worker: "w0", health: .suspect), T(worker: "w1", health: .suspect),
            T(worker: "w2", health: .suspect), T(worker: "w3", health: .suspect),
        ])
        fd.heard("w1", atMs: 140)
        // Heard at w3 0, w1 10 → 140, w2 20, w0 30. At 225: w3 dead (225 silent), w2 dead (205),
        // w0 still suspect (195), w1 alive (85).
        #expect(fd.evaluate(nowMs: 225) == [T(worker: "w2", health: .dead), T(worker: "w3", health: .dead)])
        #expect(fd.health(of: "w0") == .suspect)
        #expect(fd.health(of: "w1") == .alive)
        #expect(fd.health(of: "w2") == nil)
        #expect(fd.health(of: "w3") == nil)
    }

    @Test("defaults: suspect after 3 s, dead after 5 s")
    func defaults() {
        let fd = FailureDetector()
        #expect(fd.suspectAfterMs == 3_000)
        #expect(fd.deadAfterMs == 5_000)
    }
}
