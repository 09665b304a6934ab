import TitanPolicy
import TitanProtocol

/// DAGs: validated whole before anything runs; a job runs when all its parents completed; a job
/// that fails for good (or is cancelled) skips its descendants; cancel of a DAG cancels every
/// job still pending or running.
extension SchedulerActor {
    func submitDag(_ spec: DagSpec, follow: Bool, peer: any Peer, requestId: UInt32) {
        if let refusal = journalRefusal {
            reply(to: peer, requestId, .error(.unavailable, refusal))
            return
        }
        let dag: DagRecord
        switch createDag(spec) {
        case .success(let d): dag = d
        case .failure(let problem):
            reply(to: peer, requestId, .error(.invalidRequest, problem.message))
            return
        }
        // Nothing is dispatched before the batch's schedule(): a follower sees every event.
        if follow { watch(dag, peer: peer, logs: true) }
        reply(to: peer, requestId, .dagSubmitted(dagId: dag.id, jobIds: dag.jobIds))
        if follow { push(to: peer, .dagEvent(dag.event)) }
    }

    /// Why a DAG cannot be accepted.
    struct DagProblem: Error {
        var message: String
    }

    /// Checks a DAG's shape and every job's spec; returns its topological order.
    static func validate(_ spec: DagSpec) -> Result<[Int], DagProblem> {
        for (i, job) in spec.jobs.enumerated() {
            if let problem = Names.problem(job.id, kind: "job id") {
                return .failure(DagProblem(message: "invalid DAG: jobs[\(i)]: \(problem)"))
            }
        }
        if spec.name.utf8.count > 256 || Names.hasControlCharacters(spec.name) {
            return .failure(DagProblem(message: "invalid DAG: field 'name': at most 256 bytes, no control characters"))
        }
        let order: [Int]
        switch DagPlan.order(spec.jobs.map { ($0.id, $0.dependsOn) }) {
        case .success(let o): order = o
        case .failure(let problem): return .failure(DagProblem(message: "invalid DAG: \(problem)"))
        }
        for (i, job) in spec.jobs.enumerated() {
            if let problem = validate(job.spec) {
                return .failure(DagProblem(message: "invalid DAG: jobs[\(i)] '\(job.id)': \(problem)"))
            }
        }
        return .success(order)
    }

    /// Validates and creates a DAG whole, releasing its roots.
    func createDag(_ spec: DagSpec) -> Result<DagRecord, DagProblem> {
        let order: [Int]
        switch Self.validate(spec) {
        case .success(let o): order = o
        case .failure(let problem): return .failure(problem)
        }
        for (i, job) in spec.jobs.enumerated() {
            if let problem = artifactProblem(job.spec) {
                return .failure(DagProblem(message: "invalid DAG: jobs[\(i)] '\(job.id)': \(problem)"))
            }
        }
        // Valid: from here on it lands whole.
        let dagId = "dag-\(nextDagNumber)"
        nextDagNumber += 1
        let now = wallClockMs()
        let fullIds = spec.jobs.map { "\(dagId)/\($0.id)" }
        let dag = DagRecord(id: dagId, name: spec.name, jobIds: fullIds, submittedAtMs: now)
        dags[dagId] = dag
        dagOrder.append(dagId)
        journal(.dagCreated(id: dagId, spec: spec, submittedAtMs: now))
        let records = addJobs(spec.jobs, to: dagId, atMs: now)
        for record in records { record.waitingOn = record.info.parents.count }
        // Roots, in topological (then submission) order.
        for i in order where records[i].waitingOn == 0 { release(records[i]) }
        return .success(dag)
    }

    /// A job whose parents all completed (or a root) becomes ready, or waits out its delay
    /// (counted from the DAG's submission).
    func release(_ job: JobRecord) {
        if job.affinity != .none, let worker = affinityWorker(of: job) {
            if job.affinity == .hard {
                job.requirements.insert(Placement.pinTag(worker))
            } else {
                job.preferredWorker = worker
            }
        }
        let due = job.info.submittedAtMs + Int64(clamping: job.info.spec.delayMs)
        if job.info.spec.delayMs > 0 && due > wallClockMs() {
            wait(job, untilMs: due)
        } else {
            enqueue(job)
        }
    }

    /// The worker a job with affinity should follow: its first parent's, looking through approval
    /// gates (they run nowhere) to the job above them.
    func affinityWorker(of job: JobRecord) -> String? {
        var current = job
        for _ in 0 ..< 64 {  // gates above gates: bounded all the same
            guard let parent = current.info.parents.first.flatMap({ jobs[$0] }) else { return nil }
            if parent.info.spec.gate == nil { return parent.info.workerId.isEmpty ? nil : parent.info.workerId }
            current = parent
        }
        return nil
    }

    /// A DAG job reached a final state: release or skip its children, update the DAG.
    func dagJobFinished(_ job: JobRecord) {
        guard let dag = dags[job.info.dagId] else { return }
        if job.info.state == .completed {
            for childId in job.children {
                guard let child = jobs[childId], child.info.state == .pending, child.waitingOn > 0 else { continue }
                child.waitingOn -= 1
                if child.waitingOn == 0 { release(child) }
            }
        } else {
            // Failed, cancelled or skipped: nothing below it may run. The reason names the job
            // where it started (a skip below a skip keeps the first one's).
            let reason = job.info.state == .skipped ? job.info.result?.error ?? "upstream failed"
                : "upstream \(job.info.id) \(job.info.state)"
            for childId in job.children {
                guard let child = jobs[childId], child.info.state == .pending else { continue }
                queue.remove(jobId: childId, requirements: child.requirements)
                child.info.result = JobResult(error: reason)
                finish(child, state: .skipped)
            }
        }
        publish(dag)
        if dag.state.isFinal && dag.finishedAtMs == 0 { dagFinishedNow(dag) }
    }

    func dagFinishedNow(_ dag: DagRecord) {
        dag.finishedAtMs = wallClockMs()
        journal(.dagFinished(id: dag.id, atMs: dag.finishedAtMs))
        if !dagsWithServices.isEmpty { stopServices(ofDag: dag.id) }
        retainFinishedDag(dag)
    }

    /// A finished DAG's jobs join the retained ones; the oldest DAGs past the limit go.
    func retainFinishedDag(_ dag: DagRecord) {
        dag.watchers = [:]
        finishedDags.append(dag.id)
        for id in dag.jobIds { if let job = jobs[id] { retainFinished(job) } }
        // Forget the oldest finished DAGs past the limit (their jobs go with the job limit).
        while finishedDags.count > config.retainFinishedJobs, let old = finishedDags.popFirst() {
            dags[old] = nil
        }
        while dagOrder.count > config.retainFinishedJobs * 2, let first = dagOrder.first, dags[first] == nil {
            dagOrder.removeFirst()
        }
        logger.debug("DAG finished", metadata: ["dag": "\(dag.id)", "state": "\(dag.state)"])
    }

    func publish(_ dag: DagRecord) {
        guard !dag.watchers.isEmpty else { return }
        let message = Message.dagEvent(dag.event)
        for (_, watcher) in dag.watchers { push(to: watcher.peer, message) }
    }

    func watch(_ dag: DagRecord, peer: any Peer, logs: Bool) {
        dag.watchers[ObjectIdentifier(peer)] = (peer, logs)
        watchedJobs[ObjectIdentifier(peer), default: []].insert(dag.id)
    }

    /// Subscribing to a DAG: its current state, then every job event (and output) and DAG event.
    func subscribe(dag: DagRecord, logs: Bool, peer: any Peer, requestId: UInt32) {
        reply(to: peer, requestId, .ok)
        if !dag.state.isFinal { watch(dag, peer: peer, logs: logs) }
        push(to: peer, .dagEvent(dag.event))
    }

    func cancel(dag: DagRecord, peer: any Peer, requestId: UInt32) {
        guard !dag.state.isFinal else {
            reply(to: peer, requestId, .error(.invalidRequest, "DAG '\(dag.id)' already \(dag.state)"))
            return
        }
        cancelDag(dag)
        reply(to: peer, requestId, .ok)
    }

    /// Running jobs first, so their pending descendants are skipped rather than cancelled one by
    /// one; whatever is still pending after that is cancelled.
    func cancelDag(_ dag: DagRecord) {
        for id in dag.jobIds { if let job = jobs[id], job.info.state == .running { cancelJob(job) } }
        for id in dag.jobIds { if let job = jobs[id], job.info.state == .pending { cancelJob(job) } }
    }

    func dagInfo(_ dag: DagRecord, withJobs: Bool) -> DagInfo {
        DagInfo(id: dag.id, name: dag.name, state: dag.state, submittedAtMs: dag.submittedAtMs,
                finishedAtMs: dag.finishedAtMs, counts: dag.counts,
                jobs: withJobs ? dag.jobIds.compactMap { jobs[$0].map(statusInfo) } : [])
    }

    /// Why a DAG job waits on its parents, naming the ones not yet completed.
    func waitingReason(_ job: JobRecord) -> String {
        let open = job.info.parents.filter { jobs[$0]?.info.state != .completed }
            .map { $0.split(separator: "/", maxSplits: 1).last.map(String.init) ?? $0 }
        return "waiting for parents: \(open.joined(separator: ", "))"
    }
}

/// Growing a DAG while it runs: what an agent does when a step decides the next steps.
extension SchedulerActor {
    func extendDag(_ dagId: String, _ newJobs: [DagJobSpec], peer: any Peer, requestId: UInt32) {
        if let refusal = journalRefusal { return reply(to: peer, requestId, .error(.unavailable, refusal)) }
        guard let dag = dags[dagId] else { return reply(to: peer, requestId, .error(.notFound, "no DAG '\(dagId)'")) }
        let allIds = newJobs.map { "\(dagId)/\($0.id)" }
        // Idempotent: jobs the DAG already has (a retried request, an agent step re-run) stay.
        let added = newJobs.filter { jobs["\(dagId)/\($0.id)"] == nil }
        guard !added.isEmpty else { return reply(to: peer, requestId, .dagSubmitted(dagId: dagId, jobIds: allIds)) }
        guard !dag.state.isFinal else {
            return reply(to: peer, requestId, .error(.invalidRequest, "DAG '\(dagId)' already \(dag.state): it cannot grow"))
        }
        // Check the new jobs as a DAG of their own, parents that already exist counting as
        // satisfied-or-not later: they cannot depend on the new ones, so no cycle goes through them.
        let existing = Set(dag.jobIds)
        let local = added.map { job in DagJobSpec(id: job.id, spec: job.spec,
                                                  dependsOn: job.dependsOn.filter { !existing.contains("\(dagId)/\($0)") },
                                                  affinity: job.affinity) }
        let order: [Int]
        switch Self.validate(DagSpec(name: dag.name, jobs: local)) {
        case .success(let o): order = o
        case .failure(let problem): return reply(to: peer, requestId, .error(.invalidRequest, problem.message))
        }
        for (i, job) in added.enumerated() {
            if let problem = artifactProblem(job.spec) {
                return reply(to: peer, requestId, .error(.invalidRequest, "invalid DAG: jobs[\(i)] '\(job.id)': \(problem)"))
            }
        }
        // Valid: from here on it lands whole.
        let now = wallClockMs()
        journal(.dagExtended(id: dagId, jobs: added, atMs: now))
        let fullIds = added.map { "\(dagId)/\($0.id)" }
        dag.add(fullIds)
        let records = addJobs(added, to: dagId, atMs: now)
        reply(to: peer, requestId, .dagSubmitted(dagId: dagId, jobIds: allIds))
        publish(dag)
        // In topological order: a new job below a failed or cancelled one is skipped at once.
        for i in order { settle(records[i], ready: release) }
    }

    /// Creates the records of `specs`, jobs of DAG `dagId`, with their parent and child links.
    func addJobs(_ specs: [DagJobSpec], to dagId: String, atMs now: Int64) -> [JobRecord] {
        var records: [JobRecord] = []
        records.reserveCapacity(specs.count)
        for job in specs {
            let fullId = "\(dagId)/\(job.id)"
            let info = JobInfo(id: fullId, spec: job.spec, state: .pending, submittedAtMs: now, dagId: dagId,
                               parents: job.dependsOn.map { "\(dagId)/\($0)" })
            let record = JobRecord(info: info, logLimit: config.logBytesPerJob)
            record.affinity = job.affinity
            if record.info.spec.name.isEmpty { record.info.spec.name = job.id }
            jobs[fullId] = record
            recentOrder.append(fullId)
            noteAlias(fullId)
            records.append(record)
        }
        for (job, record) in zip(specs, records) {
            for parent in job.dependsOn { jobs["\(dagId)/\(parent)"]?.children.append(record.info.id) }
        }
        return records
    }

    /// A pending DAG job whose parents may have ended already (a DAG grown while it runs, or
    /// state replayed after a restart): skipped below a failed or cancelled parent, handed to
    /// `ready` when every parent completed, otherwise left waiting for the rest.
    func settle(_ job: JobRecord, ready: (JobRecord) -> Void) {
        let parents = job.info.parents.compactMap { jobs[$0] }
        if let bad = parents.first(where: { $0.info.state.isFinal && $0.info.state != .completed }) {
            job.info.result = JobResult(error: "upstream \(bad.info.id) \(bad.info.state)")
            finish(job, state: .skipped)
            return
        }
        job.waitingOn = parents.filter { $0.info.state != .completed }.count
        if job.waitingOn == 0 { ready(job) }
    }
}
