import TitanLoop
import TitanPolicy
import TitanProtocol

/// A pipeline on a cron schedule, as the scheduler keeps it.
final class ScheduleRecord {
    let spec: ScheduleSpec
    let cron: CronSchedule
    let overlap: OverlapPolicy
    let missed: MissedRunPolicy
    let createdAtMs: Int64
    var nextFireMs: Int64?
    var lastFireMs: Int64?
    var lastDagId: String?
    var runs: UInt32 = 0
    var skipped: UInt32 = 0

    init(spec: ScheduleSpec, cron: CronSchedule, overlap: OverlapPolicy, missed: MissedRunPolicy, createdAtMs: Int64) {
        self.spec = spec
        self.cron = cron
        self.overlap = overlap
        self.missed = missed
        self.createdAtMs = createdAtMs
    }

    var info: ScheduleInfo {
        ScheduleInfo(name: spec.name, cron: spec.cron, timeZone: spec.timeZone, overlap: overlap.rawValue,
                     missed: missed.rawValue, nextFireMs: nextFireMs ?? 0, lastFireMs: lastFireMs ?? 0,
                     lastDagId: lastDagId ?? "", runs: runs, skipped: skipped)
    }
}

/// Cron: each schedule submits its DAG when due (`CronPolicy` decides about overlap and missed
/// runs); one loop timer is armed for the earliest next firing.
extension SchedulerActor {
    func schedule(_ spec: ScheduleSpec, peer: any Peer, requestId: UInt32) {
        if let refusal = journalRefusal {
            reply(to: peer, requestId, .error(.unavailable, refusal))
            return
        }
        switch makeSchedule(spec) {
        case .failure(let problem):
            reply(to: peer, requestId, .error(.invalidRequest, problem.message))
        case .success(let record):
            if let old = schedules[spec.name], old.lastDagId != nil {
                // A replaced schedule keeps its history.
                record.lastDagId = old.lastDagId
                record.lastFireMs = old.lastFireMs
                record.runs = old.runs
                record.skipped = old.skipped
            }
            schedules[spec.name] = record
            journal(.scheduleSet(spec, createdAtMs: record.createdAtMs))
            armCronTimer()
            reply(to: peer, requestId, .scheduled(record.info))
            logger.info("schedule set", metadata: ["name": "\(spec.name)", "cron": "\(spec.cron)"])
        }
    }

    /// Checks a schedule whole (its name, cron expression, policies and DAG); nothing changes
    /// unless all of it is valid.
    func makeSchedule(_ spec: ScheduleSpec, createdAtMs: Int64? = nil) -> Result<ScheduleRecord, DagProblem> {
        let name = spec.name
        if let problem = Names.problem(name, kind: "schedule name") {
            return .failure(DagProblem(message: "field 'name': \(problem)"))
        }
        let cron: CronSchedule
        do {
            cron = try CronSchedule(parsing: spec.cron, timeZone: spec.timeZone.isEmpty ? nil : spec.timeZone)
        } catch {
            return .failure(DagProblem(message: "field 'cron': \(error)"))
        }
        guard let overlap = OverlapPolicy(rawValue: spec.overlap) else {
            let known = OverlapPolicy.allCases.map(\.rawValue).joined(separator: ", ")
            return .failure(DagProblem(message: "field 'overlap': '\(spec.overlap)' is not one of \(known)"))
        }
        guard let missed = MissedRunPolicy(rawValue: spec.missed) else {
            let known = MissedRunPolicy.allCases.map(\.rawValue).joined(separator: ", ")
            return .failure(DagProblem(message: "field 'missed': '\(spec.missed)' is not one of \(known)"))
        }
        if case .failure(let problem) = Self.validate(spec.dag) { return .failure(problem) }
        for (i, job) in spec.dag.jobs.enumerated() {
            if let problem = artifactProblem(job.spec) {
                return .failure(DagProblem(message: "invalid DAG: jobs[\(i)] '\(job.id)': \(problem)"))
            }
        }
        let now = createdAtMs ?? wallClockMs()
        let record = ScheduleRecord(spec: spec, cron: cron, overlap: overlap, missed: missed, createdAtMs: now)
        record.nextFireMs = cron.next(after: now)
        return .success(record)
    }

    func unschedule(_ name: String, peer: any Peer, requestId: UInt32) {
        guard schedules.removeValue(forKey: name) != nil else {
            reply(to: peer, requestId, .error(.notFound, "no schedule '\(name)'"))
            return
        }
        journal(.scheduleRemoved(name: name))
        armCronTimer()
        reply(to: peer, requestId, .ok)
    }

    func scheduleInfos() -> [ScheduleInfo] {
        schedules.values.map(\.info).sorted { $0.name < $1.name }
    }

    func armCronTimer() {
        guard let next = schedules.values.compactMap(\.nextFireMs).min() else {
            cronTimer?.assumeIsolated { $0.stop() }
            return
        }
        if cronTimer == nil { cronTimer = LoopTimer(loop: eventLoop) }
        let wait = UInt64(max(0, next - wallClockMs()))
        cronTimer?.assumeIsolated { t in
            t.start(afterMs: wait) { [weak self] in self?.assumeIsolated { $0.cronDue() } }
        }
    }

    /// Runs every schedule whose time has come.
    func cronDue() {
        let now = wallClockMs()
        for record in schedules.values.sorted(by: { $0.spec.name < $1.spec.name }) {
            guard let due = record.nextFireMs, due <= now else { continue }
            let previous = record.lastDagId.flatMap { dags[$0] }
            let decision = CronPolicy.decide(schedule: record.cron, lastFireMs: record.lastFireMs ?? record.createdAtMs,
                                             nowMs: now, previousRunActive: previous?.state == .running,
                                             overlap: record.overlap, missed: record.missed)
            if decision.cancelPrevious, let previous, previous.state == .running { cancelDag(previous) }
            // Firings that get no run of their own: skipped for overlap, or missed while down.
            record.skipped += UInt32(clamping: decision.missedRuns)
            if decision.start {
                switch createDag(record.spec.dag) {
                case .success(let dag):
                    record.lastDagId = dag.id
                    record.runs += 1
                    logger.info("schedule fired", metadata: ["name": "\(record.spec.name)", "dag": "\(dag.id)"])
                case .failure(let problem):
                    // Validated when scheduled; only reachable if validation rules change.
                    logger.error("schedule could not start its DAG: \(problem.message)", metadata: ["name": "\(record.spec.name)"])
                }
            } else if decision.missedRuns > 0 {
                logger.info("schedule skipped \(decision.missedRuns) run(s)", metadata: ["name": "\(record.spec.name)"])
            }
            record.lastFireMs = now
            record.nextFireMs = decision.nextFireMs
            journal(.scheduleState(name: record.spec.name, lastFireMs: now, lastDagId: record.lastDagId ?? "",
                                   runs: record.runs, skipped: record.skipped))
        }
        armCronTimer()
        schedule()
    }
}
