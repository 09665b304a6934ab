import TitanLoop
import TitanPolicy
import TitanProtocol
@_spi(Testing) import TitanStore

/// Durability: every state change becomes a journal record; what the scheduler sends during a
/// turn of the loop (replies, events, dispatches, acknowledgements) is held until that turn's
/// records are written, so nothing is acknowledged that a crash could lose. After a restart,
/// ``restore(_:)`` rebuilds the state from the records.
extension SchedulerActor {
    // MARK: sending

    /// Replies to a request; held until this turn's records are written.
    func reply(to peer: any Peer, _ requestId: UInt32, _ message: Message) {
        send(peer, Envelope(requestId: requestId, message: message))
    }

    /// Pushes a message (request id 0); held like replies.
    func push(to peer: any Peer, _ message: Message) {
        send(peer, Envelope(requestId: 0, message: message))
    }

    private func send(_ peer: any Peer, _ envelope: Envelope) {
        // Dispatches wait too: sent before its record, an attempt could be dispatched again
        // under the same number after a crash and run twice.
        guard journal != nil else { return peer.send(envelope) }
        peer.held(envelope)
        outbox.append((peer, envelope))
        scheduleCommit()
    }

    // MARK: recording

    func journal(_ record: JournalRecord) {
        guard let journal else { return }
        journal.record(record)
        scheduleCommit()
    }


    /// The job's fields changed: one `jobState` record with its fields at the end of the turn.
    func markDirty(_ job: JobRecord) {
        guard journal != nil, !job.dirty else { return }
        job.dirty = true
        dirtyJobs.append(job)
        scheduleCommit()
    }

    /// Why new work is refused, or nil: a master that cannot record must not accept.
    var journalRefusal: String? {
        journal?.failure.map {
            "the master cannot write its append-only file (\($0)); it accepts no new work until it can write it again"
        }
    }

    /// Commits at the end of this turn of the loop (the loop drains work queued from its own
    /// thread before it polls again), so everything one turn produced is written together.
    private func scheduleCommit() {
        guard !commitScheduled else { return }
        commitScheduled = true
        eventLoop.execute { [self] in self.assumeIsolated { $0.commit() } }
    }

    func commit() {
        commitScheduled = false
        guard let journal else { return }
        for job in dirtyJobs {
            job.dirty = false
            journal.record(.jobState(JobStateChange(
                id: job.info.id, state: job.info.state, attempts: job.info.attempts, workerId: job.info.workerId,
                result: job.info.result, notBeforeMs: job.info.notBeforeMs, failures: job.failures)))
        }
        dirtyJobs.removeAll(keepingCapacity: true)
        let out = outbox
        outbox = []
        let loop = eventLoop
        journal.commit(outbox: out, snapshot: { snapshotRecords() }, written: { [self] number, error in
            loop.execute { self.assumeIsolated { $0.journalWritten(number, error) } }
        }, compacted: { [self] result in
            loop.execute { self.assumeIsolated { $0.journal?.compactionFinished(result) } }
        })
    }

    private func journalWritten(_ number: UInt64, _ error: StoreError?) {
        guard let journal else { return }
        journal.written(number, error)
        if journal.failure != nil { armJournalRetry(journal) }
    }

    // MARK: recovery from a failed write

    /// After a failed write (a full disk), tries every `Journal.retryEveryMs` to write the
    /// file again; off the hot path, and only while the journal is failed.
    private func armJournalRetry(_ journal: Journal) {
        guard journal.retryTimer == nil else { return }
        let timer = LoopTimer(loop: eventLoop)
        journal.retryTimer = timer
        timer.assumeIsolated { t in
            t.start(afterMs: Journal.retryEveryMs, repeatMs: Journal.retryEveryMs) { [weak self] in
                self?.assumeIsolated { $0.retryJournal() }
            }
        }
    }

    /// Rewrites the whole file from memory (the snapshot compaction uses), so it matches the
    /// state exactly whatever the failed writes lost; what this turn still has to record is
    /// written after it (replaying a record again is harmless).
    func retryJournal() {
        guard let journal, journal.failure != nil, !journal.recovering else { return }
        let loop = eventLoop
        journal.retry(snapshot: snapshotRecords()) { [self] result in
            loop.execute { self.assumeIsolated { $0.journalRetried(result) } }
        }
    }

    private func journalRetried(_ result: Result<Int64, StoreError>) {
        guard let journal, journal.retried(result) else { return }
        journal.retryTimer?.assumeIsolated { $0.close() }
        journal.retryTimer = nil
    }

    /// Writes what is pending and closes the file (master shutdown).
    func closeJournal() async {
        if let timer = journal?.retryTimer {
            journal?.retryTimer = nil
            await timer.close()
        }
        if commitScheduled { commit() }
        // Held sends go out as their writes complete, before the close does.
        try? await journal?.log.close()
        journal = nil
    }

    /// Tests: make every later write fail as on a full disk.
    func redirectJournalForTesting(to device: String) throws {
        try journal?.log.redirectWritesForTesting(to: device)
    }

    /// Tests: the disk has room again (see `redirectJournalForTesting(to:)`); the journal's
    /// retry is what makes the master write (and accept work) again.
    func endJournalRedirectForTesting() {
        journal?.log.endRedirectForTesting()
    }

    // MARK: compaction

    /// Records that rebuild the live state: what a rewrite of the file keeps.
    func snapshotRecords() -> [[UInt8]] {
        var records: [JournalRecord] = [.instance(masterId: masterId),
                                        .counters(nextJob: nextJobNumber, nextDag: nextDagNumber)]
        func state(_ job: JobRecord) -> JournalRecord {
            .jobState(JobStateChange(id: job.info.id, state: job.info.state, attempts: job.info.attempts,
                                     workerId: job.info.workerId, result: job.info.result,
                                     notBeforeMs: job.info.notBeforeMs, failures: job.failures))
        }
        for id in dagOrder {
            guard let dag = dags[id] else { continue }
            let members = dag.jobIds.compactMap { jobs[$0] }
            guard members.count == dag.jobIds.count else { continue }
            let prefix = id.count + 1
            let spec = DagSpec(name: dag.name, jobs: members.map { job in
                DagJobSpec(id: String(job.info.id.dropFirst(prefix)), spec: job.info.spec,
                           dependsOn: job.info.parents.map { String($0.dropFirst(prefix)) }, affinity: job.affinity)
            })
            records.append(.dagCreated(id: id, spec: spec, submittedAtMs: dag.submittedAtMs))
            for job in members where job.info.state != .pending || job.info.attempts > 0 || job.info.notBeforeMs != 0 {
                records.append(state(job))
            }
            if dag.finishedAtMs > 0 { records.append(.dagFinished(id: id, atMs: dag.finishedAtMs)) }
        }
        for id in recentOrder {
            guard let job = jobs[id], job.info.dagId.isEmpty else { continue }
            records.append(.jobCreated(job.info))
            records.append(state(job))
        }
        for name in schedules.keys.sorted() {
            guard let s = schedules[name] else { continue }
            records.append(.scheduleSet(s.spec, createdAtMs: s.createdAtMs))
            records.append(.scheduleState(name: name, lastFireMs: s.lastFireMs ?? 0, lastDagId: s.lastDagId ?? "",
                                          runs: s.runs, skipped: s.skipped))
        }
        for mutation in kv.snapshotMutations() { records.append(.kv(mutation.encoded())) }
        for record in services.values.sorted(by: { $0.spec.name < $1.spec.name }) where !record.stopped && record.replica == 0 {
            records.append(.serviceSet(record.spec))
        }
        // Stopped ones too, oldest first, so that they are still listed after a restart.
        for record in services.values.filter({ $0.stopped && $0.replica == 0 }).sorted(by: { $0.stoppedAtMs < $1.stoppedAtMs }) {
            records.append(.serviceSet(record.spec))
            records.append(.serviceStopped(name: record.spec.name))
        }
        return records.map { $0.encoded() }
    }

    // MARK: restart

    /// Takes over the state replayed from the journal: jobs and DAGs as they were, pending jobs
    /// queued (or waiting for their delay or parents), running attempts waiting for their worker
    /// to re-register and report them (re-queued if it does not within `reclaimAfterMs`),
    /// schedules re-armed (a run missed while the master was down follows `on_missed`).
    func restore(_ state: RestoredState, reclaimAfterMs: UInt64) {
        adoptUntilMs = wallClockMs() + Int64(clamping: reclaimAfterMs)
        if let id = state.masterId { masterId = id }
        nextJobNumber = max(nextJobNumber, state.nextJob)
        nextDagNumber = max(nextDagNumber, state.nextDag)
        kv = state.kv
        if kv.nextExpiryMs != nil { armKVPurge() }
        var restoredDags: [DagRecord] = []
        for (isDag, id) in state.order {
            if isDag {
                guard let d = state.dags[id] else { continue }
                let fullIds = d.spec.jobs.map { "\(id)/\($0.id)" }
                let dag = DagRecord(id: id, name: d.spec.name, jobIds: fullIds, submittedAtMs: d.submittedAtMs)
                dag.counts = JobCounts()
                dag.finishedAtMs = d.finishedAtMs
                dags[id] = dag
                dagOrder.append(id)
                for (i, spec) in d.spec.jobs.enumerated() {
                    guard let info = state.jobs[fullIds[i]] else { continue }
                    let job = restoredJob(info, failures: state.failures[info.id] ?? 0)
                    job.affinity = spec.affinity
                    dag.counts[info.state] += 1
                }
                for (i, spec) in d.spec.jobs.enumerated() {
                    for parent in spec.dependsOn { jobs["\(id)/\(parent)"]?.children.append(fullIds[i]) }
                }
                restoredDags.append(dag)
            } else if let info = state.jobs[id] {
                let job = restoredJob(info, failures: state.failures[id] ?? 0)
                if info.state.isFinal { retainFinished(job) }
            }
        }
        // Pending jobs: wait for parents, skip below a failure (a crash can cut a cascade short),
        // or get ready.
        for dag in restoredDags {
            for id in dag.jobIds {
                guard let job = jobs[id], job.info.state == .pending else { continue }
                settle(job, ready: activate)
            }
            if dag.state.isFinal {
                if dag.finishedAtMs == 0 { dagFinishedNow(dag) } else { retainFinishedDag(dag) }
            }
        }
        for id in state.order.lazy.filter({ !$0.isDag }).map(\.id) {
            guard let job = jobs[id], job.info.state == .pending else { continue }
            activate(job)
        }
        // Open gates wait again; running attempts wait for their workers to re-register.
        for job in jobs.values where job.info.state == .running && job.info.spec.gate != nil { reopenGate(job) }
        for job in jobs.values where job.info.state == .running && job.info.spec.gate == nil && job.info.spec.service == nil {
            awaitingWorkers[job.info.workerId, default: []].insert(AttemptRef(jobId: job.info.id, attempt: job.info.attempts))
        }
        if !awaitingWorkers.isEmpty {
            let timer = LoopTimer(loop: eventLoop)
            reclaimTimer = timer
            timer.assumeIsolated { t in
                t.start(afterMs: reclaimAfterMs) { [weak self] in self?.assumeIsolated { $0.reclaimUnreported() } }
            }
        }
        // Services: their workers keep them running; each is adopted when its worker reports it,
        // and placed anew if none does within the reclaim window.
        for spec in state.services.values { instantiate(spec, restoring: true) }
        restoreStoppedServices(state.stoppedServices)
        restoreServiceJobs()
        if !state.services.isEmpty && reclaimTimer == nil {
            let timer = LoopTimer(loop: eventLoop)
            reclaimTimer = timer
            timer.assumeIsolated { t in
                t.start(afterMs: reclaimAfterMs) { [weak self] in self?.assumeIsolated { $0.reclaimUnreported() } }
            }
        }
        for (name, s) in state.schedules {
            guard case .success(let record) = makeSchedule(s.spec, createdAtMs: s.createdAtMs) else {
                logger.error("a journaled schedule is no longer valid; dropped", metadata: ["name": "\(name)"])
                continue
            }
            if s.lastFireMs > 0 { record.lastFireMs = s.lastFireMs }
            record.lastDagId = s.lastDagId.isEmpty ? nil : s.lastDagId
            record.runs = s.runs
            record.skipped = s.skipped
            // From the last firing: a time that passed while the master was down fires now, and
            // `CronPolicy` applies the missed-run policy.
            record.nextFireMs = record.cron.next(after: record.lastFireMs ?? record.createdAtMs)
            schedules[name] = record
        }
        armCronTimer()
        logger.info("state restored from the append-only file", metadata: [
            "records": "\(state.records)", "jobs": "\(jobs.count)", "dags": "\(dags.count)",
            "running": "\(awaitingWorkers.values.reduce(0) { $0 + $1.count })", "schedules": "\(schedules.count)",
        ])
        schedule()
    }

    private func restoredJob(_ info: JobInfo, failures: UInt32) -> JobRecord {
        let job = JobRecord(info: info, logLimit: config.logBytesPerJob)
        job.failures = failures
        jobs[info.id] = job
        recentOrder.append(info.id)
        noteAlias(info.id)
        return job
    }

    /// A pending job whose parents are done: queued, or parked until its time.
    private func activate(_ job: JobRecord) {
        if job.info.notBeforeMs > 0 {
            wait(job, untilMs: job.info.notBeforeMs)
        } else if !job.info.dagId.isEmpty {
            release(job)
        } else {
            let due = job.info.submittedAtMs + Int64(clamping: job.info.spec.delayMs)
            if job.info.spec.delayMs > 0 && due > wallClockMs() {
                wait(job, untilMs: due)
            } else {
                enqueue(job)
            }
        }
    }

    /// Attempts that were running at the restart and whose worker never came back to report
    /// them: run them again.
    func reclaimUnreported() {
        reclaimTimer?.assumeIsolated { $0.close() }
        reclaimTimer = nil
        let lost = awaitingWorkers.values.flatMap { $0 }
        awaitingWorkers = [:]
        for record in services.values where record.awaitingReport {
            record.awaitingReport = false
            record.generation += 1
            place(record)
        }
        guard !lost.isEmpty else { return }
        logger.warning("re-queueing attempts no worker reported after the restart", metadata: ["attempts": "\(lost.count)"])
        for ref in lost { requeueIfCurrent(ref) }
        schedule()
    }

    /// A worker reports an attempt the master has no record of dispatching (the crash came
    /// between the dispatch and its record): the job is pending, ready, and the attempt is newer
    /// than any recorded: adopt it instead of running the job a second time.
    func adopt(_ ref: AttemptRef, workerId: String) -> Bool {
        // Only while workers come back after a restart: at any other time a worker claiming an
        // attempt the master never gave out is not believed.
        guard wallClockMs() < adoptUntilMs else { return false }
        guard let job = jobs[ref.jobId], job.info.state == .pending, job.waitingOn == 0,
              ref.attempt > job.info.attempts else { return false }
        queue.remove(jobId: job.info.id, requirements: job.requirements)
        job.info.notBeforeMs = 0  // a parked entry is skipped when it comes due
        job.info.attempts = ref.attempt
        job.info.workerId = workerId
        move(job, to: .running)
        registry[workerId]?.running.insert(ref)
        publish(job)
        logger.info("adopted an unrecorded attempt", metadata: ["job": "\(ref.jobId)", "attempt": "\(ref.attempt)"])
        return true
    }
}
