import Testing
import TitanPolicy
import TitanTestSupport

@Suite("DelayQueue")
struct DelayQueueTests {
    @Test("pops what is due, earliest first, FIFO among equal times")
    func order() {
        var q = DelayQueue()
        q.push(jobId: "c", dueMs: 300)
        q.push(jobId: "a", dueMs: 100)
        q.push(jobId: "b1", dueMs: 200)
        q.push(jobId: "b2", dueMs: 200)
        #expect(q.nextDueMs == 100)
        #expect(q.popDue(nowMs: 99).isEmpty)
        #expect(q.popDue(nowMs: 200).map(\.jobId) == ["a", "b1", "b2"])
        #expect(q.nextDueMs == 300)
        #expect(q.count == 1)
        #expect(q.popDue(nowMs: 10_000).map(\.jobId) == ["c"])
        #expect(q.nextDueMs == nil)
        #expect(q.count == 0)
    }

    @Test("randomized against sorting")
    func randomized() {
        var rng = SplitMix64(seed: 7)
        var q = DelayQueue()
        var model: [(due: Int64, seq: Int, id: String)] = []
        for i in 0..<2_000 {
            let due = Int64.random(in: 0...500, using: &rng)
            q.push(jobId: "j\(i)", dueMs: due)
            model.append((due, i, "j\(i)"))
        }
        var now: Int64 = 0
        while q.count > 0 {
            now += Int64.random(in: 0...40, using: &rng)
            let popped = q.popDue(nowMs: now).map(\.jobId)
            let expected = model.filter { $0.due <= now }.sorted { ($0.due, $0.seq) < ($1.due, $1.seq) }.map(\.id)
            model.removeAll { $0.due <= now }
            #expect(popped == expected)
        }
    }
}
