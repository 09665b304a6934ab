import TitanTestSupport
import TitanPolicy


/// Shorthand for a worker snapshot in placement tests.
func worker(_ id: String, _ capabilities: Set<String> = [], slots: Int = 4, running: Int = 0,
            accepting: Bool = true) -> WorkerCapacity {
    WorkerCapacity(id: id, capabilities: capabilities, slots: slots, running: running, accepting: accepting)
}
