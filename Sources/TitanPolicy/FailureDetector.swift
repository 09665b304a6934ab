/// Heartbeat failure detector: a pure state machine driven by "heard from" events and a clock.
/// A worker silent for `suspectAfterMs` is suspect (gets no new work); silent for `deadAfterMs`
/// it is dead (its attempts are re-queued).
public struct FailureDetector: Sendable {
    public enum Health: Sendable, Equatable { case alive, suspect, dead }

    public struct Transition: Sendable, Equatable {
        public var worker: String
        public var health: Health

        public init(worker: String, health: Health) {
            self.worker = worker
            self.health = health
        }
    }

    public let suspectAfterMs: Int64
    public let deadAfterMs: Int64
    private var lastHeard: [String: Int64] = [:]
    private var health: [String: Health] = [:]

    public init(suspectAfterMs: Int64 = 3_000, deadAfterMs: Int64 = 5_000) {
        precondition(suspectAfterMs <= deadAfterMs)
        self.suspectAfterMs = suspectAfterMs
        self.deadAfterMs = deadAfterMs
    }

    /// Records a sign of life. Returns a transition when a suspect worker is alive again.
    @discardableResult
    public mutating func heard(_ worker: String, atMs now: Int64) -> Transition? {
        lastHeard[worker] = now
        let old = health.updateValue(.alive, forKey: worker)
        return old == .suspect ? Transition(worker: worker, health: .alive) : nil
    }

    /// Forgets a worker (it left cleanly or was declared dead and handled).
    public mutating func remove(_ worker: String) {
        lastHeard[worker] = nil
        health[worker] = nil
    }

    public func health(of worker: String) -> Health? { health[worker] }

    /// Advances the clock; returns workers whose health changed, dead ones removed.
    public mutating func evaluate(nowMs now: Int64) -> [Transition] {
        var changes: [Transition] = []
        for (worker, heard) in lastHeard {
            let silent = now - heard
            let current = health[worker] ?? .alive
            if silent >= deadAfterMs {
                changes.append(Transition(worker: worker, health: .dead))
            } else if silent >= suspectAfterMs && current == .alive {
                health[worker] = .suspect
                changes.append(Transition(worker: worker, health: .suspect))
            }
        }
        for change in changes where change.health == .dead { remove(change.worker) }
        return changes.sorted { $0.worker < $1.worker }
    }
}
