import Testing
import TitanPolicy

@Suite("Copies of a service: spread, and when a DAG step is ready")
struct ServicePlacementTests {
    @Test("a copy goes where no other copy runs, even to a busier worker")
    func spreads() {
        let workers = [worker("w1", running: 1), worker("w2", running: 3), worker("w3", ["GPU"], running: 0)]
        #expect(Placement.choose(requirements: [], among: workers, avoiding: ["w1"]) == "w3")
        #expect(Placement.choose(requirements: [], among: workers, avoiding: ["w1", "w3"]) == "w2")
        #expect(Placement.choose(requirements: ["GPU"], among: workers, avoiding: []) == "w3")
    }

    @Test("when every worker with room runs a copy, copies share one")
    func sharesWhenItMust() {
        let workers = [worker("w1", running: 1), worker("w2", running: 4), worker("w3", accepting: false)]
        #expect(Placement.choose(requirements: [], among: workers, avoiding: ["w1"]) == "w1")
        #expect(Placement.choose(requirements: ["GPU"], among: workers, avoiding: ["w1"]) == nil)
        // Copies on one fixed port: never together.
        #expect(Placement.choose(requirements: [], among: workers, avoiding: ["w1"], strictly: true) == nil)
        #expect(Placement.choose(requirements: [], among: workers, avoiding: ["w3"], strictly: true) == "w1")
    }

    @Test("ready when every copy is healthy; waiting while any is on its way")
    func readiness() {
        #expect(ServiceReadiness.of([]) == .waiting)
        #expect(ServiceReadiness.of([("db", "HEALTHY", ""), ("db#1", "STARTING", "")]) == .waiting)
        #expect(ServiceReadiness.of([("db", "HEALTHY", ""), ("db#1", "RESTARTING", "exit 1")]) == .waiting)
        #expect(ServiceReadiness.of([("db", "PENDING", "")]) == .waiting)
        #expect(ServiceReadiness.of([("db", "HEALTHY", ""), ("db#1", "HEALTHY", "")]) == .ready)
    }

    @Test("failed as soon as one copy cannot get there by itself, naming it", arguments: ["CRASH_LOOP", "EXITED", "STOPPING", "STOPPED"])
    func failed(state: String) {
        #expect(ServiceReadiness.of([("db", "HEALTHY", ""), ("db#1", state, "exit 3")])
                == .failed("service 'db#1' is \(state) (last exit: exit 3)"))
        #expect(ServiceReadiness.of([("db", state, "")]) == .failed("service 'db' is \(state)"))
    }
}
