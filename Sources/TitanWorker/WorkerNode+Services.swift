import Foundation
import Synchronization
import TitanLoop
import TitanPolicy
import TitanProtocol

/// A service this worker supervises: one placement (`generation`) of it.
struct LocalService {
    /// The copy's name (`NAME` or `NAME#i`): what the master calls it.
    var name: String
    var generation: UInt32
    var spec: ServiceSpec
    var supervisor: ServiceSupervisor
    var process: ChildProcess?
    var port: Int32 = 0
    var startedAtMs: Int64 = 0
    var restartTimer: LoopTimer?
    var healthTimer: LoopTimer?
    var killTimer: LoopTimer?
    /// What this run's health probes mean so far (nil: no check, or not launched).
    var probes: HealthProbePolicy?
    /// Why the last run was given up on after its health checks, for reports.
    var healthFailure: String?
    /// This run is being ended because its health checks failed: its exit keeps that reason.
    var killedForHealth = false
    /// A restart came due while the previous run's process was still ending: it starts once that
    /// process has gone (never two runs at once: they would share the port, and the old one's
    /// exit would be taken for the new one's).
    var launchWhenGone = false
    /// Asked to end: no restart, and it goes once its process is gone.
    var ending = false

    var ref: AttemptRef { AttemptRef(jobId: "svc/" + name, attempt: generation) }
}

/// Services: long-running processes kept alive here per their restart policy
/// (`ServiceSupervisor`), with a port (fixed or chosen free), and health checks (TCP connect or
/// HTTP GET). The master places them and hears of every change.
extension WorkerNode {
    func runService(_ name: String, generation: UInt32, _ spec: ServiceSpec) {
        if let existing = services[name] {
            if existing.generation == generation { return }
            endService(name, generation: existing.generation)  // an older placement goes first
            if services[name] != nil {
                // Its process is still going: this one starts when it has gone.
                waitingServices[name] = (generation, spec)
                return
            }
        }
        waitingServices[name] = nil
        let mode = RestartMode(rawValue: spec.restart) ?? .always
        let supervisor = ServiceSupervisor(config: .init(mode: mode, initialBackoffMs: Int64(config.serviceBackoff.initialMs),
                                                         maxBackoffMs: Int64(config.serviceBackoff.maxMs),
                                                         stableAfterMs: config.serviceStableAfterMs,
                                                         crashLoopFailures: 5))
        var service = LocalService(name: name, generation: generation, spec: spec, supervisor: supervisor)
        if spec.port > 0 {
            service.port = spec.port
        } else if spec.port == 0 {
            let inUse = Set(services.values.map { Int($0.port) })
            guard let port = portAllocator.allocate(excluding: inUse, isFree: PortProbe.isFree) else {
                return report(LocalService(name: name, generation: generation, spec: spec, supervisor: supervisor),
                              state: "EXITED", lastExit: "no free port in \(portAllocator.range)")
            }
            service.port = Int32(port)
        }
        services[name] = service
        let directory = config.workDirectory + "/services/" + name
        if let user = config.runAs {
            do {
                try user.makeOwnedDirectory(directory)
            } catch {
                return report(services.removeValue(forKey: name)!, state: "EXITED", lastExit: "\(error)")
            }
        } else {
            try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        guard !spec.artifacts.isEmpty else { return launch(name) }
        prepareArtifacts(spec.artifacts, in: directory) { [self] result in
            guard services[name]?.generation == generation else { return }
            if case .failure(let error) = result {
                return report(services.removeValue(forKey: name)!, state: "EXITED",
                              lastExit: "cannot prepare artifacts: \(error.message)")
            }
            launch(name)
        }
    }

    private func launch(_ name: String) {
        guard var service = services[name], !service.ending else { return }
        if service.process != nil {
            services[name]!.launchWhenGone = true
            return
        }
        let generation = service.generation
        let port = service.port
        var extra = service.spec.environment
        if port > 0 { extra["PORT"] = "\(port)" }
        extra["TITAN_SERVICE"] = service.spec.name
        // Which copy this is: `NAME#i` is copy i, `NAME` copy 0.
        extra["TITAN_REPLICA"] = name.count > service.spec.name.count ? String(name.dropFirst(service.spec.name.count + 1)) : "0"
        let command = service.spec.command.map { $0.replacingOccurrences(of: "{port}", with: "\(port)") }
        let now = Time.wallMs()
        do {
            service.process = try ChildProcess.spawn(
                loop: eventLoop, arguments: config.runAs?.wrap(command) ?? command, environment: environment(adding: extra),
                workingDirectory: config.workDirectory + "/services/" + name,
                onOutput: { [self] fd, bytes in
                    self.assumeIsolated { $0.send(.jobOutput(AttemptRef(jobId: "svc/" + name, attempt: generation),
                                                             fd == 1 ? .stdout : .stderr, bytes)) }
                },
                onExit: { [self] exit in self.assumeIsolated { $0.serviceExited(name, generation, exit) } })
        } catch {
            _ = service.supervisor.handle(.started(atMs: now))
            services[name] = service
            return serviceExited(name, generation, nil, error: "\(error)")
        }
        service.startedAtMs = now
        _ = service.supervisor.handle(.started(atMs: now))
        if service.spec.health.isEmpty {
            service.probes = nil
            _ = service.supervisor.handle(.healthy(atMs: now))
            services[name] = service
        } else {
            let probes = HealthProbePolicy(config: .init(
                intervalMs: Int64(max(1, config.serviceHealthIntervalMs)), timeoutMs: Int64(max(1, config.serviceProbeTimeoutMs)),
                startDeadlineMs: Int64(config.serviceStartGraceMs)), startedAtMs: now)
            service.probes = probes
            services[name] = service
            armHealthCheck(name, afterMs: UInt64(probes.firstProbeAfterMs))
        }
        report(services[name]!)
    }

    private func serviceExited(_ name: String, _ generation: UInt32, _ exit: ProcessExit?, error: String? = nil) {
        guard var service = services[name], service.generation == generation else { return }
        service.process = nil
        service.healthTimer?.assumeIsolated { $0.close() }
        service.healthTimer = nil
        service.killTimer?.assumeIsolated { $0.close() }
        service.killTimer = nil
        if service.ending {
            services[name] = nil
            report(service, state: "STOPPED")
            if stopping { finishStopIfDone() }
            if let next = waitingServices.removeValue(forKey: name) { runService(name, generation: next.generation, next.spec) }
            return
        }
        let decision = service.supervisor.handle(.exited(atMs: Time.wallMs(), exitCode: error == nil ? exit?.exitCode : 127,
                                                         signal: exit?.signal))
        // Ended by us for failing its health checks: that is why, not the SIGTERM it got.
        let why = service.killedForHealth ? service.healthFailure : error
        service.killedForHealth = false
        let launchNow = service.launchWhenGone
        service.launchWhenGone = false
        services[name] = service
        apply(decision, to: name, lastExit: why)
        if launchNow { launch(name) }
    }

    private func apply(_ decision: RestartDecision, to name: String, lastExit: String? = nil) {
        guard let service = services[name] else { return }
        switch decision {
        case .restart(let afterMs):
            let timer = service.restartTimer ?? LoopTimer(loop: eventLoop)
            services[name]!.restartTimer = timer
            timer.assumeIsolated { t in
                t.start(afterMs: UInt64(max(0, afterMs))) { [self] in self.assumeIsolated { $0.launch(name) } }
            }
            report(services[name]!, lastExit: lastExit)
        case .stayDown, .crashLoop, .none:
            report(services[name]!, lastExit: lastExit)
        }
    }

    // MARK: health

    private func armHealthCheck(_ name: String, afterMs: UInt64) {
        guard services[name] != nil else { return }
        let timer = services[name]!.healthTimer ?? LoopTimer(loop: eventLoop)
        services[name]!.healthTimer = timer
        timer.assumeIsolated { t in
            t.start(afterMs: afterMs) { [self] in self.assumeIsolated { $0.checkHealth(name) } }
        }
    }

    /// One probe, given up on after `serviceProbeTimeoutMs`: the first of answer and timeout counts.
    private func checkHealth(_ name: String) {
        guard let service = services[name], service.process != nil, !service.ending else { return }
        let generation = service.generation
        let health = service.spec.health
        let path = health.hasPrefix("http:") ? String(health.dropFirst(5)) : nil
        let timeoutMs = max(1, config.serviceProbeTimeoutMs)
        let probe = ProbeRun()
        let deadline = LoopTimer(loop: eventLoop)
        let finish: @Sendable (ProbeOutcome) -> Void = { [self] outcome in
            guard probe.finish() else { return }
            deadline.assumeIsolated { $0.close() }
            self.assumeIsolated { $0.healthResult(name, generation, outcome) }
        }
        deadline.assumeIsolated { t in
            t.start(afterMs: timeoutMs) {
                finish(.timedOut(afterMs: Int64(timeoutMs)))
                probe.closeConnection()
            }
        }
        TCPConnection.connect(loop: eventLoop, host: "127.0.0.1", port: Int(service.port), timeoutMs: timeoutMs) { result in
            switch result {
            case .failure(let error):
                finish(.failed("\(error)"))
            case .success(let conn):
                guard probe.adopt(conn) else { return conn.assumeIsolated { $0.close() } }  // timed out already
                guard let path else {
                    finish(.passed)
                    return probe.closeConnection()
                }
                HTTPProbe.get(conn, path: path.isEmpty ? "/" : path) { ok in
                    finish(ok ? .passed : .failed("HTTP GET \(path.isEmpty ? "/" : path) did not answer 2xx or 3xx"))
                }
            }
        }
    }

    private func healthResult(_ name: String, _ generation: UInt32, _ outcome: ProbeOutcome) {
        guard var service = services[name], service.generation == generation, service.process != nil, !service.ending,
              var probes = service.probes else { return }
        let now = Time.wallMs()
        let verdict = probes.record(outcome, atMs: now)
        service.probes = probes
        switch verdict {
        case .becameHealthy(let afterMs):
            _ = service.supervisor.handle(.healthy(atMs: now))
            services[name] = service
            report(service)
            armHealthCheck(name, afterMs: UInt64(afterMs))
        case .probeAgain(let afterMs):
            services[name] = service
            armHealthCheck(name, afterMs: UInt64(afterMs))
        case .unhealthy(let reason):
            service.healthFailure = reason
            service.killedForHealth = true
            services[name] = service
            logger.warning("service failed its health check; restarting per policy", metadata: ["service": "\(name)", "reason": "\(reason)"])
            let decision = services[name]!.supervisor.handle(.healthCheckFailed(atMs: now))
            signalService(name, SIGTERM)
            apply(decision, to: name, lastExit: reason)
        }
    }

    // MARK: stop

    /// Ends a placement: SIGTERM to its process group, SIGKILL after the grace period; final.
    func endService(_ name: String, generation: UInt32) {
        if let waiting = waitingServices[name], waiting.generation == generation {
            waitingServices[name] = nil
            return send(.serviceReport(ServiceReport(name: name, generation: generation, state: "STOPPED")))
        }
        guard var service = services[name], service.generation == generation else { return }
        service.ending = true
        _ = service.supervisor.handle(.stopRequested)
        service.restartTimer?.assumeIsolated { $0.close() }
        service.restartTimer = nil
        service.healthTimer?.assumeIsolated { $0.close() }
        service.healthTimer = nil
        services[name] = service
        guard service.process != nil else {
            services[name] = nil
            if service.port > 0 && service.spec.port == 0 { portAllocator.release(Int(service.port)) }
            return report(service, state: "STOPPED")
        }
        if service.spec.port == 0 && service.port > 0 { portAllocator.release(Int(service.port)) }
        signalService(name, SIGTERM)
    }

    private func signalService(_ name: String, _ signal: Int32) {
        guard let process = services[name]?.process else { return }
        process.assumeIsolated { _ = $0.signalGroup(signal) }
        guard signal == SIGTERM else { return }
        let generation = services[name]!.generation
        let timer = services[name]!.killTimer ?? LoopTimer(loop: eventLoop)
        services[name]!.killTimer = timer
        timer.assumeIsolated { t in
            t.start(afterMs: config.killGraceMs) { [self] in
                self.assumeIsolated { w in
                    guard w.services[name]?.generation == generation, let p = w.services[name]?.process else { return }
                    p.assumeIsolated { _ = $0.signalGroup(SIGKILL) }
                }
            }
        }
    }

    // MARK: reports

    private func report(_ service: LocalService, state: String? = nil, lastExit: String? = nil) {
        let exitText = lastExit ?? service.supervisor.lastExit.map { exit in
            if let code = exit.exitCode { return "exit \(code)" }
            if let signal = exit.signal { return "signal \(signal)" }
            return exit.healthCheckFailed ? service.healthFailure ?? "health check failed" : ""
        } ?? ""
        send(.serviceReport(ServiceReport(
            name: service.name, generation: service.generation, state: state ?? service.supervisor.state.rawValue,
            pid: service.process?.pid ?? 0, port: service.port, restarts: UInt32(service.supervisor.restarts),
            lastExit: exitText, startedAtMs: service.process == nil ? 0 : service.startedAtMs)))
    }

    /// After a (re)registration: the master hears where every service stands.
    func reportAllServices() {
        for service in services.values where !service.ending { report(service) }
    }

    /// What a (re)registration reports besides job attempts.
    var serviceRefs: [AttemptRef] { services.values.filter { !$0.ending }.map(\.ref) }
}

/// A minimal HTTP GET for health checks: the status line's code says healthy (2xx, 3xx) or not.
enum HTTPProbe {
    static func get(_ conn: TCPConnection, path: String, _ done: @escaping @Sendable (Bool) -> Void) {
        let state = ProbeState()
        conn.assumeIsolated { c in
            c.start(onRead: { bytes in
                guard let ok = state.received(bytes) else { return }
                done(ok)
                conn.assumeIsolated { $0.close() }
            }, onClose: { _ in
                if state.finish() { done(false) }
            })
            c.send(Array("GET \(path) HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8))
        }
    }
}

/// One probe's race between its answer and its timeout, and its connection once there is one.
final class ProbeRun: Sendable {
    private let state = Mutex<(finished: Bool, conn: TCPConnection?)>((false, nil))

    /// True the first time only: that outcome counts.
    func finish() -> Bool {
        state.withLock { s in
            defer { s.finished = true }
            return !s.finished
        }
    }

    /// Keeps `conn` to close on timeout; false if the probe has already timed out.
    func adopt(_ conn: TCPConnection) -> Bool {
        state.withLock { s in
            guard !s.finished else { return false }
            s.conn = conn
            return true
        }
    }

    func closeConnection() {
        let conn = state.withLock { s in
            defer { s.conn = nil }
            return s.conn
        }
        conn?.assumeIsolated { $0.close() }
    }
}

/// The answer read so far, until its status line is complete.
final class ProbeState: Sendable {
    private let state = Mutex<(bytes: [UInt8], answered: Bool)>(([], false))

    /// The verdict once the status line is in (once), else nil.
    func received(_ bytes: [UInt8]) -> Bool? {
        state.withLock { s -> Bool? in
            guard !s.answered else { return nil }
            s.bytes.append(contentsOf: bytes)
            guard let end = s.bytes.firstIndex(of: UInt8(ascii: "\n")) else { return nil }
            s.answered = true
            let parts = String(decoding: s.bytes[..<end], as: UTF8.self).split(separator: " ")
            let code = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
            return (200..<400).contains(code)
        }
    }

    /// True if no verdict was given yet (the connection closed first).
    func finish() -> Bool {
        state.withLock { s in
            defer { s.answered = true }
            return !s.answered
        }
    }
}
