import TitanLoop
import TitanPolicy
import TitanProtocol

/// Services in DAGs (YAML `type: service`). When its parents are done, a service job deploys its
/// command as a service and runs (holding no slot of its own: the copies hold theirs); it
/// completes once every copy is healthy, so the jobs below it start against a live service, and
/// fails if a copy crash-loops or exits first. Like a `titan deploy`, the service keeps running
/// after the DAG; with `keep: false` it lives as long as its DAG. Jobs below it find it through
/// `TITAN_SVC_<ID>_HOST`, `_PORT` and friends. Its `timeout` bounds the wait for health.
extension SchedulerActor {
    /// The service a DAG job deploys: named by the job unless it names itself: `dag-3.db` for
    /// one that lives with its DAG (each run its own), `db` for one kept after it (each run
    /// replaces the last).
    func serviceSpec(for job: JobRecord) -> ServiceSpec? {
        guard let options = job.info.spec.service else { return nil }
        let spec = job.info.spec
        let name = !options.name.isEmpty ? options.name
            : options.keep || job.info.dagId.isEmpty ? job.info.localId : "\(job.info.dagId).\(job.info.localId)"
        return ServiceSpec(name: name, command: spec.command, environment: spec.environment,
                           requirements: spec.requirements, restart: options.restart, port: options.port,
                           health: options.health, artifacts: spec.artifacts, replicas: options.replicas,
                           dag: options.keep ? "" : job.info.dagId)
    }

    func startServiceJob(_ job: JobRecord) {
        guard let spec = serviceSpec(for: job) else { return }
        job.info.attempts += 1
        job.info.workerId = ""
        move(job, to: .running)
        publish(job)
        if !job.info.dagId.isEmpty { dagsWithServices.insert(job.info.dagId) }
        if let problem = Self.validate(spec) {
            let now = wallClockMs()
            job.info.result = JobResult(error: "service: \(problem)", startedAtMs: now, finishedAtMs: now)
            return finish(job, state: .failed)
        }
        serviceJobs[spec.name] = job.info.id
        deploy(spec)
        armServiceJobTimeout(job)
        serviceChanged(spec.name)
    }

    /// `timeout` on a service job: how long its service may take to be healthy. (After a master
    /// restart the wait starts over.)
    func armServiceJobTimeout(_ job: JobRecord) {
        let timeoutMs = job.info.spec.timeoutMs
        guard timeoutMs > 0 else { return }
        let id = job.info.id
        let timer = LoopTimer(loop: eventLoop)
        serviceJobTimers[id] = timer
        timer.assumeIsolated { t in
            t.start(afterMs: timeoutMs) { [weak self] in
                self?.assumeIsolated { s in
                    guard let job = s.jobs[id], job.info.state == .running else { return }
                    let now = s.wallClockMs()
                    job.info.result = JobResult(error: "its service was not healthy within \(Double(timeoutMs) / 1_000) s",
                                                startedAtMs: now, finishedAtMs: now, timedOut: true)
                    s.finish(job, state: .failed)  // stops the service (serviceJobClosed)
                    s.schedule()
                }
            }
        }
    }

    /// A service changed: the DAG job waiting on it completes once every copy is healthy, and
    /// fails once a copy can no longer get there on its own.
    func serviceChanged(_ name: String) {
        guard let jobId = serviceJobs[name] else { return }
        guard let job = jobs[jobId], job.info.state == .running else {
            serviceJobs[name] = nil
            return
        }
        let copies = group(name)
        let now = wallClockMs()
        switch ServiceReadiness.of(copies.map { ($0.instance, $0.info.state, $0.info.lastExit) }) {
        case .waiting:
            return
        case .ready:
            serviceJobs[name] = nil
            job.info.result = JobResult(exitCode: 0, startedAtMs: copies.map(\.info.startedAtMs).min() ?? now, finishedAtMs: now)
            finish(job, state: .completed)
        case .failed(let reason):
            serviceJobs[name] = nil
            job.info.result = JobResult(exitCode: 1, error: reason, startedAtMs: now, finishedAtMs: now)
            finish(job, state: .failed)
        }
    }

    /// A service job ended before its service was healthy (cancelled, or its DAG cancelled): the
    /// service goes too.
    func serviceJobClosed(_ job: JobRecord) {
        serviceJobTimers.removeValue(forKey: job.info.id)?.assumeIsolated { $0.close() }
        guard job.info.state == .running, let spec = serviceSpec(for: job), serviceJobs[spec.name] == job.info.id else { return }
        serviceJobs[spec.name] = nil
        stop(group(spec.name).filter { !$0.stopped })
    }

    /// The DAG ended: the services it started (without `keep`) are stopped.
    func stopServices(ofDag dagId: String) {
        guard dagsWithServices.remove(dagId) != nil else { return }
        let owned = services.values.filter { $0.spec.dag == dagId && !$0.stopped }
        for name in Set(owned.map(\.spec.name)).sorted() { stop(owned.filter { $0.spec.name == name }) }
    }

    /// What a job learns about the services among its parents, `ID` being the parent's id in the
    /// DAG in upper case (other characters than letters and digits become `_`):
    ///
    ///     TITAN_SVC_ID_NAME     the service's name
    ///     TITAN_SVC_ID_PORT     the port of its first copy
    ///     TITAN_SVC_ID_PORTS    every copy's port, comma-separated
    ///     TITAN_SVC_ID_HOST     the address of its first copy's worker
    ///     TITAN_SVC_ID_ADDRS    every copy's HOST:PORT, comma-separated
    ///     TITAN_SVC_ID_WORKER   the worker running its first copy
    ///
    /// A worker's address is what it advertises, else the address it reaches the master from;
    /// 127.0.0.1 when unknown.
    func serviceEnvironment(for job: JobRecord) -> [String: String] {
        var environment: [String: String] = [:]
        for parentId in job.info.parents {
            guard let parent = jobs[parentId], let spec = serviceSpec(for: parent) else { continue }
            let copies = group(spec.name)
            let key = "TITAN_SVC_" + String(parent.info.localId.uppercased().map { $0.isLetter || $0.isNumber ? $0 : "_" }) + "_"
            environment[key + "NAME"] = spec.name
            environment[key + "PORT"] = copies.first.map { "\($0.info.port)" } ?? ""
            environment[key + "PORTS"] = copies.map { "\($0.info.port)" }.joined(separator: ",")
            environment[key + "WORKER"] = copies.first?.info.workerId ?? ""
            let host = { (copy: ServiceRecord) in copy.info.host.isEmpty ? "127.0.0.1" : copy.info.host }
            environment[key + "HOST"] = copies.first.map(host) ?? ""
            environment[key + "ADDRS"] = copies.map { "\(host($0)):\($0.info.port)" }.joined(separator: ",")
        }
        return environment
    }

    /// After a restart: service jobs wait for their services again, and services whose DAG has
    /// ended are stopped.
    func restoreServiceJobs() {
        for job in jobs.values where job.info.spec.service != nil && !job.info.dagId.isEmpty {
            if let dag = dags[job.info.dagId], !dag.state.isFinal { dagsWithServices.insert(job.info.dagId) }
            guard job.info.state == .running, let spec = serviceSpec(for: job) else { continue }
            serviceJobs[spec.name] = job.info.id
            armServiceJobTimeout(job)
            // Its service record was written in the same turn as the job's state; if it is
            // missing all the same, deploy it again rather than wait forever.
            if group(spec.name).isEmpty { deploy(spec) }
        }
        let orphaned = services.values.filter { record in
            !record.stopped && !record.spec.dag.isEmpty && (dags[record.spec.dag]?.state.isFinal ?? true)
        }
        for name in Set(orphaned.map(\.spec.name)).sorted() { stop(orphaned.filter { $0.spec.name == name }) }
    }
}
