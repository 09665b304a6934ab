import TitanTestSupport
import Testing
import TitanPolicy

/// Placement policy: least-loaded among matching, accepting workers with a free slot; ties go to the
/// fewest unneeded tags, then the most free slots, then the smallest id.
@Suite("Placement.choose")
struct PlacementChooseTests {
    @Test("no workers: nothing to choose")
    func noWorkers() {
        #expect(Placement.choose(requirements: [], among: [WorkerCapacity]()) == nil)
        #expect(Placement.choose(requirements: ["GPU"], among: [WorkerCapacity]()) == nil)
    }

    @Test("the least-loaded worker wins")
    func leastLoaded() {
        let workers = [
            worker("w1", running: 3),
            worker("w2", running: 1),
            worker("w3", running: 2),
        ]
        #expect(Placement.choose(requirements: [], among: workers) == "w2")
    }

    @Test("load is relative to slots, not the absolute number of running jobs")
    func loadIsAFraction() {
        let workers = [
            worker("small", slots: 2, running: 1), // 50 %
            worker("big", slots: 16, running: 4), // 25 %
        ]
        #expect(Placement.choose(requirements: [], among: workers) == "big")
    }

    @Test("a GPU job is never placed on a worker without GPU, however idle")
    func strictCapabilities() {
        let idleCPU = worker("cpu", ["GENERAL"], slots: 64, running: 0)
        let busyGPU = worker("gpu", ["GPU"], slots: 4, running: 3)
        #expect(Placement.choose(requirements: ["GPU"], among: [idleCPU, busyGPU]) == "gpu")
        #expect(Placement.choose(requirements: ["GPU"], among: [idleCPU]) == nil)
        let fullGPU = worker("gpu", ["GPU"], slots: 4, running: 4)
        #expect(Placement.choose(requirements: ["GPU"], among: [idleCPU, fullGPU]) == nil)
    }

    @Test("every required tag must be present")
    func allTagsRequired() {
        let workers = [
            worker("gpu-only", ["GPU"]),
            worker("mem-only", ["HIGH_MEM"]),
            worker("both", ["GPU", "HIGH_MEM", "SSD"], running: 3),
        ]
        #expect(Placement.choose(requirements: ["GPU", "HIGH_MEM"], among: workers) == "both")
        #expect(Placement.choose(requirements: ["GPU", "HIGH_MEM", "TPU"], among: workers) == nil)
    }

    @Test("tags are matched exactly (no case folding, GENERAL is not implied)")
    func exactTags() {
        #expect(Placement.choose(requirements: ["GPU"], among: [worker("w", ["gpu"])]) == nil)
        #expect(Placement.choose(requirements: ["GENERAL"], among: [worker("w", [])]) == nil)
        #expect(worker("w", ["GPU"]).matches([]))
        #expect(!worker("w", []).matches(["GPU"]))
    }

    @Test("empty requirements match any worker, including tagged ones")
    func emptyRequirementsMatchAny() {
        let workers = [
            worker("cpu", ["GENERAL"], running: 3),
            worker("gpu", ["GPU"], running: 0),
            worker("bare", [], running: 2),
        ]
        #expect(Placement.choose(requirements: [], among: workers) == "gpu")
        #expect(Placement.choose(requirements: [], among: [worker("bare", [])]) == "bare")
    }

    @Test("full workers are skipped, even when the rest are more loaded")
    func fullSkipped() {
        let workers = [
            worker("full", slots: 1, running: 1),
            worker("overfull", slots: 2, running: 5),
            worker("busy", slots: 10, running: 9),
        ]
        #expect(Placement.choose(requirements: [], among: workers) == "busy")
        #expect(Placement.choose(requirements: [], among: Array(workers.prefix(2))) == nil)
        #expect(Placement.choose(requirements: [], among: [worker("none", slots: 0, running: 0)]) == nil)
    }

    @Test("workers not accepting (draining, suspect, disconnected) are skipped")
    func notAcceptingSkipped() {
        let workers = [
            worker("idle-but-draining", running: 0, accepting: false),
            worker("busy", running: 3),
        ]
        #expect(Placement.choose(requirements: [], among: workers) == "busy")
        #expect(Placement.choose(requirements: [], among: [workers[0]]) == nil)
    }

    @Test("ties: fewest unneeded tags first, so a CPU job leaves the GPU worker free")
    func tieBreakSparesSpecialWorkers() {
        let workers = [
            worker("gpu", ["GENERAL", "GPU"], slots: 8),
            worker("gpu-mem", ["GENERAL", "GPU", "HIGH_MEM"], slots: 8),
            worker("cpu", ["GENERAL"], slots: 2),
        ]
        for order in permutations(workers) {
            #expect(Placement.choose(requirements: ["GENERAL"], among: order) == "cpu")
            #expect(Placement.choose(requirements: [], among: order) == "cpu")
            #expect(Placement.choose(requirements: ["GPU"], among: order) == "gpu")
        }
        // GENERAL is not a specialisation: a GENERAL worker and a GPU-only worker are not equal.
        let plain = [worker("a-gpu", ["GPU"], slots: 2), worker("z-cpu", ["GENERAL"], slots: 2)]
        for order in permutations(plain) {
            #expect(Placement.choose(requirements: [], among: order) == "z-cpu")
        }
        // Nor is the implicit worker:ID tag.
        let pinned = [worker("a", ["GENERAL", Placement.pinTag("a"), "GPU"], slots: 2),
                      worker("b", ["GENERAL", Placement.pinTag("b")], slots: 2)]
        #expect(Placement.choose(requirements: [], among: pinned) == "b")
        #expect(Placement.choose(requirements: [Placement.pinTag("a")], among: pinned) == "a")
        // Load still comes first: an idle GPU worker beats a half-busy CPU worker.
        let busyCPU = [worker("gpu", ["GPU"], slots: 4), worker("cpu", [], slots: 4, running: 2)]
        #expect(Placement.choose(requirements: [], among: busyCPU) == "gpu")
    }

    @Test("ties: most free slots first, then the smallest id, whatever the input order")
    func deterministicTieBreak() {
        // Equal load (0 %): the worker with more free slots wins.
        let bySlots = [worker("a", slots: 2), worker("b", slots: 8), worker("c", slots: 4)]
        for order in permutations(bySlots) {
            #expect(Placement.choose(requirements: [], among: order) == "b")
        }
        // Equal load and free slots: the smallest id wins.
        let byId = [worker("w3", running: 1), worker("w1", running: 1), worker("w2", running: 1)]
        for order in permutations(byId) {
            #expect(Placement.choose(requirements: [], among: order) == "w1")
        }
    }

    @Test("matches a reference model on random clusters", arguments: [1, 2, 3, 42, 1234] as [UInt64])
    func randomizedAgainstModel(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        let tags = ["GPU", "HIGH_MEM", "SSD"]
        for _ in 0..<500 {
            let workers = (0..<Int.random(in: 0...8, using: &rng)).map { i in
                let slots = Int.random(in: 0...6, using: &rng)
                return worker("w\(Int.random(in: 0...99, using: &rng))-\(i)",
                              Set(tags.filter { _ in Bool.random(using: &rng) }),
                              slots: slots, running: Int.random(in: 0...max(0, slots + 1), using: &rng),
                              accepting: Int.random(in: 0..<5, using: &rng) != 0)
            }
            let requirements = Set(tags.filter { _ in Int.random(in: 0..<3, using: &rng) == 0 })
            let expected = workers
                .filter { $0.accepting && $0.running < $0.slots && requirements.isSubset(of: $0.capabilities) }
                .min { a, b in
                    // Compare loads exactly: a.running/a.slots < b.running/b.slots.
                    let lhs = a.running * b.slots, rhs = b.running * a.slots
                    if lhs != rhs { return lhs < rhs }
                    if a.capabilities.count != b.capabilities.count {
                        return a.capabilities.count < b.capabilities.count
                    }
                    if a.free != b.free { return a.free > b.free }
                    return a.id < b.id
                }?.id
            #expect(Placement.choose(requirements: requirements, among: workers) == expected,
                    "requirements \(requirements.sorted()), workers \(workers)")
            // whyPending says "waiting in queue" exactly when a worker could take the job now.
            let why = Placement.whyPending(requirements: requirements, among: workers)
            #expect((why == "waiting in queue") == (expected != nil), "\(why) for \(workers)")
        }
    }
}

@Suite("Placement.whyPending")
struct PlacementWhyPendingTests {
    @Test("a job pinned to a worker that is not registered waits for it, by name")
    func pinnedToAbsentWorker() {
        let pin = Placement.pinTag("w7")
        #expect(Placement.whyPending(requirements: [pin], among: []) == "waiting for worker w7 (hard affinity)")
        #expect(Placement.whyPending(requirements: [pin, "GPU"], among: [worker("w1", ["GPU", Placement.pinTag("w1")])])
            == "waiting for worker w7 (hard affinity)")
        // Registered but busy: the ordinary reasons apply.
        let busy = worker("w7", [pin], slots: 1, running: 1)
        #expect(Placement.whyPending(requirements: [pin], among: [busy]).hasPrefix("all 1 "))
    }

    @Test("no workers at all")
    func noWorkers() {
        #expect(Placement.whyPending(requirements: [], among: [WorkerCapacity]()) == "no workers registered")
        #expect(Placement.whyPending(requirements: ["GPU"], among: [WorkerCapacity]()) == "no workers registered")
    }

    @Test("no worker has the required tag")
    func noMatchingWorker() {
        let workers = [worker("cpu1", ["GENERAL"]), worker("cpu2", [])]
        #expect(Placement.whyPending(requirements: ["GPU"], among: workers) == "no worker with GPU")
    }

    @Test("several missing tags are named sorted, comma-separated")
    func severalTags() {
        let workers = [worker("gpu", ["GPU"])]
        #expect(Placement.whyPending(requirements: ["HIGH_MEM", "GPU"], among: workers)
            == "no worker with GPU,HIGH_MEM")
    }

    @Test("all matching workers full: counts only the matching ones")
    func allFull() {
        let workers = [
            worker("gpu1", ["GPU"], slots: 2, running: 2),
            worker("gpu2", ["GPU", "SSD"], slots: 1, running: 1),
            worker("cpu", ["GENERAL"], slots: 8, running: 0),
        ]
        #expect(Placement.whyPending(requirements: ["GPU"], among: workers) == "all 2 GPU worker(s) full")
    }

    @Test("all workers full, no requirements")
    func allFullNoRequirements() {
        let workers = [worker("a", slots: 1, running: 1), worker("b", slots: 3, running: 3)]
        #expect(Placement.whyPending(requirements: [], among: workers) == "all 2 worker(s) full")
    }

    @Test("matching workers exist but none accepts work")
    func unavailable() {
        let workers = [
            worker("gpu1", ["GPU"], accepting: false),
            worker("gpu2", ["GPU"], accepting: false),
            worker("cpu", ["GENERAL"]),
        ]
        #expect(Placement.whyPending(requirements: ["GPU"], among: workers)
            == "all 2 matching worker(s) unavailable")
        #expect(Placement.whyPending(requirements: [], among: [worker("x", accepting: false)])
            == "all 1 matching worker(s) unavailable")
    }

    @Test("unavailable workers are not counted among the full ones")
    func fullIgnoresUnavailable() {
        let workers = [
            worker("gpu1", ["GPU"], accepting: false),
            worker("gpu2", ["GPU"], slots: 1, running: 1),
        ]
        #expect(Placement.whyPending(requirements: ["GPU"], among: workers) == "all 1 GPU worker(s) full")
    }

    @Test("a free matching worker: the job is just waiting its turn")
    func waiting() {
        let workers = [worker("gpu", ["GPU"], slots: 2, running: 1)]
        #expect(Placement.whyPending(requirements: ["GPU"], among: workers) == "waiting in queue")
    }
}

/// All orderings of a small array (Heap's algorithm).
private func permutations<T>(_ items: [T]) -> [[T]] {
    var result: [[T]] = []
    var a = items
    func generate(_ k: Int) {
        if k <= 1 {
            result.append(a)
            return
        }
        generate(k - 1)
        for i in 0..<(k - 1) {
            a.swapAt(k % 2 == 0 ? i : 0, k - 1)
            generate(k - 1)
        }
    }
    generate(a.count)
    return result
}
