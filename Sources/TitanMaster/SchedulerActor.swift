import DequeModule
import Logging
import TitanLoop
import TitanPolicy
import TitanProtocol
import TitanStore

/// Tunables of the master's scheduling core.
public struct SchedulerConfig: Sendable {
    /// Finished jobs kept for status queries; older ones are forgotten (bounded memory).
    public var retainFinishedJobs = 10_000
    /// Output bytes kept in memory per job: its recent tail (all of it is on disk when the
    /// master has a data directory).
    public var logBytesPerJob = 256 << 10
    /// Output bytes kept in memory for all finished jobs together; the oldest finished jobs'
    /// output is dropped first.
    public var logBytesFinishedTotal = 256 << 20
    /// Heartbeat period asked of workers.
    public var heartbeatIntervalMs: UInt32 = 1_000
    /// Stopped services kept for `titan services`; the oldest stopped ones past this are forgotten.
    public var retainStoppedServices = 1_000

    public init() {}
}

/// The master's brain: jobs, the ready queues, workers and their attempts. Runs on the loop
/// executor; connections enter it synchronously (`assumeIsolated`) once per read callback with
/// every message that callback decoded, then ``schedule()`` runs once for the batch.
///
/// Completion is recorded once: a result counts only for the job's current attempt while it is
/// running; anything else is stale and only acknowledged.
public actor SchedulerActor: LoopBound {
    final class JobRecord {
        var info: JobInfo
        /// Capability tags a worker needs (plus `worker:ID` under hard affinity).
        var requirements: Set<String>
        var logs: LogBuffer
        /// Attempts that ended in failure (not those lost with a dead worker): counts retries.
        var failures: UInt32 = 0
        /// Subscribed peers, and whether each wants output.
        var watchers: [ObjectIdentifier: (peer: any Peer, logs: Bool)] = [:]
        /// In a DAG: the full ids of the jobs that depend on this one.
        var children: [String] = []
        /// In a DAG: parents not yet completed.
        var waitingOn = 0
        var affinity = Affinity.none
        /// Soft affinity: the worker to try first.
        var preferredWorker: String?
        /// Changed this turn: gets a journal record at the commit.
        var dirty = false
        /// An approval gate, or a service started by a DAG: no process of its own. (Stored, so
        /// the hot paths test a constant rather than read through `info`.)
        let isGate: Bool
        let isService: Bool

        init(info: JobInfo, logLimit: Int) {
            self.info = info
            isGate = info.spec.gate != nil
            isService = info.spec.service != nil
            requirements = Set(info.spec.requirements)
            logs = LogBuffer(limitBytes: logLimit, complete: info.attempts == 0)
        }
    }

    public nonisolated let eventLoop: EventLoop
    let config: SchedulerConfig
    let logger: Logger
    let wallClockMs: @Sendable () -> Int64
    var jobs: [String: JobRecord] = [:]
    var queue = ReadyQueue()
    /// Pending jobs waiting for their start delay or retry backoff.
    var delayed = DelayQueue()
    var delayTimer: LoopTimer?
    /// Retry backoff doubles from the job's retry delay up to this.
    static let maxRetryDelayMs: UInt64 = 300_000
    var registry = WorkerRegistry()
    var finishedOrder = Deque<String>()
    /// Finished jobs that still hold output, oldest first, and the bytes they hold.
    private var finishedWithLogs = Deque<String>()
    private var finishedLogBytes = 0
    var recentOrder = Deque<String>()
    var nextJobNumber: UInt64 = 1
    /// DAGs by id, and the order they were submitted in (for listings and retention).
    var dags: [String: DagRecord] = [:]
    var dagOrder = Deque<String>()
    var finishedDags = Deque<String>()
    var nextDagNumber: UInt64 = 1
    /// Cron schedules by name, and the timer armed for the earliest firing.
    var schedules: [String: ScheduleRecord] = [:]
    var cronTimer: LoopTimer?
    /// Set by the master node: told of every sign of life from a worker.
    var heartbeatMonitor: HeartbeatMonitor?
    /// This master instance, random per process (kept in the data directory once state is
    /// durable): DAG ids are unique only within one instance.
    var masterId = String(UInt64.random(in: 0...UInt64.max), radix: 36)
    /// Set by the master node when it has a data directory: every job's whole output.
    var logStore: LogStore?
    /// Set by the master node when it has a data directory: uploaded files and projects.
    var artifacts: ArtifactService?
    /// Set by the master node when it has a data directory: the append-only file. Without it,
    /// state lives in memory only and sends go out at once.
    var journal: Journal?
    /// Sends held until this turn's records are written.
    var outbox: [(any Peer, Envelope)] = []
    var commitScheduled = false
    var dirtyJobs: [JobRecord] = []
    /// After a restart: attempts the journal says were running, by worker, until the worker
    /// re-registers and reports them.
    var awaitingWorkers: [String: Set<AttemptRef>] = [:]
    var reclaimTimer: LoopTimer?
    /// Until then (wall clock), workers re-registering after a restart may report attempts whose
    /// dispatch the journal lost (see `adopt`).
    var adoptUntilMs: Int64 = 0
    /// The latest DAG job with each short id, under `DAG-` + that id (see `resolve`): the names
    /// the original Titan's users give jobs (`extract`, `DAG-extract`), not `dag-7/extract`.
    var jobAliases: [String: String] = [:]
    /// Service copies by instance name (`NAME`, `NAME#1`, ...).
    var services: [String: ServiceRecord] = [:]
    /// DAG jobs that are services, waiting for every copy to be healthy: service name → job id.
    var serviceJobs: [String: String] = [:]
    /// DAGs that have service jobs: their jobs may need `TITAN_SVC_*`, and their services stop
    /// when they end.
    var dagsWithServices: Set<String> = []
    /// Service jobs with a `timeout`: they fail if their service is not healthy by then.
    var serviceJobTimers: [String: LoopTimer] = [:]
    /// Open approval gates: their status key → job id; and their deadlines.
    var openGates: [String: String] = [:]
    var gateTimers: [String: LoopTimer] = [:]
    /// The KV store shared by jobs and agents.
    var kv = KVState()
    var kvPurgeTimer: LoopTimer?
    /// Set by the master node when it authenticates connections: the tokens it accepts.
    var auth: TokenRegistry?

    public init(loop: EventLoop, config: SchedulerConfig = SchedulerConfig(), logger: Logger,
                wallClockMs: @escaping @Sendable () -> Int64 = { Time.wallMs() }) {
        eventLoop = loop
        self.config = config
        self.logger = logger
        self.wallClockMs = wallClockMs
    }

    // MARK: messages

    /// Handles one message from `peer`. Call ``schedule()`` after a batch.
    public func handle(_ envelope: Envelope, from peer: any Peer) {
        let rid = envelope.requestId
        switch envelope.message {
        case .ping:
            reply(to: peer, rid, .pong)
        case .register(let registration):
            register(registration, peer: peer, requestId: rid)
        case .heartbeat(let running):
            if let id = registry.workerId(of: peer) { heard(id) }
            _ = running
        case .jobOutput(let ref, let stream, let bytes):
            output(ref, stream, bytes, from: peer)
        case .jobFinished(let ref, let result):
            finished(ref, result, from: peer)
        case .submit(let spec, let follow):
            submit(spec, follow: follow, peer: peer, requestId: rid)
        case .submitDag(let dag, let follow):
            submitDag(dag, follow: follow, peer: peer, requestId: rid)
        case .getDag(let dagId):
            if let dag = dags[dagId] {
                reply(to: peer, rid, .dag(dagInfo(dag, withJobs: true)))
            } else {
                reply(to: peer, rid, .error(.notFound, "no DAG '\(dagId)'"))
            }
        case .listDags(let limit):
            let ids = dagOrder.suffix(Int(min(limit, 10_000)))
            reply(to: peer, rid, .dags(ids.reversed().compactMap { dags[$0].map { dagInfo($0, withJobs: false) } }))
        case .schedule(let spec):
            schedule(spec, peer: peer, requestId: rid)
        case .listSchedules:
            reply(to: peer, rid, .schedules(scheduleInfos()))
        case .unschedule(let name):
            unschedule(name, peer: peer, requestId: rid)
        case .uploadArtifact, .fetchArtifact, .getArtifact:
            handleArtifact(envelope.message, from: peer, requestId: rid)
        case .kv(let op):
            handleKV(op, peer: peer, requestId: rid)
        case .extendDag(let dagId, let newJobs):
            extendDag(dagId, newJobs, peer: peer, requestId: rid)
        case .getStatus(let asked):
            let jobId = resolve(asked)
            if let job = jobs[jobId] {
                reply(to: peer, rid, .status(statusInfo(job)))
            } else {
                reply(to: peer, rid, .error(.notFound, "no job '\(jobId)'"))
            }
        case .listWorkers:
            reply(to: peer, rid, .workers(workerInfos()))
        case .listJobs(let limit):
            // Capped so the reply stays far below the frame limit (a JobInfo is a few hundred bytes).
            let ids = recentOrder.suffix(Int(min(limit, 10_000)))
            reply(to: peer, rid, .jobs(ids.reversed().compactMap { jobs[$0].map(statusInfo) }))
        case .subscribe(let jobId, let logs):
            subscribe(resolve(jobId), logs: logs, peer: peer, requestId: rid)
        case .unsubscribe(let jobId):
            jobs[jobId]?.watchers[ObjectIdentifier(peer)] = nil
            dags[jobId]?.watchers[ObjectIdentifier(peer)] = nil
            reply(to: peer, rid, .ok)
        case .cancel(let jobId):
            cancel(resolve(jobId), peer: peer, requestId: rid)
        case .getStats:
            reply(to: peer, rid, .stats(clusterStats()))
        case .deployService, .listServices, .stopService, .restartService, .serviceReport:
            handleService(envelope.message, from: peer, requestId: rid)
        case .getLogs(let asked):
            getLogs(resolve(asked), peer: peer, requestId: rid)
        case .readLogs(let read):
            readLogs(read, peer: peer, requestId: rid)
        case .token(let op):
            handleToken(op, peer: peer, requestId: rid)
        case .authHello, .authProof:
            reply(to: peer, rid, .error(.invalidRequest, "already authenticated"))
        case .authChallenge, .authOk, .tokenResult,
             .ok, .error, .pong, .registered, .dispatch, .kill, .ackFinished, .submitted, .status,
             .workers, .jobs, .logs, .event, .output, .dagSubmitted, .dag, .dags, .dagEvent, .scheduled, .schedules,
             .artifactData, .artifactStored, .kvResult, .stats, .serviceInfos, .runService, .endService, .logPage:
            reply(to: peer, rid, .error(.invalidRequest, "message \(envelope.message.name) is not a request to the master"))
        }
    }

    /// A connection closed. Workers keep their attempts until the failure detector declares them
    /// dead, so a worker that reconnects quickly loses nothing.
    public func peerClosed(_ peer: any Peer) {
        let key = ObjectIdentifier(peer)
        for id in watchedJobs[key] ?? [] {
            jobs[id]?.watchers[key] = nil
            dags[id]?.watchers[key] = nil
        }
        watchedJobs[key] = nil
        for record in services.values where !record.watchers.isEmpty { record.watchers[key] = nil }
        artifacts?.abandonUploads(peer: Self.peerKey(peer))
        forgetAuthenticated(peer)
        if let id = registry.disconnected(peer) {
            if let entry = registry[id], entry.draining, entry.running.isEmpty,
               !services.values.contains(where: { $0.info.workerId == id && !$0.stopped }) {
                // Retired by the scaler and left with nothing to do: gone on purpose, not silent
                // (the failure detector would call it suspect, then dead).
                _ = registry.remove(id)
                heartbeatMonitor?.assumeIsolated { $0.forget(id) }
                logger.info("worker retired", metadata: ["worker": "\(id)"])
            } else {
                logger.info("worker disconnected", metadata: ["worker": "\(id)"])
            }
        }
    }

    var watchedJobs: [ObjectIdentifier: Set<String>] = [:]

    // MARK: clients

    private func submit(_ spec: JobSpec, follow: Bool, peer: any Peer, requestId: UInt32) {
        if let problem = journalRefusal ?? Self.validate(spec) ?? artifactProblem(spec) {
            reply(to: peer, requestId, .error(.invalidRequest, problem))
            return
        }
        let id = "job-\(nextJobNumber)"
        nextJobNumber += 1
        let job = JobRecord(info: JobInfo(id: id, spec: spec, state: .pending, submittedAtMs: wallClockMs()),
                            logLimit: config.logBytesPerJob)
        jobs[id] = job
        recentOrder.append(id)
        journal(.jobCreated(job.info))
        if follow { watch(job, peer: peer, logs: true) }
        reply(to: peer, requestId, .submitted(jobId: id))
        if spec.delayMs > 0 {
            wait(job, untilMs: job.info.submittedAtMs + Int64(clamping: spec.delayMs))
        } else {
            enqueue(job)
        }
    }

    /// Longest delay, retry delay or timeout accepted: a year.
    static let maxDurationMs: UInt64 = 365 * 86_400 * 1_000
    static let maxRetries: UInt32 = 10_000

    /// Checks a submission; returns what is wrong with it, or nil.
    static func validate(_ spec: JobSpec) -> String? {
        if spec.gate != nil && spec.service != nil { return "field 'service': a job is a gate or a service, not both" }
        if let gate = spec.gate {
            // A gate runs nothing: its command is ignored.
            if gate.message.utf8.count > 65_536 { return "field 'gate.message': longer than 64 KiB" }
            if gate.timeoutMs > maxDurationMs { return "field 'gate.timeoutMs': \(gate.timeoutMs) ms is more than a year" }
            return nil
        }
        if let service = spec.service {
            var plain = spec
            plain.service = nil
            let probe = ServiceSpec(name: service.name.isEmpty ? "job" : service.name, command: spec.command,
                                    restart: service.restart, port: service.port, health: service.health,
                                    replicas: service.replicas)
            if let problem = validate(plain) { return problem }
            if spec.retries > 0 {
                return "field 'retries': a service is restarted per its restart policy, not retried"
            }
            // The command was checked above: what is left is about the service's own fields.
            return validate(probe).map { $0.replacingOccurrences(of: "field '", with: "field 'service.") }
        }
        guard let program = spec.command.first else { return "field 'command': must not be empty" }
        if program.isEmpty { return "field 'command[0]': program name must not be empty" }
        for (i, arg) in spec.command.enumerated() where arg.utf8.contains(0) {
            return "field 'command[\(i)]': contains a NUL byte"
        }
        for (key, value) in spec.environment {
            if key.isEmpty || key.contains("=") || key.utf8.contains(0) {
                return "field 'environment': invalid variable name '\(key)'"
            }
            if value.utf8.contains(0) { return "field 'environment[\(key)]': contains a NUL byte" }
        }
        if spec.workingDirectory.utf8.contains(0) { return "field 'workingDirectory': contains a NUL byte" }
        for (field, ms) in [("delayMs", spec.delayMs), ("retryDelayMs", spec.retryDelayMs), ("timeoutMs", spec.timeoutMs)]
        where ms > maxDurationMs {
            return "field '\(field)': \(ms) ms is more than a year"
        }
        if spec.retries > maxRetries { return "field 'retries': \(spec.retries) is more than \(maxRetries)" }
        for tag in spec.requirements where tag.isEmpty || tag.contains(",") {
            return "field 'requirements': invalid capability tag '\(tag)'"
        }
        for (i, artifact) in spec.artifacts.enumerated() {
            if let problem = artifact.problem { return "field 'artifacts[\(i)]': \(problem)" }
        }
        return nil
    }

    func watch(_ job: JobRecord, peer: any Peer, logs: Bool) {
        job.watchers[ObjectIdentifier(peer)] = (peer, logs)
        watchedJobs[ObjectIdentifier(peer), default: []].insert(job.info.id)
    }

    func subscribe(_ jobId: String, logs: Bool, peer: any Peer, requestId: UInt32) {
        if case let copies = service(named: jobId), !copies.isEmpty {
            return subscribe(service: copies, as: jobId, logs: logs, peer: peer, requestId: requestId)
        }
        if let dag = dags[jobId] {
            subscribe(dag: dag, logs: logs, peer: peer, requestId: requestId)
            return
        }
        guard let job = jobs[jobId] else {
            reply(to: peer, requestId, .error(.notFound, "no job '\(jobId)'"))
            return
        }
        reply(to: peer, requestId, .ok)
        if logs, !job.logs.holdsAll, let store = logStore {
            replayFromDisk(job, to: peer, store: store)
            return
        }
        if logs {
            for chunk in job.logs.retained { push(to: peer, .output(jobId: jobId, chunk.stream, chunk.bytes)) }
        }
        if job.info.state.isFinal {
            push(to: peer, .event(event(for: job)))
        } else {
            if job.info.state == .running { push(to: peer, .event(event(for: job))) }
            watch(job, peer: peer, logs: logs)
        }
    }

    func cancel(_ jobId: String, peer: any Peer, requestId: UInt32) {
        if let dag = dags[jobId] {
            cancel(dag: dag, peer: peer, requestId: requestId)
            return
        }
        guard let job = jobs[jobId] else {
            reply(to: peer, requestId, .error(.notFound, "no job '\(jobId)'"))
            return
        }
        guard !job.info.state.isFinal else {
            reply(to: peer, requestId, .error(.invalidRequest, "job '\(jobId)' already \(job.info.state)"))
            return
        }
        cancelJob(job)
        reply(to: peer, requestId, .ok)
    }

    /// Cancels a pending or running job (killing its process group); in a DAG its descendants
    /// are skipped.
    func cancelJob(_ job: JobRecord) {
        switch job.info.state {
        case .pending:
            // A delayed job has no queue entry; its timer entry is skipped when it comes due.
            queue.remove(jobId: job.info.id, requirements: job.requirements)
        case .running where job.isGate || job.isService:
            break  // no process of its own: `finish` closes the gate or stops the service
        case .running:
            // The worker kills the process group; its slot frees when it reports the attempt.
            let ref = AttemptRef(jobId: job.info.id, attempt: job.info.attempts)
            if let peer = registry[job.info.workerId]?.peer { push(to: peer, .kill(ref)) }
        case .completed, .failed, .cancelled, .skipped:
            return
        }
        finish(job, state: .cancelled)
    }

    // MARK: workers

    private func register(_ registration: Registration, peer: any Peer, requestId: UInt32) {
        let id = registration.workerId
        if let problem = Self.registrationProblem(registration, peer: peer, current: registry[id],
                                                  registeredAs: registry.workerId(of: peer)) {
            logger.warning("refused a worker registration", metadata: [
                "worker": "\(Names.printable(id))", "peer": "\(peer.label)", "reason": "\(problem)",
            ])
            reply(to: peer, requestId, .error(.invalidRequest, problem))
            return
        }
        let now = wallClockMs()
        let previous = registry.upsert(registration, peer: peer, nowMs: now)
        if let previous, previous.connected, previous.peer !== peer { previous.peer.close() }
        // Reconcile: keep attempts that are still current, kill the rest, re-queue the lost. Only
        // the process that was given an attempt can hold it: a new process under a known id (a
        // restarted worker, or an impostor) has its predecessor's attempts re-queued, not adopted.
        var kept: Set<AttemptRef> = []
        let restored = awaitingWorkers.removeValue(forKey: id) ?? []
        let sameProcess = previous.map { $0.registration.instance == registration.instance } ?? true
        for ref in registration.running {
            if !sameProcess {
                push(to: peer, .kill(ref))
            } else if let job = jobs[ref.jobId], job.info.state == .running, job.info.attempts == ref.attempt,
               job.info.workerId == id {
                kept.insert(ref)
            } else if adopt(ref, workerId: id) || adoptService(ref, workerId: id) {
                kept.insert(ref)
            } else {
                push(to: peer, .kill(ref))
            }
        }
        for ref in (previous?.running ?? []).union(restored) where !kept.contains(ref) {
            requeueIfCurrent(ref)
        }
        registry[id]?.running = kept
        heartbeatMonitor?.assumeIsolated { $0.heard(id) }
        reply(to: peer, requestId, .registered(workerId: id, heartbeatIntervalMs: config.heartbeatIntervalMs, masterId: masterId))
        logger.info("worker registered", metadata: [
            "worker": "\(id)", "caps": "\(registration.capabilities.joined(separator: ","))",
            "slots": "\(registration.slots)", "reconnect": "\(previous != nil)",
        ])
    }

    /// Why a registration is refused, or nil. A worker's identity cannot be taken over: a process
    /// registers with a random instance token, and while a connection holds the id, only the same
    /// process (same token, e.g. reconnecting over a new connection) may register it again.
    static func registrationProblem(_ registration: Registration, peer: any Peer, current: WorkerRegistry.Entry?,
                                    registeredAs: String?) -> String? {
        let id = registration.workerId
        if let problem = Names.problem(id, kind: "worker id") { return problem }
        if registration.slots == 0 { return "field 'slots': a worker needs at least one slot" }
        if registration.slots > 100_000 { return "field 'slots': \(registration.slots) is more than 100000" }
        if registration.instance.count < 8 || registration.instance.utf8.count > 128 {
            return "field 'instance': a worker registers with a random token of 8 to 128 bytes that names its process"
        }
        for tag in registration.capabilities {
            if let problem = Names.problem(tag, kind: "capability") { return "field 'capabilities': \(problem)" }
        }
        if registration.name.utf8.count > 256 || registration.address.utf8.count > 256
            || Names.hasControlCharacters(registration.name) || Names.hasControlCharacters(registration.address) {
            return "field 'name' or 'address': at most 256 bytes, no control characters"
        }
        if let registeredAs, registeredAs != id {
            return "this connection is already registered as worker '\(registeredAs)'"
        }
        if let current, current.connected, current.peer !== peer, current.registration.instance != registration.instance {
            // Another process with the same id: the one connected keeps it (replacing it would
            // make the two take turns, each killing the other's jobs).
            return "worker id '\(id)' is in use by another connected worker process; give each worker its own --id"
        }
        return nil
    }

    private func heard(_ id: String) {
        registry[id]?.heard(atMs: wallClockMs())
        heartbeatMonitor?.assumeIsolated { $0.heard(id) }
    }

    /// The failure detector's verdicts.
    func workerHealth(_ id: String, _ health: FailureDetector.Health) {
        switch health {
        case .alive:
            registry[id]?.suspect = false
        case .suspect:
            registry[id]?.suspect = true
            logger.warning("worker suspect: no heartbeat", metadata: ["worker": "\(id)"])
        case .dead:
            guard let entry = registry.remove(id) else { return }
            logger.warning("worker dead: re-queueing its attempts", metadata: [
                "worker": "\(id)", "attempts": "\(entry.running.count)",
            ])
            if entry.connected { entry.peer.close() }
            for ref in entry.running { requeueIfCurrent(ref) }
            failJobsPinned(to: id)
            replaceServices(of: id)
        }
    }

    /// Jobs that must run on a worker that died (hard affinity: they read files their parent left
    /// there) can never run: fail them, naming why, rather than wait forever.
    private func failJobsPinned(to workerId: String) {
        let pin = Placement.pinTag(workerId)
        let stranded = jobs.values.filter { $0.info.state == .pending && $0.requirements.contains(pin) }
        for job in stranded {
            queue.remove(jobId: job.info.id, requirements: job.requirements)
            job.info.result = JobResult(error: "worker \(workerId) died, and this job must run there "
                                        + "(hard affinity: it reads its parent's files)")
            finish(job, state: .failed)
        }
    }

    func requeueIfCurrent(_ ref: AttemptRef) {
        if ref.jobId.hasPrefix("svc/") {
            // A service placement its worker no longer has (or a dead worker's): place it anew.
            if let record = services[String(ref.jobId.dropFirst(4))], record.generation == ref.attempt, !record.stopped {
                record.generation += 1
                record.info.workerId = ""
                place(record)
            }
            return
        }
        guard let job = jobs[ref.jobId], job.info.state == .running, job.info.attempts == ref.attempt else { return }
        move(job, to: .pending)
        enqueue(job)
        publish(job)
    }

    /// Output of an attempt, believed only from the connection of the worker that holds it now.
    func output(_ ref: AttemptRef, _ stream: OutputChannel, _ bytes: [UInt8], from peer: any Peer) {
        guard let workerId = registry.workerId(of: peer) else { return }
        if ref.jobId.hasPrefix("svc/") { return serviceOutput(ref, stream, bytes, from: workerId) }
        guard let job = jobs[ref.jobId], job.info.attempts == ref.attempt, job.info.workerId == workerId else { return }
        job.logs.append(stream, bytes)
        logStore?.send(.append(jobId: ref.jobId, stream, bytes))
        for (_, watcher) in job.watchers where watcher.logs {
            push(to: watcher.peer, .output(jobId: ref.jobId, stream, bytes))
        }
        if let dag = dags[job.info.dagId] {
            for (key, watcher) in dag.watchers where watcher.logs && job.watchers[key] == nil {
                push(to: watcher.peer, .output(jobId: ref.jobId, stream, bytes))
            }
        }
    }

    /// A result, believed only from the connection of the registered worker that holds the
    /// attempt now. Workers register (naming the finished attempts they still hold) before they
    /// re-send results, so a result from any other connection is a forgery or a stale echo.
    private func finished(_ ref: AttemptRef, _ result: JobResult, from peer: any Peer) {
        guard let workerId = registry.workerId(of: peer) else {
            logger.warning("ignored a job result from a connection that is not a registered worker",
                           metadata: ["peer": "\(peer.label)", "job": "\(ref.jobId)"])
            return push(to: peer, .error(.invalidRequest, "only the registered worker that runs an attempt may report it"))
        }
        // Always acknowledge, stale or not: the worker may forget it either way.
        push(to: peer, .ackFinished(ref))
        registry[workerId]?.running.remove(ref)
        heard(workerId)
        awaitingWorkers[workerId]?.remove(ref)
        guard let job = jobs[ref.jobId], job.info.state == .running, job.info.attempts == ref.attempt,
              job.info.workerId == workerId else {
            return
        }
        job.info.result = result
        if result.succeeded {
            finish(job, state: .completed)
            return
        }
        job.failures += 1
        guard job.failures <= job.info.spec.retries else {
            finish(job, state: .failed)
            return
        }
        // Retry after an exponential, jittered backoff; subscribers see it go back to PENDING.
        let backoff = Backoff(initialMs: job.info.spec.retryDelayMs, maxMs: Self.maxRetryDelayMs)
        var rng = SystemRandomNumberGenerator()
        let delay = backoff.jitteredDelayMs(attempt: Int(job.failures - 1), using: &rng)
        move(job, to: .pending)
        wait(job, untilMs: wallClockMs() + Int64(clamping: delay))
        publish(job)
    }

    // MARK: delays and retries

    /// Parks a pending job until `untilMs` (wall clock).
    func wait(_ job: JobRecord, untilMs: Int64) {
        job.info.notBeforeMs = untilMs
        markDirty(job)
        delayed.push(jobId: job.info.id, dueMs: untilMs)
        armDelayTimer()
    }

    private func armDelayTimer() {
        guard let next = delayed.nextDueMs else {
            delayTimer?.assumeIsolated { $0.stop() }
            return
        }
        if delayTimer == nil { delayTimer = LoopTimer(loop: eventLoop) }
        let wait = UInt64(max(0, next - wallClockMs()))
        delayTimer?.assumeIsolated { t in
            t.start(afterMs: wait) { [weak self] in self?.assumeIsolated { $0.delaysDue() } }
        }
    }

    /// Moves jobs whose time has come to their ready queue.
    func delaysDue() {
        for (id, due) in delayed.popDue(nowMs: wallClockMs()) {
            // Skip entries of jobs cancelled (or re-parked) since.
            guard let job = jobs[id], job.info.state == .pending, job.info.notBeforeMs == due else { continue }
            job.info.notBeforeMs = 0
            enqueue(job)
        }
        armDelayTimer()
        schedule()
    }

    func finish(_ job: JobRecord, state: JobState) {
        if job.isGate { gateClosed(job) } else if !job.info.dagId.isEmpty { scriptGateEnded(job) }
        if job.isService { serviceJobClosed(job) }
        move(job, to: state)
        // Only jobs that printed something have a file to close (no per-job hop otherwise).
        if job.logs.everWritten { logStore?.send(.finished(jobId: job.info.id)) }
        publish(job)
        job.watchers = [:]
        if !job.info.dagId.isEmpty {
            // DAG jobs are retained (and forgotten) with their DAG.
            dagJobFinished(job)
            return
        }
        retainFinished(job)
    }

    /// Changes a job's state, keeping its DAG's counts in step.
    func move(_ job: JobRecord, to state: JobState) {
        if let dag = dags[job.info.dagId] {
            dag.counts[job.info.state] -= 1
            dag.counts[state] += 1
        }
        job.info.state = state
        markDirty(job)
    }

    /// Bounded memory: forgets the oldest finished jobs and their output past the limits.
    func retainFinished(_ job: JobRecord) {
        finishedOrder.append(job.info.id)
        while finishedOrder.count > config.retainFinishedJobs {
            let old = finishedOrder.removeFirst()
            if let gone = jobs.removeValue(forKey: old) {
                forgetAlias(old)
                finishedLogBytes -= gone.logs.bytes
                if gone.logs.everWritten { logStore?.send(.remove(jobId: old)) }
            }
        }
        if job.logs.bytes > 0 {
            finishedWithLogs.append(job.info.id)
            finishedLogBytes += job.logs.bytes
        }
        while finishedLogBytes > config.logBytesFinishedTotal, let oldest = finishedWithLogs.popFirst() {
            guard let old = jobs[oldest] else { continue }
            finishedLogBytes -= old.logs.bytes
            old.logs.dropAll()
        }
        while recentOrder.count > config.retainFinishedJobs * 2, let first = recentOrder.first, jobs[first] == nil {
            recentOrder.removeFirst()
        }
    }

    func event(for job: JobRecord) -> JobEvent {
        JobEvent(jobId: job.info.id, state: job.info.state, attempt: job.info.attempts,
                 workerId: job.info.workerId, result: job.info.state.isFinal ? job.info.result : nil)
    }

    func publish(_ job: JobRecord) {
        let dagWatchers = dags[job.info.dagId]?.watchers ?? [:]
        guard !job.watchers.isEmpty || !dagWatchers.isEmpty else { return }
        let message = Message.event(event(for: job))
        for (_, watcher) in job.watchers { push(to: watcher.peer, message) }
        for (key, watcher) in dagWatchers where job.watchers[key] == nil { push(to: watcher.peer, message) }
    }

    // MARK: placement

    /// Dispatches every queued job that can be placed now, best first across all queues.
    public func schedule() {
        if !services.isEmpty { placePendingServices() }
        guard queue.count > 0 else { return }
        var capacity: [String: WorkerCapacity] = [:]
        for c in registry.capacities where c.accepting && c.free > 0 { capacity[c.id] = c }
        while !capacity.isEmpty {
            var best: (reqs: Set<String>, jobId: String, priority: Int32, sequence: UInt64, worker: String)?
            for reqs in queue.requirementSets {
                guard let head = queue.peek(reqs) else { continue }
                // Only a head that beats the best so far (higher priority, then older) is worth placing.
                if let b = best, head.priority < b.priority || (head.priority == b.priority && head.sequence > b.sequence) {
                    continue
                }
                if let worker = Placement.choose(requirements: reqs, among: capacity.values,
                                                 preferred: jobs[head.jobId]?.preferredWorker) {
                    best = (reqs, head.jobId, head.priority, head.sequence, worker)
                }
            }
            guard let pick = best else { return }
            queue.pop(pick.reqs)
            dispatch(pick.jobId, to: pick.worker)
            capacity[pick.worker]?.running += 1
            if capacity[pick.worker]?.free == 0 { capacity[pick.worker] = nil }
        }
    }

    private func dispatch(_ jobId: String, to workerId: String) {
        // Only the peer: holding a copy of the whole entry would make the insert below copy the
        // worker's set of running attempts on every dispatch (quadratic in jobs in flight).
        guard let job = jobs[jobId], let peer = registry[workerId]?.peer else { return }
        job.info.attempts += 1
        move(job, to: .running)
        job.info.workerId = workerId
        let ref = AttemptRef(jobId: jobId, attempt: job.info.attempts)
        registry[workerId]?.running.insert(ref)
        let belowServices = !dagsWithServices.isEmpty && !job.info.parents.isEmpty && dagsWithServices.contains(job.info.dagId)
        if auth != nil || belowServices {
            var spec = job.info.spec
            if belowServices { spec.environment.merge(serviceEnvironment(for: job)) { own, _ in own } }
            // The job's own credential: it may grow its DAG, use KV, submit, read; nothing of the worker's.
            if let token = jobToken(jobId: jobId, attempt: ref.attempt) { spec.environment["TITAN_TOKEN"] = token.text }
            push(to: peer, .dispatch(Dispatch(jobId: jobId, attempt: ref.attempt, spec: spec)))
        } else {
            push(to: peer, .dispatch(Dispatch(jobId: jobId, attempt: ref.attempt, spec: job.info.spec)))
        }
        publish(job)
    }

    // MARK: queries

    /// A job or DAG id as asked, or the DAG job a name stands for: `x` and `DAG-x` both name the
    /// latest DAG job whose short id is `x` or `DAG-x` (the original Titan keyed DAG jobs
    /// `DAG-<id>`, and its v1 jobs arrive here as `dag-N/DAG-<id>`), however it was submitted.
    func resolve(_ id: String) -> String {
        if jobs[id] != nil || dags[id] != nil { return id }
        return jobAliases[V1Codec.prefixed(id)] ?? id
    }

    func noteAlias(_ fullId: String) {
        if let key = Self.aliasKey(fullId) { jobAliases[key] = fullId }
    }

    /// A forgotten job's name goes with it, unless a later job took it.
    func forgetAlias(_ fullId: String) {
        if let key = Self.aliasKey(fullId), jobAliases[key] == fullId { jobAliases[key] = nil }
    }

    /// `DAG-` + a DAG job's short id; none for a lone job, nor for a short id shaped like the
    /// master's own ids (`job-3`, `dag-3`), which must keep naming those.
    static func aliasKey(_ fullId: String) -> String? {
        guard let slash = fullId.firstIndex(of: "/") else { return nil }
        let short = fullId[fullId.index(after: slash)...]
        if looksNative(short) { return nil }
        return V1Codec.prefixed(String(short))
    }

    private static func looksNative(_ id: Substring) -> Bool {
        let digits: Substring
        if id.hasPrefix("job-") { digits = id.dropFirst(4) } else if id.hasPrefix("dag-") { digits = id.dropFirst(4) } else { return false }
        return !digits.isEmpty && digits.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
    }

    func clusterStats() -> ClusterStats {
        var counts = JobCounts()
        for job in jobs.values { counts[job.info.state] += 1 }
        let recent = finishedOrder.suffix(200).compactMap { jobs[$0]?.info }
            + finishedDags.suffix(50).flatMap { dags[$0]?.jobIds ?? [] }.suffix(200).compactMap { jobs[$0]?.info }
        return ClusterStats(queued: UInt32(queue.count), counts: counts, workers: workerInfos(), recent: recent)
    }

    func statusInfo(_ job: JobRecord) -> JobInfo {
        var info = job.info
        guard info.state == .pending else { return info }
        let waitMs = info.notBeforeMs - wallClockMs()
        if job.waitingOn > 0 {
            info.pendingReason = waitingReason(job)
        } else if info.notBeforeMs > 0 && waitMs > 0 {
            let seconds = String(Double(waitMs / 100) / 10)
            info.pendingReason = job.failures > 0
                ? "retry \(job.failures) of \(info.spec.retries) in \(seconds)s"
                : "delayed: starts in \(seconds)s"
        } else {
            info.pendingReason = Placement.whyPending(requirements: job.requirements, among: registry.capacities)
        }
        return info
    }

    func workerInfos() -> [WorkerInfo] {
        let now = wallClockMs()
        return registry.entries.values.sorted { $0.registration.workerId < $1.registration.workerId }.map { e in
            let services = e.running.filter { $0.jobId.hasPrefix("svc/") }.map { String($0.jobId.dropFirst(4)) }.sorted()
            return WorkerInfo(id: e.registration.workerId, name: e.registration.name,
                              capabilities: e.registration.capabilities, slots: e.registration.slots,
                              running: UInt32(e.running.count), permanent: e.registration.permanent,
                              lastSeenAgoMs: now - e.lastHeardMs,
                              runningJobs: e.running.map(\.jobId).filter { !$0.hasPrefix("svc/") }.sorted(),
                              health: !e.connected ? "DISCONNECTED" : e.suspect ? "SUSPECT" : e.draining ? "DRAINING" : "ALIVE",
                              services: services, idleMs: e.idleMs(nowMs: now), address: e.registration.address)
        }
    }

    /// Counts for tests and metrics.
    public var counts: (jobs: Int, queued: Int, workers: Int) { (jobs.count, queue.count, registry.entries.count) }

    /// Closes every worker connection and the delay timer (master shutdown).
    func close() {
        for peer in registry.allPeers { peer.close() }
        delayTimer?.assumeIsolated { $0.close() }
        delayTimer = nil
        cronTimer?.assumeIsolated { $0.close() }
        cronTimer = nil
        reclaimTimer?.assumeIsolated { $0.close() }
        reclaimTimer = nil
        kvPurgeTimer?.assumeIsolated { $0.close() }
        kvPurgeTimer = nil
        for timer in gateTimers.values { timer.assumeIsolated { $0.close() } }
        gateTimers = [:]
        for timer in serviceJobTimers.values { timer.assumeIsolated { $0.close() } }
        serviceJobTimers = [:]
    }
}
