import TitanPolicy
import TitanProtocol

/// One copy of a service as the master keeps it: what was deployed, where its current placement
/// runs, and what its worker last reported. A service with `replicas: N` has N of these, keyed
/// `NAME`, `NAME#1`, ... `NAME#N-1`.
final class ServiceRecord {
    var spec: ServiceSpec
    /// Which copy (0 ..< `spec.replicas`).
    let replica: UInt32
    /// Bumped at every placement; reports for older ones are stale.
    var generation: UInt32 = 0
    var info: ServiceInfo
    /// Stopped by the user (or its DAG ended): final.
    var stopped = false
    /// When it was stopped (stopped copies are kept, up to a limit, for `titan services`).
    var stoppedAtMs: Int64 = 0
    /// After a restart: waiting for its worker to report it (any generation is adopted).
    var awaitingReport = false
    /// Its recent output (all runs), and who follows it. `id` is what a follower's pushes carry:
    /// this copy's `svc/NAME#i`, or the service's `svc/NAME` when it follows every copy.
    var logs = LogBuffer(limitBytes: 256 << 10)
    var watchers: [ObjectIdentifier: (peer: any Peer, logs: Bool, id: String)] = [:]

    init(spec: ServiceSpec, replica: UInt32 = 0) {
        self.spec = spec
        self.replica = replica
        info = ServiceInfo(spec: spec, state: "PENDING", replica: replica)
    }

    /// `NAME`, or `NAME#i` for copies after the first.
    var instance: String { spec.instanceName(replica) }
    var ref: AttemptRef { AttemptRef(jobId: "svc/" + instance, attempt: generation) }
    /// States in which its process is alive (or about to restart) on its worker: it holds a slot.
    var holdsSlot: Bool { !["PENDING", "STOPPED", "EXITED", "CRASH_LOOP"].contains(info.state) }

    /// Sets what `titan services` shows, keeping its restarts and last exit.
    func show(_ state: String, workerId: String = "", host: String = "") {
        info = ServiceInfo(spec: spec, state: state, workerId: workerId, restarts: info.restarts,
                           lastExit: info.lastExit, replica: replica, host: host)
    }
}

extension ServiceSpec {
    /// Whether `other` runs the same thing, so that a redeploy that only changes the number of
    /// copies leaves the running ones alone.
    func sameProcess(as other: ServiceSpec) -> Bool {
        var a = self, b = other
        a.replicas = 1
        b.replicas = 1
        return a == b
    }
}
