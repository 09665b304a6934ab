import TitanTestSupport
import Testing
import TitanPolicy

@Suite("ReadyQueue")
struct ReadyQueueTests {
    @Test("higher priority first")
    func priorityOrder() {
        var q = ReadyQueue()
        q.push(jobId: "low", priority: 1, requirements: [])
        q.push(jobId: "high", priority: 5, requirements: [])
        q.push(jobId: "mid", priority: 3, requirements: [])
        q.push(jobId: "negative", priority: -7, requirements: [])
        q.push(jobId: "max", priority: .max, requirements: [])
        q.push(jobId: "min", priority: .min, requirements: [])
        #expect(drain(&q, []) == ["max", "high", "mid", "low", "negative", "min"])
        #expect(q.count == 0)
    }

    @Test("FIFO among equal priority")
    func fifo() {
        var q = ReadyQueue()
        for i in 0..<100 { q.push(jobId: "j\(i)", priority: 2, requirements: ["GPU"]) }
        q.push(jobId: "urgent", priority: 3, requirements: ["GPU"])
        #expect(drain(&q, ["GPU"]) == ["urgent"] + (0..<100).map { "j\($0)" })
    }

    @Test("one queue per requirement set; set order does not matter")
    func separateQueues() {
        var q = ReadyQueue()
        q.push(jobId: "gpu-urgent", priority: 100, requirements: ["GPU"])
        q.push(jobId: "any", priority: 1, requirements: [])
        q.push(jobId: "big-gpu", priority: 1, requirements: ["GPU", "HIGH_MEM"])
        q.push(jobId: "big-gpu-2", priority: 1, requirements: ["HIGH_MEM", "GPU"])
        #expect(q.count == 4)
        #expect(Set(q.requirementSets) == [[], ["GPU"], ["GPU", "HIGH_MEM"]])
        // A job nobody can run does not hold back the others.
        let p1 = q.pop([])
        #expect(p1 == "any")
        let p2 = q.pop([])
        #expect(p2 == nil)
        let p3 = q.pop(["HIGH_MEM", "GPU"])
        #expect(p3 == "big-gpu")
        let p4 = q.pop(["GPU", "HIGH_MEM"])
        #expect(p4 == "big-gpu-2")
        let p5 = q.pop(["HIGH_MEM"])
        #expect(p5 == nil)
        #expect(q.requirementSets == [["GPU"]])
        let p6 = q.pop(["GPU"])
        #expect(p6 == "gpu-urgent")
        #expect(q.requirementSets.isEmpty)
        #expect(q.count == 0)
    }

    @Test("peek shows the head without removing it")
    func peek() throws {
        var q = ReadyQueue()
        #expect(q.peek([]) == nil)
        q.push(jobId: "a", priority: 1, requirements: [])
        q.push(jobId: "b", priority: 9, requirements: [])
        let head = try #require(q.peek([]))
        #expect(head.jobId == "b")
        #expect(head.priority == 9)
        #expect(head.sequence == 2)
        #expect(q.count == 2)
        #expect(q.peek([])?.jobId == "b")
        let p7 = q.pop([])
        #expect(p7 == "b")
        #expect(q.peek([])?.jobId == "a")
        #expect(q.peek([])?.sequence == 1)
    }

    @Test("sequence numbers keep growing across queues (global submission order)")
    func globalSequence() {
        var q = ReadyQueue()
        q.push(jobId: "a", priority: 1, requirements: [])
        q.push(jobId: "b", priority: 1, requirements: ["GPU"])
        q.push(jobId: "c", priority: 1, requirements: [])
        #expect(q.peek(["GPU"])?.sequence == 2)
        q.pop([])
        #expect(q.peek([])?.sequence == 3)
    }

    @Test("remove() takes a job out of the middle and keeps the rest in order")
    func remove() {
        var q = ReadyQueue()
        for i in 0..<6 { q.push(jobId: "j\(i)", priority: Int32(i % 2), requirements: []) }
        q.push(jobId: "gpu", priority: 0, requirements: ["GPU"])
        #expect(q.count == 7)
        let removed = q.remove(jobId: "j3", requirements: [])
        #expect(removed)
        #expect(q.count == 6)
        let again = q.remove(jobId: "j3", requirements: [])
        let missing = q.remove(jobId: "nope", requirements: [])
        // The wrong requirement set does not find it.
        let wrongSet1 = q.remove(jobId: "j1", requirements: ["GPU"])
        let wrongSet2 = q.remove(jobId: "gpu", requirements: ["HIGH_MEM"])
        #expect(!again && !missing && !wrongSet1 && !wrongSet2)
        #expect(q.count == 6)
        let removedGPU = q.remove(jobId: "gpu", requirements: ["GPU"])
        #expect(removedGPU)
        #expect(!q.requirementSets.contains(["GPU"]))
        #expect(q.count == 5)
        #expect(drain(&q, []) == ["j1", "j5", "j0", "j2", "j4"])
        #expect(q.count == 0)
        #expect(q.requirementSets.isEmpty)
    }

    @Test("count bookkeeping through push, pop and remove", arguments: [7, 99, 2024] as [UInt64])
    func randomizedAgainstModel(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        var q = ReadyQueue()
        var model = Model()
        let sets: [Set<String>] = [[], ["GPU"], ["GPU", "HIGH_MEM"], ["SSD"]]
        var nextId = 0
        for step in 0..<3_000 {
            let reqs = sets.randomElement(using: &rng)!
            switch Int.random(in: 0..<10, using: &rng) {
            case 0..<5:
                let id = "job-\(nextId)"
                nextId += 1
                // A small priority range makes ties (and so FIFO order) common.
                let priority = Int32.random(in: -2...2, using: &rng)
                q.push(jobId: id, priority: priority, requirements: reqs)
                model.push(id, priority, reqs)
            case 5..<8:
                let popped = q.pop(reqs)
                #expect(popped == model.pop(reqs), "step \(step)")
            default:
                // Remove a queued job (or a missing one now and then).
                let candidates = model.entries.filter { $0.reqs == reqs }
                let id = Int.random(in: 0..<4, using: &rng) == 0 || candidates.isEmpty
                    ? "job-missing" : candidates.randomElement(using: &rng)!.id
                let removed = q.remove(jobId: id, requirements: reqs)
                #expect(removed == model.remove(id, reqs), "step \(step)")
            }
            #expect(q.count == model.entries.count, "step \(step)")
            #expect(Set(q.requirementSets) == Set(model.entries.map(\.reqs)), "step \(step)")
            for s in sets {
                #expect(q.peek(s)?.jobId == model.best(s)?.id, "step \(step)")
            }
        }
        for s in sets {
            var popped: [String] = []
            while let id = q.pop(s) { popped.append(id) }
            var expected: [String] = []
            while let id = model.pop(s) { expected.append(id) }
            #expect(popped == expected)
        }
        #expect(q.count == 0)
    }
}

/// Reference model: a flat list, sorted by priority (desc) then submission order (asc) on demand.
private struct Model {
    struct Entry {
        var id: String
        var priority: Int32
        var sequence: Int
        var reqs: Set<String>
    }

    var entries: [Entry] = []
    var sequence = 0

    mutating func push(_ id: String, _ priority: Int32, _ reqs: Set<String>) {
        sequence += 1
        entries.append(Entry(id: id, priority: priority, sequence: sequence, reqs: reqs))
    }

    func best(_ reqs: Set<String>) -> Entry? {
        entries.lazy.filter { $0.reqs == reqs }.min {
            $0.priority != $1.priority ? $0.priority > $1.priority : $0.sequence < $1.sequence
        }
    }

    mutating func pop(_ reqs: Set<String>) -> String? {
        guard let top = best(reqs) else { return nil }
        entries.removeAll { $0.id == top.id }
        return top.id
    }

    mutating func remove(_ id: String, _ reqs: Set<String>) -> Bool {
        guard let i = entries.firstIndex(where: { $0.id == id && $0.reqs == reqs }) else { return false }
        entries.remove(at: i)
        return true
    }
}

private func drain(_ q: inout ReadyQueue, _ reqs: Set<String>) -> [String] {
    var ids: [String] = []
    while let id = q.pop(reqs) { ids.append(id) }
    return ids
}
