import Foundation
import Logging
import TitanArtifacts
import TitanAuth
import TitanLoop
import TitanPolicy
import TitanProtocol
import TitanTLS

/// How a worker finds its master and what it offers.
public struct WorkerConfig: Sendable {
    public var masterHost = "127.0.0.1"
    public var masterPort = 9090
    /// Capability tags; a worker with none given is `GENERAL`.
    public var capabilities = ["GENERAL"]
    /// Jobs run at once.
    public var slots: UInt32 = UInt32(max(1, ProcessInfo.processInfo.activeProcessorCount))
    /// Permanent workers are never retired by the scaler.
    public var permanent = true
    /// Stable id across reconnects; defaults to host-pid-random.
    public var workerId = WorkerConfig.defaultWorkerId()
    public var name = ProcessInfo.processInfo.hostName
    /// Directory jobs run in unless they name one; DAG directories go below it (`dags/DAGID`).
    /// Empty means `TMPDIR/titan-WORKERID`, created at start.
    public var workDirectory = ""
    /// Reconnect delays after losing the master (jittered).
    public var reconnect = Backoff(initialMs: 100, maxMs: 5_000)
    /// The connection to the master is dropped, and made again, once what the worker sent (its
    /// heartbeats, at least) stays unacknowledged this long; a connect attempt gives up after it
    /// too. Without it a silent partition is only noticed when TCP's retransmissions, ever further
    /// apart (up to 2 minutes), happen to cross a healed network. 0: the kernel's defaults.
    public var masterTimeoutMs: UInt32 = 10_000
    /// SIGTERM first, SIGKILL this long after (stop, cancel).
    public var killGraceMs: UInt64 = 2_000
    /// DAG directories untouched this long are removed (checked at start, then hourly).
    public var dagDirectoryRetentionSeconds: Double = 7 * 86_400
    /// Services: restart delays (doubling, capped), a run this long resets them, health checks
    /// this often, each given up on after its timeout, and a service not healthy this long after
    /// its start is restarted per its policy (see `HealthProbePolicy`).
    public var serviceBackoff = Backoff(initialMs: 500, maxMs: 30_000)
    public var serviceStableAfterMs: Int64 = 10_000
    public var serviceHealthIntervalMs: UInt64 = 1_000
    public var serviceProbeTimeoutMs: UInt64 = 2_000
    public var serviceStartGraceMs: UInt64 = 10_000
    /// Ports for services deployed with `--port auto`.
    public var servicePorts = 20_000...29_999
    /// Where jobs on other machines reach this worker's services; nil: the local address of its
    /// connection to the master (right unless there is NAT in between).
    public var advertiseAddress: String?
    /// The worker's credential (a `worker` or `admin` token); nil: none (a master that requires
    /// one refuses the worker, saying so). Never passed on to jobs.
    public var token: AuthToken?
    /// TLS to the master (its certificate checked against the CA; with a certificate of our own,
    /// mutual TLS); nil: plaintext.
    public var tls: TLSContext?
    /// The name the master's certificate must be for; nil: ``masterHost``.
    public var tlsServerName: String?
    /// The CA file jobs are told of (`TITAN_TLS_CA`), so the SDK in a job reaches the master
    /// over TLS too.
    public var tlsCAFile: String?
    /// Run jobs and services as this user (its group and supplementary groups, its HOME), in
    /// directories it owns; the worker's own files stay closed to it. nil: as the worker's user.
    public var runAs: RunAsUser?

    public init() {}

    public static func defaultWorkerId() -> String {
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "worker"
        return "\(host)-\(getpid())-\(String(UInt32.random(in: 0...UInt32.max), radix: 36))"
    }
}

/// A worker: keeps a connection to the master (reconnecting with backoff), runs dispatched
/// attempts as process groups, streams their output as it comes, and keeps each result until the
/// master acknowledges it (re-sent after a reconnect).
public actor WorkerNode: LoopBound {
    struct Running {
        var process: ChildProcess?
        /// Asked to stop while its artifacts were being fetched (no process yet).
        var killRequested = false
        var partial: [Int32: [UInt8]] = [:]
        var startedAtMs: Int64
        var killTimer: LoopTimer?
        var timeoutTimer: LoopTimer?
        var timedOut = false
    }

    public nonisolated let eventLoop: EventLoop
    public nonisolated let config: WorkerConfig
    let logger: Logger
    private let baseEnvironment: [String: String]
    /// `baseEnvironment` as `K=V` strings, built once: most jobs add only their own few.
    private let baseEnvironmentStrings: [String]
    private var connection: TCPConnection?
    private var decoder = FrameDecoder()
    private var registered = false
    /// The master instance we are registered with: DAG directories are kept per instance.
    private var masterId = ""
    private var reconnectAttempt = 0
    private var reconnectTimer: LoopTimer?
    private var cleanupTimer: LoopTimer?
    private var heartbeatTimer: LoopTimer?
    var running: [AttemptRef: Running] = [:]
    /// Finished attempts not yet acknowledged by the master, oldest first.
    private var unacked: [(AttemptRef, JobResult)] = []
    var stopping = false
    /// Job process groups alive now (pid → start time), mirrored to disk.
    private var processGroups: [Int32: UInt64] = [:]
    private let pidRegistry: PidRegistry
    private var stopWaiters: [CheckedContinuation<Void, Never>] = []
    private var registeredWaiters: [CheckedContinuation<Void, Never>] = []
    private static let maxPartialLine = 64 * 1024
    /// Artifacts jobs need: fetched from the master once, cached by hash (nil if the cache
    /// directory cannot be made).
    let artifactCache: ArtifactCache?
    /// Disk work for artifacts (writing downloads, copying, extracting), off the loop.
    let artifactQueue = DispatchQueue(label: "titan.worker.artifacts", qos: .utility)
    var fetches = ArtifactFetches()
    /// Services supervised here, by name.
    var services: [String: LocalService] = [:]
    /// A new placement of a service whose previous one is still ending here: it starts once that
    /// process has gone (and its port is free).
    var waitingServices: [String: (generation: UInt32, spec: ServiceSpec)] = [:]
    var portAllocator: PortAllocator
    /// DAG directories made by this process (one mkdir per DAG, not per job).
    private var createdDagDirectories: Set<String> = []
    /// This process's registration token (see `Registration.instance`).
    private let instance = (0..<2).map { _ in String(UInt64.random(in: 0...UInt64.max), radix: 16) }.joined(separator: "-")
    private var authNonce: [UInt8] = []
    private var authServerNonce: [UInt8] = []
    /// Why the master last refused to register this worker, if it did.
    public private(set) var lastRejection: String?
    /// Artifacts downloaded from the master since start (cache hits not counted).
    public internal(set) var artifactDownloads = 0
    let materializedArtifacts = MaterializedArtifacts()

    public init(loop: EventLoop, config: WorkerConfig, logger: Logger = Logger(label: "titan.worker")) {
        eventLoop = loop
        var config = config
        if config.token == nil {
            // The local credential (or TITAN_TOKEN/TITAN_TOKEN_FILE), as the CLI finds it.
            config.token = try? TokenSource.find()
        }
        if config.workDirectory.isEmpty {
            config.workDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("titan-\(config.workerId)").path
        }
        try? FileManager.default.createDirectory(atPath: config.workDirectory, withIntermediateDirectories: true)
        if config.runAs != nil {
            // Jobs of another user may pass through the worker's directories to their own (0711)
            // but not list or write them: running.pids, the artifact cache, other jobs' files.
            for directory in ["", "/jobs", "/dags", "/services"] {
                let path = config.workDirectory + directory
                try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
                _ = chmod(path, 0o711)
            }
        }
        self.config = config
        pidRegistry = PidRegistry(path: config.workDirectory + "/running.pids")
        // A random first port: several workers on one host then rarely race for the same one.
        portAllocator = PortAllocator(range: config.servicePorts, startingAt: Int.random(in: config.servicePorts))
        self.logger = logger
        do {
            artifactCache = try ArtifactCache(directory: config.workDirectory + "/artifacts")
        } catch {
            logger.error("no artifact cache, jobs that need artifacts will fail: \(error)")
            artifactCache = nil
        }
        var env = ProcessInfo.processInfo.environment
        // The worker's credential is its own: a job gets a token of its own at dispatch.
        env["TITAN_TOKEN"] = nil
        env["TITAN_TOKEN_FILE"] = nil
        env["TITAN_MASTER"] = "\(config.masterHost):\(config.masterPort)"
        env["TITAN_HOST"] = config.masterHost
        env["TITAN_PORT"] = "\(config.masterPort)"
        env["TITAN_WORKER_ID"] = config.workerId
        // A job talks to the master over TLS when the worker does (its own token, no certificate).
        env["TITAN_TLS_CA"] = config.tls == nil ? nil : config.tlsCAFile
        env["TITAN_TLS_SERVER_NAME"] = config.tls == nil ? nil : config.tlsServerName
        env["TITAN_TLS_CERT"] = nil
        env["TITAN_TLS_KEY"] = nil
        if let user = config.runAs {
            env["HOME"] = user.home
            env["USER"] = user.name
            env["LOGNAME"] = user.name
        }
        baseEnvironment = env
        baseEnvironmentStrings = env.map { "\($0.key)=\($0.value)" }
    }

    /// Starts connecting; returns at once. Use ``waitRegistered()`` to wait for the master.
    public func start() {
        // A previous run of this worker (same work directory) that crashed may have left jobs
        // running: their process groups die before we take new work.
        _ = PidRegistry.killLeftovers(at: config.workDirectory + "/running.pids", logger: logger)
        reconnectTimer = LoopTimer(loop: eventLoop)
        let cleanup = LoopTimer(loop: eventLoop)
        cleanupTimer = cleanup
        let directories = [config.workDirectory + "/dags", config.workDirectory + "/jobs"]
        let retention = config.dagDirectoryRetentionSeconds
        let logger = logger
        cleanup.assumeIsolated { t in
            t.start(afterMs: 0, repeatMs: 3_600_000) {
                // Off the loop: walking and deleting directories is disk work.
                Task.detached(priority: .background) {
                    for directory in directories {
                        DagDirectories.removeStale(in: directory, olderThanSeconds: retention, logger: logger)
                    }
                }
            }
        }
        heartbeatTimer = LoopTimer(loop: eventLoop)
        connect()
    }

    /// Returns once the worker is registered with the master.
    public func waitRegistered() async {
        if registered { return }
        await withCheckedContinuation { registeredWaiters.append($0) }
    }

    public var isRegistered: Bool { registered }
    public var runningCount: Int { running.count }

    // MARK: connection

    private func connect() {
        guard !stopping else { return }
        TCPConnection.connect(loop: eventLoop, host: config.masterHost, port: config.masterPort,
                              userTimeoutMs: config.masterTimeoutMs) { [self] result in
            self.assumeIsolated { $0.connected(result) }
        }
    }

    private func connected(_ result: Result<TCPConnection, LoopError>) {
        switch result {
        case .failure(let error):
            if reconnectAttempt == 0 { logger.warning("cannot reach master: \(error)") }
            scheduleReconnect()
        case .success(let conn):
            if stopping {
                conn.assumeIsolated { $0.close() }
                return
            }
            connection = conn
            decoder = FrameDecoder()
            conn.assumeIsolated { c in
                c.start(onRead: { [self] bytes in
                    self.assumeIsolated { $0.received(bytes) }
                }, onClose: { [self] error in
                    self.assumeIsolated { $0.connectionLost(error) }
                })
                if let tls = config.tls {
                    // What is sent before the handshake completes waits for it.
                    c.startTLS(context: tls, role: .client(serverName: config.tlsServerName ?? config.masterHost)) { _ in }
                }
            }
            if let token = config.token {
                authNonce = AuthExchange.nonce()
                send(.authHello(tokenId: token.id, nonce: authNonce), requestId: Self.authRequestId)
            } else {
                sendRegistration()
            }
        }
    }

    /// Request id of the authentication exchange (the worker sends no other requests with it).
    static let authRequestId: UInt32 = 0xFFFF_FFF0

    /// The registration names the finished attempts whose results the master has not
    /// acknowledged among those this process holds, then the results follow: the master
    /// believes a result only from the registered worker that holds the attempt.
    private func sendRegistration() {
        let address = config.advertiseAddress ?? connection?.assumeIsolated { $0.localAddress } ?? ""
        send(.register(Registration(workerId: config.workerId, name: config.name,
                                    capabilities: config.capabilities, slots: config.slots,
                                    permanent: config.permanent,
                                    running: Array(running.keys) + unacked.map(\.0) + serviceRefs,
                                    instance: instance, address: address)))
        for (ref, result) in unacked { send(.jobFinished(ref, result)) }
    }

    private func authenticated(_ message: Message) {
        guard let token = config.token else { return }
        switch message {
        case .authChallenge(let serverNonce):
            send(.authProof(AuthExchange.clientProof(token: token, clientNonce: authNonce, serverNonce: serverNonce)),
                 requestId: Self.authRequestId)
            authServerNonce = serverNonce
        case .authOk(_, let signature):
            guard AuthExchange.verifyServer(signature: signature, token: token, clientNonce: authNonce, serverNonce: authServerNonce) else {
                lastRejection = AuthError.masterNotAuthentic.description
                logger.error("\(AuthError.masterNotAuthentic)")
                connection?.assumeIsolated { $0.close() }
                return
            }
            sendRegistration()
        default:
            break
        }
    }

    private func scheduleReconnect() {
        guard !stopping else { return }
        var rng = SystemRandomNumberGenerator()
        let delay = config.reconnect.jitteredDelayMs(attempt: reconnectAttempt, using: &rng)
        reconnectAttempt += 1
        reconnectTimer?.assumeIsolated { t in
            t.start(afterMs: delay) { [self] in self.assumeIsolated { $0.connect() } }
        }
    }

    private func connectionLost(_ error: ConnectionError?) {
        connection = nil
        if case .tls(let problem) = error {
            // Said once per distinct reason: the worker keeps retrying with backoff.
            let text = "TLS with the master at \(config.masterHost):\(config.masterPort): \(problem)"
            if lastRejection != text { logger.error("\(text)") }
            lastRejection = text
        } else if registered && !stopping {
            logger.warning("lost master connection\(error.map { ": \($0)" } ?? ""); reconnecting")
        }
        registered = false
        heartbeatTimer?.assumeIsolated { $0.stop() }
        fetchesLostConnection()
        if stopping {
            finishStopIfDone()
        } else {
            scheduleReconnect()
        }
    }

    func send(_ message: Message, requestId: UInt32 = 0) {
        guard let connection else { return }
        let envelope = Envelope(requestId: requestId, message: message)
        connection.assumeIsolated { c in c.send { NativeCodec.encode(envelope, into: &$0) } }
    }

    private func received(_ bytes: [UInt8]) {
        decoder.append(contentsOf: bytes)
        while true {
            do {
                guard let frame = try decoder.next() else { return }
                handle(try NativeCodec.decode(frame))
            } catch let error as FrameError {
                logger.error("bad frame from master: \(error); reconnecting")
                connection?.assumeIsolated { $0.close() }
                return
            } catch {
                logger.error("bad message from master: \(error)")
            }
        }
    }

    private func handle(_ envelope: Envelope) {
        let message = envelope.message
        if envelope.requestId == Self.authRequestId {
            if case .error(_, let text) = message {
                lastRejection = text
                logger.error("the master refused this worker's token: \(text)")
                connection?.assumeIsolated { $0.close() }
            } else {
                authenticated(message)
            }
            return
        }
        if envelope.requestId != 0, fetches.hash(forRequest: envelope.requestId) != nil {
            fetchReplied(envelope)
            return
        }
        switch message {
        case .registered(let id, let heartbeatMs, let masterId):
            registered = true
            self.masterId = masterId
            reconnectAttempt = 0
            logger.info("registered with master", metadata: ["worker": "\(id)"])
            let every = UInt64(max(10, heartbeatMs))
            heartbeatTimer?.assumeIsolated { t in
                t.start(afterMs: every, repeatMs: every) { [self] in
                    self.assumeIsolated { $0.send(.heartbeat(running: Array($0.running.keys))) }
                }
            }
            let waiters = registeredWaiters
            registeredWaiters = []
            for w in waiters { w.resume() }
            resumeFetches()
            reportAllServices()
        case .dispatch(let dispatch):
            run(dispatch)
        case .kill(let ref):
            if ref.jobId.hasPrefix("svc/") {
                endService(String(ref.jobId.dropFirst(4)), generation: ref.attempt)
            } else {
                kill(ref)
            }
        case .ackFinished(let ref):
            unacked.removeAll { $0.0 == ref }
        case .runService(let name, let generation, let spec):
            runService(name, generation: generation, spec)
        case .endService(let name, let generation):
            endService(name, generation: generation)
        case .error(let code, let text):
            // A refusal repeated at every reconnect is logged once.
            if registered || text != lastRejection { logger.error("master says: \(text) (\(code))") }
            if !registered {
                // Registration refused: hang up and try again later (with backoff).
                lastRejection = text
                connection?.assumeIsolated { $0.close() }
            }
        case .ping:
            send(.pong)
        default:
            logger.warning("unexpected message from master: \(message.name)")
        }
    }

    // MARK: jobs

    private func run(_ dispatch: Dispatch) {
        let ref = AttemptRef(jobId: dispatch.jobId, attempt: dispatch.attempt)
        guard running[ref] == nil, !stopping else { return }
        let spec = dispatch.spec
        var extra: [String: String] = spec.environment
        extra["TITAN_JOB_ID"] = dispatch.jobId
        extra["TITAN_ATTEMPT"] = "\(dispatch.attempt)"
        var directory = spec.workingDirectory.isEmpty ? config.workDirectory : spec.workingDirectory
        // A job of another user cannot write the worker's work directory: a lone job gets a
        // directory of its own, as one with artifacts always does.
        if spec.workingDirectory.isEmpty && (!spec.artifacts.isEmpty || config.runAs != nil) && !dispatch.jobId.contains("/") {
            // A lone job with artifacts gets a directory of its own to put them in.
            directory = config.workDirectory + "/jobs/" + dispatch.jobId
        }
        if let slash = dispatch.jobId.firstIndex(of: "/") {
            // Jobs of one DAG share a directory on each worker: a parent leaves files there for
            // its children (the DAG's "data bus").
            let dagId = String(dispatch.jobId[..<slash])
            let dagDirectory = config.workDirectory + "/dags/" + (masterId.isEmpty ? "" : masterId + "-") + dagId
            if !createdDagDirectories.contains(dagDirectory) {
                if let user = config.runAs {
                    do {
                        try user.makeOwnedDirectory(dagDirectory)
                    } catch {
                        return complete(ref, JobResult(error: "\(error)", startedAtMs: Time.wallMs(), finishedAtMs: Time.wallMs()))
                    }
                } else {
                    try? FileManager.default.createDirectory(atPath: dagDirectory, withIntermediateDirectories: true)
                }
                // Bounded: forgetting only costs a redundant mkdir.
                if createdDagDirectories.count >= 10_000 { createdDagDirectories.removeAll() }
                createdDagDirectories.insert(dagDirectory)
            }
            extra["TITAN_DAG_ID"] = dagId
            extra["TITAN_DAG_DIR"] = dagDirectory
            if spec.workingDirectory.isEmpty { directory = dagDirectory }
        }
        let started = Time.wallMs()
        if let user = config.runAs, spec.workingDirectory.isEmpty, directory.hasPrefix(config.workDirectory + "/jobs/") {
            do {
                try user.makeOwnedDirectory(directory)
            } catch {
                return complete(ref, JobResult(error: "\(error)", startedAtMs: started, finishedAtMs: Time.wallMs()))
            }
        }
        guard !spec.artifacts.isEmpty else {
            spawn(ref, spec, environment: extra, directory: directory, startedAtMs: started)
            return
        }
        guard artifactCache != nil else {
            complete(ref, JobResult(error: "this worker has no artifact cache (see its log)", startedAtMs: started,
                                    finishedAtMs: Time.wallMs()))
            return
        }
        // Fetch (or find in the cache) and put in place every artifact first; the slot is held
        // meanwhile, the process starts after.
        running[ref] = Running(process: nil, startedAtMs: started)
        prepareArtifacts(spec.artifacts, in: directory) { [self] result in
            prepared(ref, spec, result, environment: extra, directory: directory, startedAtMs: started)
        }
    }

    private func prepared(_ ref: AttemptRef, _ spec: JobSpec, _ result: Result<Void, ArtifactError>,
                          environment extra: [String: String], directory: String, startedAtMs started: Int64) {
        guard let job = running[ref] else { return }
        if job.killRequested || stopping {
            running[ref] = nil
            complete(ref, JobResult(signal: SIGTERM, startedAtMs: started, finishedAtMs: Time.wallMs()))
        } else if case .failure(let error) = result {
            running[ref] = nil
            complete(ref, JobResult(error: "cannot prepare artifacts: \(error.message)", startedAtMs: started,
                                    finishedAtMs: Time.wallMs()))
        } else {
            spawn(ref, spec, environment: extra, directory: directory, startedAtMs: started)
            return
        }
        if stopping { finishStopIfDone() }
    }

    private func spawn(_ ref: AttemptRef, _ spec: JobSpec, environment extra: [String: String], directory: String,
                       startedAtMs started: Int64) {
        do {
            let process = try ChildProcess.spawn(
                loop: eventLoop, arguments: config.runAs?.wrap(spec.command) ?? spec.command, environment: environment(adding: extra),
                workingDirectory: directory,
                onOutput: { [self] fd, bytes in self.assumeIsolated { $0.output(ref, fd, bytes) } },
                onExit: { [self] exit in self.assumeIsolated { $0.exited(ref, exit) } })
            running[ref] = Running(process: process, startedAtMs: started)  // replaces a preparing entry
            // Read now: the child is not reaped yet, so its pid cannot have been reused.
            if let startTime = PidRegistry.startTime(of: process.pid) {
                processGroups[process.pid] = startTime
                pidRegistry.record(processGroups)
            }
            // No "started" message: the master marked the attempt RUNNING when it dispatched it,
            // and its start time comes with the result (a message per job cost ~30 µs of CPU).
            if spec.timeoutMs > 0 {
                let timer = LoopTimer(loop: eventLoop)
                running[ref]?.timeoutTimer = timer
                timer.assumeIsolated { t in
                    t.start(afterMs: spec.timeoutMs) { [self] in self.assumeIsolated { $0.timedOut(ref) } }
                }
            }
        } catch {
            running[ref] = nil
            complete(ref, JobResult(error: Self.spawnProblem(error, directory: directory), startedAtMs: started,
                                    finishedAtMs: Time.wallMs()))
        }
    }

    /// Why a spawn failed, in words. The child's chdir and exec fail with the same errnos, so a
    /// missing or unusable working directory is checked for here and named rather than blamed
    /// on the program.
    static func spawnProblem(_ error: SpawnError, directory: String) -> String {
        guard [ENOENT, ENOTDIR, EACCES].contains(error.errno) else { return error.description }
        var isDirectory: ObjCBool = false
        if !FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
            return "cannot start '\(error.program)': the working directory '\(directory)' does not exist"
        }
        if !isDirectory.boolValue {
            return "cannot start '\(error.program)': the working directory '\(directory)' is not a directory"
        }
        if access(directory, X_OK) != 0 {
            return "cannot start '\(error.program)': the working directory '\(directory)' cannot be entered (permission denied)"
        }
        return error.description
    }

    /// The worker's environment with `extra` added (and winning), as `K=V` strings.
    func environment(adding extra: [String: String]) -> [String] {
        // Drop base entries the job overrides (rare: only when it sets a variable we also have).
        var result = extra.keys.contains(where: { baseEnvironment[$0] != nil })
            ? baseEnvironmentStrings.filter { entry in
                guard let eq = entry.firstIndex(of: "=") else { return true }
                return extra[String(entry[..<eq])] == nil
            }
            : baseEnvironmentStrings
        for (k, v) in extra { result.append("\(k)=\(v)") }
        return result
    }

    private func output(_ ref: AttemptRef, _ fd: Int32, _ bytes: [UInt8]) {
        guard running[ref] != nil else { return }
        let stream: OutputChannel = fd == 1 ? .stdout : .stderr
        // Send complete lines now; hold a trailing partial line until its newline (or EOF).
        guard let lastNewline = bytes.lastIndex(of: UInt8(ascii: "\n")) else {
            running[ref]!.partial[fd, default: []].append(contentsOf: bytes)
            if running[ref]!.partial[fd]!.count >= Self.maxPartialLine { flushPartial(ref, fd) }
            return
        }
        var chunk = running[ref]!.partial.removeValue(forKey: fd) ?? []
        chunk.append(contentsOf: bytes[..<(lastNewline + 1)])
        send(.jobOutput(ref, stream, chunk))
        if lastNewline + 1 < bytes.count {
            running[ref]!.partial[fd] = Array(bytes[(lastNewline + 1)...])
        }
    }

    private func flushPartial(_ ref: AttemptRef, _ fd: Int32) {
        guard let rest = running[ref]?.partial.removeValue(forKey: fd), !rest.isEmpty else { return }
        send(.jobOutput(ref, fd == 1 ? .stdout : .stderr, rest))
    }

    private func exited(_ ref: AttemptRef, _ exit: ProcessExit) {
        guard let job = running[ref] else { return }
        // The last output and the result leave as one write.
        connection?.assumeIsolated { $0.cork() }
        defer { connection?.assumeIsolated { $0.uncork() } }
        flushPartial(ref, 1)
        flushPartial(ref, 2)
        job.killTimer?.assumeIsolated { $0.close() }
        job.timeoutTimer?.assumeIsolated { $0.close() }
        running[ref] = nil
        if let pid = job.process?.pid, processGroups.removeValue(forKey: pid) != nil {
            pidRegistry.record(processGroups)
        }
        complete(ref, JobResult(exitCode: exit.exitCode, signal: exit.signal, startedAtMs: job.startedAtMs,
                                finishedAtMs: Time.wallMs(), timedOut: job.timedOut))
        if stopping { finishStopIfDone() }
    }

    private func complete(_ ref: AttemptRef, _ result: JobResult) {
        unacked.append((ref, result))
        send(.jobFinished(ref, result))
    }

    /// The attempt ran past its timeout: kill it; it fails as timed out.
    private func timedOut(_ ref: AttemptRef) {
        guard running[ref] != nil else { return }
        running[ref]?.timedOut = true
        logger.info("attempt timed out; killing its process group", metadata: [
            "job": "\(ref.jobId)", "attempt": "\(ref.attempt)",
        ])
        kill(ref)
    }

    /// SIGTERM to the attempt's process group, SIGKILL after the grace period.
    private func kill(_ ref: AttemptRef) {
        guard let job = running[ref] else { return }
        guard let process = job.process else {
            // Still preparing: it will not start (see `prepared`).
            running[ref]?.killRequested = true
            return
        }
        guard job.killTimer == nil else { return }
        process.assumeIsolated { _ = $0.signalGroup(SIGTERM) }
        let timer = LoopTimer(loop: eventLoop)
        running[ref]?.killTimer = timer
        timer.assumeIsolated { t in
            t.start(afterMs: config.killGraceMs) { [self] in
                self.assumeIsolated { w in
                    guard let process = w.running[ref]?.process else { return }
                    process.assumeIsolated { _ = $0.signalGroup(SIGKILL) }
                }
            }
        }
    }

    // MARK: stop

    /// Kills running jobs (process groups: SIGTERM, then SIGKILL after the grace period), waits
    /// for them to end, closes the connection and every handle.
    public func stop() async {
        if !stopping {
            stopping = true
            for ref in Array(running.keys) { kill(ref) }
            waitingServices = [:]
            for service in Array(services.values) { endService(service.name, generation: service.generation) }
            failFetches("the worker is stopping")
            finishStopIfDone()
        }
        if running.isEmpty && services.isEmpty && connection == nil && reconnectTimer == nil { return }
        await withCheckedContinuation { stopWaiters.append($0) }
    }

    func finishStopIfDone() {
        guard stopping, running.isEmpty, services.isEmpty else { return }
        if let connection {
            // Results were sent; flush them, then close. connectionLost comes back here.
            connection.assumeIsolated { $0.closeAfterFlush() }
            return
        }
        reconnectTimer?.assumeIsolated { $0.close() }
        heartbeatTimer?.assumeIsolated { $0.close() }
        cleanupTimer?.assumeIsolated { $0.close() }
        reconnectTimer = nil
        heartbeatTimer = nil
        cleanupTimer = nil
        pidRegistry.stop()
        let waiters = stopWaiters
        stopWaiters = []
        for w in waiters { w.resume() }
        logger.info("worker stopped")
    }
}
