import TitanPolicy
import TitanProtocol

/// Services: each copy placed on a matching worker (holding one slot, copies spread over
/// workers), supervised there, re-placed when the worker dies, kept in the journal so they
/// survive a restart.
extension SchedulerActor {
    static let restartModes = RestartMode.allCases.map(\.rawValue)

    func handleService(_ message: Message, from peer: any Peer, requestId rid: UInt32) {
        switch message {
        case .deployService(var spec):
            if let refusal = journalRefusal { return reply(to: peer, rid, .error(.unavailable, refusal)) }
            spec.dag = ""  // only the master ties a service to a DAG
            if let problem = Self.validate(spec) ?? artifactProblem(JobSpec(command: ["x"], artifacts: spec.artifacts)) {
                return reply(to: peer, rid, .error(.invalidRequest, problem))
            }
            reply(to: peer, rid, .serviceInfos(deploy(spec).map(\.info)))
        case .listServices:
            let all = services.values.sorted { ($0.spec.name, $0.replica) < ($1.spec.name, $1.replica) }
            reply(to: peer, rid, .serviceInfos(all.map(\.info)))
        case .stopService(let name):
            let copies = group(name)
            guard !copies.isEmpty else {
                // The original's STOP takes a service or a job id: a job is cancelled.
                if services[name] == nil, jobs[resolve(name)] != nil || dags[name] != nil {
                    return cancel(resolve(name), peer: peer, requestId: rid)
                }
                if services[name] != nil {
                    return reply(to: peer, rid, .error(.invalidRequest, "'\(name)' is one copy of a service: stop the "
                                                       + "service (all its copies), or deploy it with fewer --replicas"))
                }
                return reply(to: peer, rid, .error(.notFound, "no service '\(name)'"))
            }
            if let refusal = journalRefusal { return reply(to: peer, rid, .error(.unavailable, refusal)) }
            stop(copies)
            reply(to: peer, rid, .ok)
        case .restartService(let name):
            let copies = service(named: name).filter { !$0.stopped }
            guard !copies.isEmpty else { return reply(to: peer, rid, .error(.notFound, "no running service '\(name)'")) }
            for record in copies {
                endPlacement(record)
                record.generation += 1
                place(record)
            }
            reply(to: peer, rid, .ok)
        case .serviceReport(let report):
            serviceReported(report, from: peer)
        default:
            break
        }
    }

    static func validate(_ spec: ServiceSpec) -> String? {
        if let problem = Names.problem(spec.name, kind: "service name") { return "field 'name': \(problem)" }
        if let problem = validate(JobSpec(command: spec.command, environment: spec.environment, requirements: spec.requirements)) {
            return problem
        }
        if !restartModes.contains(spec.restart) {
            return "field 'restart': '\(spec.restart)' is not one of \(restartModes.joined(separator: ", "))"
        }
        if spec.port < -1 || spec.port > 65_535 { return "field 'port': \(spec.port) is not a port (-1 none, 0 auto)" }
        if !(spec.health.isEmpty || ServiceSpec.isHealthCheck(spec.health)) {
            return "field 'health': expected tcp or http:/PATH, got '\(spec.health)'"
        }
        if spec.health.isEmpty == false && spec.port < 0 { return "field 'health': a health check needs a port" }
        if spec.replicas == 0 || spec.replicas > ServiceSpec.maxReplicas {
            return "field 'replicas': \(spec.replicas) is not between 1 and \(ServiceSpec.maxReplicas)"
        }
        return nil
    }

    /// Records the spec and brings the copies in line with it.
    @discardableResult
    func deploy(_ spec: ServiceSpec) -> [ServiceRecord] {
        journal(.serviceSet(spec))
        return instantiate(spec, restoring: false)
    }

    /// Makes copies `0 ..< spec.replicas`. A running copy whose process is unchanged is kept (a
    /// redeploy that only scales touches nothing else); others are replaced; copies past the
    /// count end. After a restart they wait for their workers' reports instead of being placed.
    @discardableResult
    func instantiate(_ spec: ServiceSpec, restoring: Bool) -> [ServiceRecord] {
        var copies: [ServiceRecord] = []
        for replica in 0..<spec.replicas {
            let key = spec.instanceName(replica)
            let old = services[key]
            if let old, !old.stopped, old.spec.sameProcess(as: spec) {
                old.spec = spec
                old.info.spec = spec
                copies.append(old)
                continue
            }
            if let old { endPlacement(old) }
            let record = ServiceRecord(spec: spec, replica: replica)
            record.generation = (old?.generation ?? 0) + 1
            record.awaitingReport = restoring
            services[key] = record
            if !restoring { place(record) }
            copies.append(record)
        }
        for extra in group(spec.name) where extra.replica >= spec.replicas {
            endPlacement(extra)
            services[extra.instance] = nil
            endFollowers(of: extra)
        }
        return copies
    }

    /// Final: the copies are ended and never placed again.
    func stop(_ copies: [ServiceRecord]) {
        guard let name = copies.first?.spec.name else { return }
        journal(.serviceStopped(name: name))
        let now = wallClockMs()
        for record in copies where !record.stopped {
            record.stopped = true
            record.stoppedAtMs = now
            endPlacement(record)
            if record.info.workerId.isEmpty {
                record.show("STOPPED")
                endFollowers(of: record)
            } else {
                record.info.state = "STOPPING"
            }
        }
        serviceChanged(name)
        forgetOldStoppedServices()
    }

    /// After a restart: services stopped before it, listed as STOPPED (never placed). Their stop
    /// time is not journaled: they keep their order, older than any stop after the restart.
    func restoreStoppedServices(_ stopped: [String: (spec: ServiceSpec, order: Int)]) {
        let base = wallClockMs() - Int64(stopped.count) - 1
        for (name, entry) in stopped.sorted(by: { $0.value.order < $1.value.order }) where group(name).isEmpty {
            for replica in 0..<entry.spec.replicas {
                let record = ServiceRecord(spec: entry.spec, replica: replica)
                record.stopped = true
                record.stoppedAtMs = base + Int64(entry.order)
                record.show("STOPPED")
                services[record.instance] = record
            }
        }
        forgetOldStoppedServices()
    }

    /// Bounded memory: the oldest stopped copies past the limit are forgotten.
    func forgetOldStoppedServices() {
        let stopped = services.values.filter(\.stopped)
        guard stopped.count > config.retainStoppedServices else { return }
        for record in stopped.sorted(by: { $0.stoppedAtMs < $1.stoppedAtMs }).prefix(stopped.count - config.retainStoppedServices)
        where record.info.state == "STOPPED" {
            services[record.instance] = nil
        }
    }

    /// Every copy of service `name`, in order.
    func group(_ name: String) -> [ServiceRecord] {
        services.values.filter { $0.spec.name == name }.sorted { $0.replica < $1.replica }
    }

    /// `NAME` (every copy), `NAME#i` (that copy), or either with `svc/` in front.
    func service(named id: String) -> [ServiceRecord] {
        let name = id.hasPrefix("svc/") ? String(id.dropFirst(4)) : id
        let copies = group(name)
        if !copies.isEmpty { return copies }
        return services[name].map { [$0] } ?? []
    }

    /// Puts the copy on the least loaded matching worker with a free slot, preferring workers
    /// that run no other copy of it; PENDING if none. Copies on a fixed port never share a
    /// worker, nor a machine (workers advertising the same address).
    func place(_ record: ServiceRecord) {
        guard !record.stopped else { return }
        var siblings: Set<String> = []
        if record.spec.replicas > 1 {
            siblings = Set(group(record.spec.name).filter { $0 !== record && $0.holdsSlot }.map(\.info.workerId))
            if record.spec.port > 0 {
                let machines = Set(siblings.compactMap { registry[$0]?.registration.address }.filter { !$0.isEmpty })
                siblings.formUnion(registry.entries.values.filter { machines.contains($0.registration.address) }
                    .map(\.registration.workerId))
            }
        }
        guard let worker = Placement.choose(requirements: Set(record.spec.requirements), among: registry.capacities,
                                            avoiding: siblings, strictly: record.spec.port > 0),
              let peer = registry[worker]?.peer else {
            return record.show("PENDING")
        }
        record.show("STARTING", workerId: worker, host: registry[worker]?.registration.address ?? "")
        registry[worker]?.running.insert(record.ref)
        push(to: peer, .runService(name: record.instance, generation: record.generation, record.spec))
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
            push(to: peer, .endService(name: record.instance, generation: record.generation))
        }
    }

    private func serviceReported(_ report: ServiceReport, from peer: any Peer) {
        guard let workerId = registry.workerId(of: peer) else { return }
        guard let record = services[report.name] else {
            // Not ours (removed, or unknown after a restart): end it.
            return push(to: peer, .endService(name: report.name, generation: report.generation))
        }
        if record.awaitingReport {
            // After a master restart: the first worker to report a copy holds it.
            record.awaitingReport = false
            record.generation = report.generation
            record.info.workerId = workerId
        }
        guard report.generation == record.generation, record.info.workerId == workerId else {
            return  // an older placement's last words, or a worker that does not hold it
        }
        record.info = ServiceInfo(spec: record.spec, state: report.state, workerId: workerId, pid: report.pid, port: report.port,
                                  restarts: report.restarts, lastExit: report.lastExit, startedAtMs: report.startedAtMs,
                                  replica: record.replica, host: registry[workerId]?.registration.address ?? "")
        if report.state == "STOPPED" && record.stopped { endFollowers(of: record) }
        if !record.holdsSlot {
            registry[workerId]?.running.remove(record.ref)
            if report.state == "STOPPED" && !record.stopped {
                // Ended under it (the worker stopping): place it again.
                record.generation += 1
                place(record)
            }
        }
        if !serviceJobs.isEmpty { serviceChanged(record.spec.name) }
    }

    /// Output of a service's placement, believed only from the worker that holds that placement.
    func serviceOutput(_ ref: AttemptRef, _ stream: OutputChannel, _ bytes: [UInt8], from workerId: String) {
        guard let record = services[String(ref.jobId.dropFirst(4))], record.generation == ref.attempt,
              record.info.workerId == workerId else { return }
        record.logs.append(stream, bytes)
        for (_, watcher) in record.watchers where watcher.logs {
            push(to: watcher.peer, .output(jobId: watcher.id, stream, bytes))
        }
    }

    /// What a follower of `id` is told: RUNNING while any copy lives, COMPLETED once all are
    /// stopped (this ends `logs -f`).
    private func serviceEvent(_ id: String, _ copies: [ServiceRecord]) -> JobEvent {
        let live = copies.first { $0.info.state != "STOPPED" }
        return JobEvent(jobId: id, state: live == nil ? .completed : .running, attempt: copies.first?.generation ?? 0,
                        workerId: (live ?? copies.first)?.info.workerId ?? "")
    }

    /// Following a service (all copies) or one copy: recent output, then what it prints, until
    /// it is stopped.
    /// Pushes carry the id as asked (`NAME` or `svc/NAME`), so the follower recognises them.
    func subscribe(service copies: [ServiceRecord], as id: String, logs: Bool, peer: any Peer, requestId: UInt32) {
        reply(to: peer, requestId, .ok)
        if logs {
            for record in copies {
                for chunk in record.logs.retained { push(to: peer, .output(jobId: id, chunk.stream, chunk.bytes)) }
            }
        }
        push(to: peer, .event(serviceEvent(id, copies)))
        for record in copies where record.info.state != "STOPPED" {
            record.watchers[ObjectIdentifier(peer)] = (peer, logs, id)
        }
    }

    /// A stopped copy (or one scaled away) lets its followers go; a follower of the whole service
    /// hears COMPLETED once no copy it follows is left.
    func endFollowers(of record: ServiceRecord) {
        let watchers = record.watchers
        record.watchers = [:]
        for (key, watcher) in watchers {
            let stillFollowing = group(record.spec.name).contains { $0.watchers[key] != nil }
            if !stillFollowing {
                push(to: watcher.peer, .event(JobEvent(jobId: watcher.id, state: .completed, attempt: record.generation,
                                                       workerId: record.info.workerId)))
            }
        }
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
            record.info.host = registry[workerId]?.registration.address ?? ""
            record.info.state = "STARTING"
        }
        guard record.generation == ref.attempt, record.info.workerId == workerId else { return false }
        return true
    }

    /// The worker died: its services go elsewhere.
    func replaceServices(of workerId: String) {
        for record in services.values where record.info.workerId == workerId {
            if record.stopped {
                // It went with its worker: nothing left to wait for.
                record.show("STOPPED")
                endFollowers(of: record)
                continue
            }
            record.generation += 1
            record.info.workerId = ""
            place(record)
        }
        if !serviceJobs.isEmpty { for name in Set(serviceJobs.keys) { serviceChanged(name) } }
    }
}
