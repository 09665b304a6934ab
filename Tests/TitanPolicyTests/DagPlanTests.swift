import Testing
import TitanPolicy
import TitanTestSupport

@Suite("DagPlan")
struct DagPlanTests {
    typealias Job = (id: String, dependsOn: [String])

    @Test("a diamond orders parents first, peers in submission order")
    func diamond() throws {
        let jobs: [Job] = [("d", ["b", "c"]), ("b", ["a"]), ("a", []), ("c", ["a"])]
        let order = try DagPlan.order(jobs).get()
        #expect(order.map { jobs[$0].id } == ["a", "b", "c", "d"])
    }

    @Test("every problem is named")
    func problems() {
        #expect(DagPlan.order([]) == .failure(.empty))
        #expect(DagPlan.order([("a/b", [])]) == .failure(.invalidId(index: 0, id: "a/b")))
        #expect(DagPlan.order([("", [])]) == .failure(.invalidId(index: 0, id: "")))
        #expect(DagPlan.order([(String(repeating: "x", count: 129), [])]).isFailure)
        #expect(DagPlan.order([("a", []), ("b", []), ("a", [])]) == .failure(.duplicateId(id: "a", first: 0, second: 2)))
        #expect(DagPlan.order([("a", ["z"])]) == .failure(.unknownParent(job: "a", parent: "z")))
        #expect(DagPlan.order([("a", []), ("b", ["a", "a"])]) == .failure(.duplicateParent(job: "b", parent: "a")))
        #expect(DagPlan.order([("a", ["a"])]) == .failure(.cycle(["a", "a"])))
        #expect(DagPlan.Problem.cycle(["a", "b", "a"]).description == "cycle: a -> b -> a")
        #expect(DagPlan.Problem.unknownParent(job: "a", parent: "z").description.contains("'z'"))
    }

    @Test("a cycle is reported in dependency order and really is a cycle")
    func cycle() throws {
        let jobs: [Job] = [("root", []), ("a", ["root", "c"]), ("b", ["a"]), ("c", ["b"]), ("tail", ["c"])]
        guard case .failure(.cycle(let path)) = DagPlan.order(jobs) else {
            Issue.record("no cycle found")
            return
        }
        #expect(path.first == path.last)
        #expect(Set(path) == ["a", "b", "c"])
        // Each step goes parent -> child.
        let byId = Dictionary(uniqueKeysWithValues: jobs.map { ($0.id, $0.dependsOn) })
        for (parent, child) in zip(path, path.dropFirst()) {
            #expect(byId[child]?.contains(parent) == true, "\(parent) -> \(child)")
        }
    }

    @Test("random DAGs: the order respects every edge; adding a back edge makes a cycle")
    func randomized() throws {
        var rng = SplitMix64(seed: 42)
        for _ in 0..<200 {
            let n = Int.random(in: 1...40, using: &rng)
            var jobs: [Job] = (0..<n).map { i in
                let parents = (0..<i).filter { _ in Int.random(in: 0..<5, using: &rng) == 0 }.map { "j\($0)" }
                return ("j\(i)", parents)
            }
            jobs.shuffle(using: &rng)
            let order = try DagPlan.order(jobs).get()
            #expect(Set(order) == Set(0..<n))
            var position: [String: Int] = [:]
            for (p, i) in order.enumerated() { position[jobs[i].id] = p }
            for job in jobs { for parent in job.dependsOn { #expect(position[parent]! < position[job.id]!) } }
            // j0 depending on the last job of some chain through it closes a loop when one exists.
            if let withParent = jobs.first(where: { !$0.dependsOn.isEmpty }), let i = jobs.firstIndex(where: { $0.id == withParent.dependsOn[0] }) {
                jobs[i].dependsOn.append(withParent.id)
                guard case .failure(.cycle) = DagPlan.order(jobs) else {
                    Issue.record("back edge not seen as a cycle")
                    return
                }
            }
        }
    }

    @Test("a 100,000-job chain is ordered without recursion")
    func longChain() throws {
        let jobs: [Job] = (0..<100_000).map { ("j\($0)", $0 == 0 ? [] : ["j\($0 - 1)"]) }
        #expect(try DagPlan.order(jobs).get() == Array(0..<100_000))
    }
}

extension Result {
    var isFailure: Bool { if case .failure = self { true } else { false } }
}
