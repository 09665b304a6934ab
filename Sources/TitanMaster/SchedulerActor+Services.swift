import TitanPolicy
import TitanProtocol

/// A service as the master keeps it: what was deployed, where its current placement runs, and
/// what its worker last reported.
final class ServiceRecord {
    var spec: ServiceSpec
    /// Bumped at every placement; reports for older ones are stale.
    var generation: UInt32 = 0
    var info: ServiceInfo
    /// Stopped by the user: final.
    var stopped = false
    /// After a restart: waiting for its worker to report it (any generation is adopted).
    var awaitingReport = false
    /// Its recent output (all runs), and who follows it.
    var logs = LogBuffer(limitBytes: 256 << 10)
    var watchers: [ObjectIdentifier: (peer: any Peer, logs: Bool)] = [:]

    init(spec: ServiceSpec) {
        self.spec = spec
        info = ServiceInfo(spec: spec, state: "PENDING")
    }

    /// An event for followers: RUNNING while it lives, COMPLETED once stopped (ends `logs -f`).
    var event: JobEvent {
        JobEvent(jobId: "svc/" + spec.name, state: info.state == "STOPPED" ? .completed : .running,
                 attempt: generation, workerId: info.workerId)
    }

    var ref: AttemptRef { AttemptRef(jobId: "svc/" + spec.name, attempt: generation) }
    /// States in which its process is alive (or about to restart) on its worker: it holds a slot.
    var holdsSlot: Bool { !["PENDING", "STOPPED", "EXITED", "CRASH_LOOP"].contains(info.state) }
}

/// Services: placed on a matching worker (holding one slot), supervised there, re-placed when
/// the worker dies, kept in the journal so they survive a restart.
extension SchedulerActor {
    static let restartModes = ["always", "on-failure", "never"]

    func handleService(_ message: Message, from peer: any Peer, requestId rid: UInt32) {
        switch message {
        case .deployService(let spec):
            if let refusal = journalRefusal { return reply(to: peer, rid, .error(.unavailable, refusal)) }
            if let problem = Self.validate(spec) ?? artifactProblem(JobSpec(command: ["x"], artifacts: spec.artifacts)) {
                return reply(to: peer, rid, .error(.invalidRequest, problem))
            }
            if let old = services[spec.name] { endPlacement(old) }
            let record = ServiceRecord(spec: spec)
            record.generation = (services[spec.name]?.generation ?? 0) + 1
            services[spec.name] = record
            journal(.serviceSet(spec))
            place(record)
            reply(to: peer, rid, .serviceInfos([record.info]))
        case .listServices:
            reply(to: peer, rid, .serviceInfos(services.values.map(\.info).sorted { $0.spec.name < $1.spec.name }))
        case .stopService(let name):
            guard let record = services[name] else { return reply(to: peer, rid, .error(.notFound, "no service '\(name)'")) }
            if let refusal = journalRefusal { return reply(to: peer, rid, .error(.unavailable, refusal)) }
            record.stopped = true
            journal(.serviceStopped(name: name))
            endPlacement(record)
            record.info.state = record.info.workerId.isEmpty ? "STOPPED" : "STOPPING"
            reply(to: peer, rid, .ok)
        case .restartService(let name):
            guard let record = services[name], !record.stopped else {
                return reply(to: peer, rid, .error(.notFound, "no running service '\(name)'"))
            }
            endPlacement(record)
            record.generation += 1
            place(record)
            reply(to: peer, rid, .ok)
        case .serviceReport(let report):
            serviceReported(report, from: peer)
        default:
            break
        }
    }

    static func validate(_ spec: ServiceSpec) -> String? {
        if spec.name.isEmpty || spec.name.utf8.count > 128 || spec.name.contains("/") || spec.name.utf8.contains(0) {
            return "field 'name': a service needs a name of 1 to 128 characters without '/'"
        }
        if let problem = validate(JobSpec(command: spec.command, environment: spec.environment, requirements: spec.requirements)) {
            return problem
        }
        if !restartModes.contains(spec.restart) {
            return "field 'restart': '\(spec.restart)' is not one of \(restartModes.joined(separator: ", "))"
        }
        if spec.port < -1 || spec.port > 65_535 { return "field 'port': \(spec.port) is not a port (-1 none, 0 auto)" }
        if !(spec.health.isEmpty || spec.health == "tcp" || spec.health.hasPrefix("http:/")) {
            return "field 'health': expected tcp or http:/PATH, got '\(spec.health)'"
        }
        if spec.health.isEmpty == false && spec.port < 0 { return "field 'health': a health check needs a port" }
        return nil
    }

    /// Puts the service on the least loaded matching worker with a free slot; PENDING if none.
    func place(_ record: ServiceRecord) {
        guard !record.stopped else { return }
        let capacities = registry.capacities.filter { $0.accepting && $0.free > 0 }
        guard let worker = Placement.choose(requirements: Set(record.spec.requirements), among: capacities, preferred: nil),
              let peer = registry[worker]?.peer else {
            record.info = ServiceInfo(spec: record.spec, state: "PENDING", restarts: record.info.restarts,
                                      lastExit: record.info.lastExit)
            return
        }
        record.info = ServiceInfo(spec: record.spec, state: "STARTING", workerId: worker, restarts: record.info.restarts,
                                  lastExit: record.info.lastExit)
        registry[worker]?.running.insert(record.ref)
        push(to: peer, .runService(name: record.spec.name, generation: record.generation, record.spec))
    }

    /// Services still waiting for a worker: tried whenever capacity may have changed.
    func placePendingServices() {
        for record in services.values where record.info.state == "PENDING" && !record.stopped && !record.awaitingReport {
            place(record)
        }
    }

    /// Tells the worker of the current placement to end it (stop, replace, re-place).
    func endPlacement(_ record: ServiceRecord) {
        let worker = record.info.workerId
        guard !worker.isEmpty else { return }
        registry[worker]?.running.remove(record.ref)
        if let peer = registry[worker]?.peer {
            push(to: peer, .endService(name: record.spec.name, generation: record.generation))
        }
    }

    private func serviceReported(_ report: ServiceReport, from peer: any Peer) {
        guard let workerId = registry.workerId(of: peer) else { return }
        guard let record = services[report.name] else {
            // Not ours (removed, or unknown after a restart): end it.
            return push(to: peer, .endService(name: report.name, generation: report.generation))
        }
        if record.awaitingReport {
            record.awaitingReport = false
            record.generation = report.generation
        }
        guard report.generation == record.generation, record.info.workerId == workerId || record.info.workerId.isEmpty else {
            return  // an older placement's last words
        }
        record.info = ServiceInfo(spec: record.spec, state: report.state, workerId: workerId, pid: report.pid, port: report.port,
                                  restarts: report.restarts, lastExit: report.lastExit, startedAtMs: report.startedAtMs)
        if report.state == "STOPPED" && record.stopped {
            for (_, watcher) in record.watchers { push(to: watcher.peer, .event(record.event)) }
            record.watchers = [:]
        }
        if !record.holdsSlot {
            registry[workerId]?.running.remove(record.ref)
            if report.state == "STOPPED" && !record.stopped {
                // Ended under it (the worker stopping): place it again.
                record.generation += 1
                place(record)
            }
        }
    }

    /// `NAME` or `svc/NAME`.
    func service(named id: String) -> ServiceRecord? {
        services[id.hasPrefix("svc/") ? String(id.dropFirst(4)) : id]
    }

    func serviceOutput(_ ref: AttemptRef, _ stream: OutputChannel, _ bytes: [UInt8]) {
        guard let record = services[String(ref.jobId.dropFirst(4))], record.generation == ref.attempt else { return }
        record.logs.append(stream, bytes)
        for (_, watcher) in record.watchers where watcher.logs {
            push(to: watcher.peer, .output(jobId: ref.jobId, stream, bytes))
        }
    }

    /// Following a service: its recent output, then what it prints, until it is stopped.
    func subscribe(service record: ServiceRecord, logs: Bool, peer: any Peer, requestId: UInt32) {
        reply(to: peer, requestId, .ok)
        if logs {
            for chunk in record.logs.retained { push(to: peer, .output(jobId: "svc/" + record.spec.name, chunk.stream, chunk.bytes)) }
        }
        push(to: peer, .event(record.event))
        if record.info.state != "STOPPED" { record.watchers[ObjectIdentifier(peer)] = (peer, logs) }
    }

    /// A (re)registering worker reports a service placement: keep it if it is current.
    func adoptService(_ ref: AttemptRef, workerId: String) -> Bool {
        guard ref.jobId.hasPrefix("svc/"), let record = services[String(ref.jobId.dropFirst(4))], !record.stopped else {
            return false
        }
        if record.awaitingReport {
            record.awaitingReport = false
            record.generation = ref.attempt
            record.info.workerId = workerId
            record.info.state = "STARTING"
        }
        guard record.generation == ref.attempt, record.info.workerId == workerId else { return false }
        return true
    }

    /// The worker died: its services go elsewhere.
    func replaceServices(of workerId: String) {
        for record in services.values where record.info.workerId == workerId && !record.stopped {
            record.generation += 1
            record.info.workerId = ""
            place(record)
        }
    }
}
