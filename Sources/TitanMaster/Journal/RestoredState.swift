import TitanProtocol
import TitanStore

/// The master's state as the journal describes it: what replay builds, record by record, before
/// the scheduler takes it over. Pure: no I/O, no clock. Creation records that come again (a
/// compaction that raced a batch) replace what was there, so applying is idempotent.
struct RestoredState {
    struct Dag {
        var id: String
        var spec: DagSpec
        var submittedAtMs: Int64
        var finishedAtMs: Int64 = 0
    }

    struct Schedule {
        var spec: ScheduleSpec
        var createdAtMs: Int64
        var lastFireMs: Int64 = 0
        var lastDagId = ""
        var runs: UInt32 = 0
        var skipped: UInt32 = 0
    }

    var masterId: String?
    var nextJob: UInt64 = 1
    var nextDag: UInt64 = 1
    /// Every job, lone or in a DAG, by full id; `failures` beside it.
    var jobs: [String: JobInfo] = [:]
    var failures: [String: UInt32] = [:]
    /// Lone jobs and DAGs in creation order.
    var order: [(isDag: Bool, id: String)] = []
    var dags: [String: Dag] = [:]
    var schedules: [String: Schedule] = [:]
    var kv = KVState()
    /// Services deployed and not stopped, by name.
    var services: [String: ServiceSpec] = [:]
    /// Services stopped (and not deployed again since), by name, with the order they stopped in:
    /// shown as STOPPED by `titan services` after a restart, as before it.
    var stoppedServices: [String: (spec: ServiceSpec, order: Int)] = [:]
    private var stops = 0
    var records = 0

    mutating func apply(_ record: JournalRecord) throws(JournalDecodeError) {
        records += 1
        switch record {
        case .instance(let id):
            masterId = id
        case .counters(let job, let dag):
            let (job, dag) = (try Self.counter(job, "nextJob"), try Self.counter(dag, "nextDag"))
            nextJob = max(nextJob, job)
            nextDag = max(nextDag, dag)
        case .jobCreated(let info):
            let next = try Self.counter(Self.number(info.id, prefix: "job-") + 1, "the number of job '\(info.id)'")
            if jobs[info.id] == nil { order.append((false, info.id)) }
            jobs[info.id] = info
            nextJob = max(nextJob, next)
        case .dagCreated(let id, let spec, let submittedAtMs):
            let next = try Self.counter(Self.number(id, prefix: "dag-") + 1, "the number of DAG '\(id)'")
            if dags[id] == nil { order.append((true, id)) }
            dags[id] = Dag(id: id, spec: spec, submittedAtMs: submittedAtMs)
            for job in spec.jobs {
                var jobSpec = job.spec
                if jobSpec.name.isEmpty { jobSpec.name = job.id }
                let fullId = "\(id)/\(job.id)"
                jobs[fullId] = JobInfo(id: fullId, spec: jobSpec, state: .pending, submittedAtMs: submittedAtMs, dagId: id,
                                       parents: job.dependsOn.map { "\(id)/\($0)" })
            }
            nextDag = max(nextDag, next)
        case .jobState(let change):
            // In place: a million of these make up most of a replay.
            guard let index = jobs.index(forKey: change.id) else {
                throw JournalDecodeError(message: "a state change for job '\(change.id)', which was never created")
            }
            jobs.values[index].state = change.state
            jobs.values[index].attempts = change.attempts
            jobs.values[index].workerId = change.workerId
            jobs.values[index].result = change.result
            jobs.values[index].notBeforeMs = change.notBeforeMs
            if change.failures > 0 || failures[change.id] != nil { failures[change.id] = change.failures }
        case .dagExtended(let id, let newJobs, let atMs):
            guard dags[id] != nil else {
                throw JournalDecodeError(message: "jobs added to DAG '\(id)', which was never created")
            }
            for job in newJobs where jobs["\(id)/\(job.id)"] == nil {
                dags[id]!.spec.jobs.append(job)
                var jobSpec = job.spec
                if jobSpec.name.isEmpty { jobSpec.name = job.id }
                let fullId = "\(id)/\(job.id)"
                jobs[fullId] = JobInfo(id: fullId, spec: jobSpec, state: .pending, submittedAtMs: atMs, dagId: id,
                                       parents: job.dependsOn.map { "\(id)/\($0)" })
            }
            dags[id]!.finishedAtMs = 0
        case .dagFinished(let id, let atMs):
            dags[id]?.finishedAtMs = atMs
        case .scheduleSet(let spec, let createdAtMs):
            let old = schedules[spec.name]
            var schedule = Schedule(spec: spec, createdAtMs: createdAtMs)
            if let old {
                // A replaced schedule keeps its history (as the scheduler does).
                schedule.lastFireMs = old.lastFireMs
                schedule.lastDagId = old.lastDagId
                schedule.runs = old.runs
                schedule.skipped = old.skipped
            }
            schedules[spec.name] = schedule
        case .scheduleState(let name, let lastFireMs, let lastDagId, let runs, let skipped):
            schedules[name]?.lastFireMs = lastFireMs
            schedules[name]?.lastDagId = lastDagId
            schedules[name]?.runs = runs
            schedules[name]?.skipped = skipped
        case .scheduleRemoved(let name):
            schedules[name] = nil
        case .serviceSet(let spec):
            services[spec.name] = spec
            stoppedServices[spec.name] = nil
        case .serviceStopped(let name):
            if let spec = services.removeValue(forKey: name) {
                stops += 1
                stoppedServices[name] = (spec, stops)
            }
        case .kv(let bytes):
            do {
                try kv.apply(try KVMutation(decoding: bytes))
            } catch {
                throw JournalDecodeError(message: "a KV record: \(error)")
            }
        }
    }

    /// `N` of `PREFIX-N`, or 0; numbers past `maxCounter` count as `maxCounter` (then rejected
    /// by `counter`), so `+ 1` cannot overflow.
    static func number(_ id: String, prefix: String) -> UInt64 {
        guard id.hasPrefix(prefix) else { return 0 }
        return min(UInt64(id.dropFirst(prefix.count)) ?? 0, maxCounter)
    }

    /// Ids are numbered far below this; a journal claiming more was not written by a master
    /// (the scheduler counts up from the restored value and must not overflow).
    static let maxCounter: UInt64 = 1 << 62

    static func counter(_ value: UInt64, _ what: String) throws(JournalDecodeError) -> UInt64 {
        guard value <= maxCounter else {
            throw JournalDecodeError(message: "\(what): \(value) is past the largest id number (\(maxCounter))")
        }
        return value
    }
}
