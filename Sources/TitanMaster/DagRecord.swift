import TitanProtocol

/// A DAG as the scheduler keeps it: its jobs (by full id, in submission order), the counts of
/// their states (kept in step by `SchedulerActor.move`), and the peers following it.
final class DagRecord {
    let id: String
    let name: String
    private(set) var jobIds: [String]
    let submittedAtMs: Int64
    var finishedAtMs: Int64 = 0
    var counts = JobCounts()
    var watchers: [ObjectIdentifier: (peer: any Peer, logs: Bool)] = [:]

    init(id: String, name: String, jobIds: [String], submittedAtMs: Int64) {
        self.id = id
        self.name = name
        self.jobIds = jobIds
        self.submittedAtMs = submittedAtMs
        counts.pending = UInt32(jobIds.count)
    }

    /// Derived from the counts: running while anything is pending or running.
    var state: DagState {
        if counts.pending > 0 || counts.running > 0 { return .running }
        if counts.failed > 0 { return .failed }
        if counts.cancelled > 0 { return .cancelled }
        // Skipped jobs only follow a failure or a cancel; all completed otherwise.
        return counts.skipped > 0 ? .failed : .completed
    }

    /// Jobs added while it runs (`extendDag`), pending.
    func add(_ ids: [String]) {
        jobIds += ids
        counts.pending += UInt32(ids.count)
    }

    var event: DagEvent { DagEvent(dagId: id, state: state, counts: counts) }
}
