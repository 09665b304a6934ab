import Foundation
import Logging
import Synchronization
import TitanArtifacts
import TitanAuth
import TitanLoop
import TitanPolicy
import TitanProtocol
import TitanStore
import TitanTLS

/// How a master listens and schedules.
public struct MasterConfig: Sendable {
    public var host = "127.0.0.1"
    /// 0 picks a free port (see ``MasterNode/port``).
    public var port = 9090
    public var maxFrameBytes = TitanProto.defaultMaxPayload
    public var scheduler = SchedulerConfig()
    /// A worker silent this long gets no new work.
    public var suspectAfterMs: Int64 = 3_000
    /// A worker silent this long is dead: its attempts are re-queued.
    public var deadAfterMs: Int64 = 5_000
    /// Where the master keeps its state: the append-only file `titan.aof`, job output under
    /// `logs/`, artifacts under `artifacts/`. Nil: state lives in memory only (and is lost with
    /// the process), output as its recent tail per job.
    public var dataDirectory: String?
    /// When the append-only file is fsynced (Redis's `appendfsync`): `everysec` loses at most
    /// about a second of acknowledged changes to a machine crash, none to a process crash.
    public var fsync = FsyncPolicy.everysec
    /// The append-only file is rewritten (compacted) once past this size and twice its size
    /// after the last rewrite.
    public var compactAtBytes: Int64 = 64 << 20
    /// After a restart, attempts the journal says were running are re-queued if their worker
    /// has not re-registered and reported them within this (or `deadAfterMs`, if longer).
    public var reclaimAfterRestartMs: Int64 = 10_000
    /// Elastic capacity; nil: none.
    public var scaling: ScalingConfig?
    /// What connections may cost: counts, buffers, deadlines.
    public var connections = ConnectionLimits()
    /// Authentication: tokens and roles (on unless turned off explicitly).
    public var auth = AuthConfig()
    /// TLS for every connection from another host (this host's own may stay plaintext); with a
    /// client CA, workers must present a certificate it signed. Nil: plaintext.
    public var tls: TLSContext?
    /// Before replaying, repair an append-only file damaged in the middle (which otherwise stops
    /// the start): every intact record this master can use is kept, the damaged ranges are
    /// dropped and reported (``MasterNode/journalRepair``), the original is kept as
    /// `titan.aof.damaged-<UTC time>`. `titan-node --repair-journal`.
    public var repairJournal = false

    public init() {}
}

/// A running master: the listener, its sessions, the scheduler and the heartbeat monitor, all on
/// one event loop.
public actor MasterNode: LoopBound {
    public nonisolated let eventLoop: EventLoop
    /// The port it listens on.
    public nonisolated let port: Int
    public nonisolated let scheduler: SchedulerActor
    private let listener: TCPListener
    private let monitor: HeartbeatMonitor
    private let logStore: LogStore?
    /// Set when the master scales capacity.
    public private(set) var scaler: ScalerActor?
    private var sessions: [ObjectIdentifier: MasterSession] = [:]
    private let logger: Logger
    private let governor: ConnectionGovernor
    private let limits: ConnectionLimits
    private let authConfig: AuthConfig
    private let tls: TLSContext?
    /// Checks every connection's deadlines about once a second.
    private var deadlineTimer: LoopTimer?
    /// Held from start to stop: one master per data directory.
    private let directoryLock: DataDirectoryLock?
    /// What `MasterConfig.repairJournal` found and dropped; nil when no repair was asked for.
    public nonisolated let journalRepair: RepairReport?

    private init(loop: EventLoop, listener: TCPListener, scheduler: SchedulerActor, monitor: HeartbeatMonitor,
                 logStore: LogStore?, governor: ConnectionGovernor, limits: ConnectionLimits, auth: AuthConfig, logger: Logger,
                 directoryLock: DataDirectoryLock?, journalRepair: RepairReport?, tls: TLSContext?) {
        eventLoop = loop
        authConfig = auth
        self.tls = tls
        self.governor = governor
        self.limits = limits
        self.logStore = logStore
        self.directoryLock = directoryLock
        self.journalRepair = journalRepair
        self.listener = listener
        port = listener.port
        self.scheduler = scheduler
        self.monitor = monitor
        self.logger = logger
    }

    /// Binds and starts serving. Callable from anywhere.
    ///
    /// With a data directory, first locks it (a second master on it fails with
    /// ``MasterStartError/dataDirectoryInUse(directory:pid:since:)``); the lock is held until
    /// ``stop()``.
    public static func start(config: MasterConfig, loop: EventLoop,
                             logger: Logger = Logger(label: "titan.master")) async throws(MasterStartError) -> MasterNode {
        if !config.auth.enabled && !isLoopback(config.host) {
            throw .insecure("refusing to listen on \(config.host) without authentication: anyone who reaches it could run "
                            + "commands on every worker; drop --no-auth (or bind to 127.0.0.1)")
        }
        // Replaying reads the whole file: here, on the caller's thread, not the loop's.
        var journal: (log: AppendLog, state: RestoredState)?
        var lock: DataDirectoryLock?
        var repair: RepairReport?
        var tokens: (AuthStore, AuthStore.Loaded)?
        if let dataDirectory = config.dataDirectory {
            // Before the journal is touched: a second master must not even replay (and repair) it.
            lock = try lockDataDirectory(dataDirectory)
            do {
                tokens = config.auth.enabled ? try loadTokens(config: config, logger: logger) : nil
                let opened = try openJournal(directory: dataDirectory, fsync: config.fsync, repair: config.repairJournal, logger: logger)
                journal = (opened.log, opened.state)
                repair = opened.repair
            } catch {
                lock?.release()
                throw error
            }
        }
        if config.dataDirectory == nil && config.auth.enabled { tokens = try loadTokens(config: config, logger: logger) }
        let (opened, heldLock, repaired, loadedTokens) = (journal, lock, repair, tokens)
        let result = await withCheckedContinuation { (c: CheckedContinuation<Result<MasterNode, MasterStartError>, Never>) in
            loop.execute {
                c.resume(returning: Result { () throws(MasterStartError) in
                    try startOnLoop(config: config, loop: loop, logger: logger, journal: opened, tokens: loadedTokens,
                                    directoryLock: heldLock, journalRepair: repaired)
                })
            }
        }
        if case .failure = result {
            if let log = journal?.log { try? await log.close() }
            lock?.release()
        }
        return try result.get()
    }

    /// Creates the data directory if needed and takes its lock.
    static func lockDataDirectory(_ directory: String) throws(MasterStartError) -> DataDirectoryLock {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw .dataDirectory("cannot create '\(directory)': \(error.localizedDescription)")
        }
        do {
            return try DataDirectoryLock(directory: directory)
        } catch {
            if case let .directoryInUse(_, pid, since) = error {
                throw .dataDirectoryInUse(directory: directory, pid: pid, since: since)
            }
            throw .dataDirectory("cannot lock '\(directory)': \(error)")
        }
    }

    /// Replays `DIR/titan.aof` (repairing a torn tail) and opens it for appending. With `repair`,
    /// first repairs damage in the middle of the file (see `MasterConfig.repairJournal`).
    static func openJournal(directory: String, fsync: FsyncPolicy, repair: Bool = false,
                            logger: Logger) throws(MasterStartError) -> (log: AppendLog, state: RestoredState, repair: RepairReport?) {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw .dataDirectory("cannot create '\(directory)': \(error.localizedDescription)")
        }
        let path = directory + "/titan.aof"
        var repairReport: RepairReport?
        if repair { repairReport = try repairJournal(path: path, logger: logger) }
        var state = RestoredState()
        let started = Time.monotonicMs()
        do {
            var offset = Int64(RecordFormat.fileHeaderSize)
            var index = 0
            let report = try AOFReader.replay(path: path, repair: true) { (bytes) throws(StoreError) in
                do {
                    try state.apply(try JournalRecord(decoding: bytes))
                } catch {
                    throw StoreError.corrupt(path: path, offset: offset, recordIndex: index,
                                             reason: "the record is intact (its checksum matches) but is not a state change this master understands: \(error)")
                }
                offset += Int64(RecordFormat.recordHeaderSize + bytes.count)
                index += 1
            }
            if let torn = report.tornTail {
                logger.warning("the append-only file ended in a torn record (a crash mid-write); truncated to the last whole record", metadata: [
                    "path": "\(path)", "offset": "\(torn.offset)", "dropped": "\(torn.bytesDropped)", "reason": "\(torn.reason)",
                ])
            }
            if report.fileExisted {
                logger.info("replayed the append-only file", metadata: [
                    "records": "\(report.recordCount)", "ms": "\(Time.monotonicMs() - started)",
                ])
            }
            return (try AppendLog(path: path, policy: fsync), state, repairReport)
        } catch {
            if case .corrupt = error { throw .journalDamaged(error) }
            throw .dataDirectory("append-only file: \(error)")
        }
    }

    /// `MasterConfig.repairJournal`: keeps the records this master can apply, in order (so a
    /// change to a job whose creation was lost goes too), and logs what was dropped.
    static func repairJournal(path: String, logger: Logger) throws(MasterStartError) -> RepairReport {
        var scratch = RestoredState()
        let report: RepairReport
        do {
            report = try AOFRepair.repair(path: path) { payload in
                do {
                    try scratch.apply(try JournalRecord(decoding: Array(payload)))
                    return nil
                } catch {
                    return "\(error)"
                }
            }
        } catch {
            throw .dataDirectory("append-only file: repair failed, the file is unchanged: \(error)")
        }
        guard report.changed else {
            logger.notice("append-only file checked for repair: nothing to drop", metadata: [
                "path": "\(path)", "records": "\(report.keptRecords)",
            ])
            return report
        }
        logger.warning("repaired the append-only file: dropped what was damaged", metadata: [
            "path": "\(path)", "kept": "\(report.keptRecords)", "damagedRanges": "\(report.damagedRanges)",
            "unusableRecords": "\(report.rejectedRecords)", "bytesDropped": "\(report.bytesDropped)",
            "damagedCopy": "\(report.damagedCopy ?? "")",
        ])
        for range in report.dropped {
            logger.warning("dropped from the append-only file", metadata: [
                "offset": "\(range.offset)", "length": "\(range.length)", "reason": "\(range.reason)",
            ])
        }
        return report
    }

    /// Binds and starts serving. Loop thread only.
    static func startOnLoop(config: MasterConfig, loop: EventLoop, logger: Logger,
                            journal opened: (log: AppendLog, state: RestoredState)?,
                            tokens: (AuthStore, AuthStore.Loaded)? = nil,
                            directoryLock: DataDirectoryLock? = nil, journalRepair: RepairReport? = nil) throws(MasterStartError) -> MasterNode {
        var logStore: LogStore?
        var artifacts: ArtifactService?
        if let dataDirectory = config.dataDirectory {
            do {
                artifacts = ArtifactService(store: try ArtifactStore(directory: dataDirectory + "/artifacts"))
            } catch {
                throw .dataDirectory(error.description)
            }
            do {
                logStore = try LogStore(directory: dataDirectory + "/logs", logger: logger)
            } catch {
                throw .dataDirectory(error.description)
            }
        }
        let scheduler = SchedulerActor(loop: loop, config: config.scheduler, logger: logger)
        let monitor = HeartbeatMonitor(loop: loop, scheduler: scheduler,
                                       detector: FailureDetector(suspectAfterMs: config.suspectAfterMs,
                                                                 deadAfterMs: config.deadAfterMs))
        let box = NodeBox()
        let listener: TCPListener
        do {
            listener = try TCPListener(loop: loop, host: config.host, port: config.port) { conn in
                box.node?.assumeIsolated { $0.accepted(conn) }
            }
        } catch {
            if let logStore { Task { await logStore.stop() } }
            throw .listen(error)
        }
        let descriptors = DescriptorLimit.raise()
        let governor = ConnectionGovernor(loop: loop, limits: config.connections, descriptorLimit: descriptors)
        let node = MasterNode(loop: loop, listener: listener, scheduler: scheduler, monitor: monitor,
                              logStore: logStore, governor: governor, limits: config.connections, auth: config.auth, logger: logger,
                              directoryLock: directoryLock, journalRepair: journalRepair, tls: config.tls)
        box.node = node
        node.assumeIsolated { $0.startDeadlineChecks() }
        scheduler.assumeIsolated { s in
            s.auth = tokens.map { TokenRegistry(masterKey: $0.1.masterKey, tokens: $0.1.tokens, store: $0.0) }
            s.heartbeatMonitor = monitor
            s.logStore = logStore
            s.artifacts = artifacts
            if let opened {
                s.journal = Journal(log: opened.log, logger: logger, compactAtBytes: config.compactAtBytes)
                if opened.state.masterId == nil {
                    s.journal(.instance(masterId: s.masterId))
                } else {
                    // Workers reconnect with a backoff of up to 5 s: give them time to report what
                    // they run before it is run again elsewhere.
                    s.restore(opened.state, reclaimAfterMs: UInt64(max(config.deadAfterMs, config.reclaimAfterRestartMs)))
                }
            }
        }
        if let scaling = config.scaling {
            let scaler = ScalerActor(loop: loop, config: scaling, scheduler: scheduler,
                                     masterAddress: "\(config.host == "0.0.0.0" ? "127.0.0.1" : config.host):\(listener.port)",
                                     workDirectory: (config.dataDirectory ?? FileManager.default.temporaryDirectory.path) + "/scaled",
                                     logger: logger)
            node.assumeIsolated { $0.scaler = scaler }
            scaler.assumeIsolated { $0.start() }
        }
        let checkEvery = UInt64(max(50, min(config.suspectAfterMs, config.deadAfterMs) / 4))
        monitor.assumeIsolated { $0.start(everyMs: checkEvery) }
        logger.info("master listening", metadata: [
            "address": "\(config.host):\(listener.port)",
            "max-connections": "\(governor.assumeIsolated { $0.maxConnections })", "descriptors": "\(descriptors)",
            "tls": "\(config.tls == nil ? "off" : config.tls!.verifiesClients ? "on, workers need a certificate" : "on")",
        ])
        if config.tls == nil && !isLoopback(config.host) {
            logger.notice("""
                TLS is off: traffic to other hosts is not encrypted (tokens never cross in clear, but jobs and their output \
                do); give --tls-cert and --tls-key (titan certs makes them)
                """)
        }
        return node
    }

    private func accepted(_ conn: TCPConnection) {
        let admission = governor.assumeIsolated { $0.admit() }
        if admission == .refused {
            // Accepted only to say why: a peer that is simply not accepted waits in the backlog.
            let max = governor.assumeIsolated { $0.maxConnections }
            let refusal = Envelope(requestId: 0, message: .error(.unavailable,
                "too many connections (\(max)); try again later"))
            conn.assumeIsolated { c in
                c.send { NativeCodec.encode(refusal, into: &$0) }
                c.closeAfterFlush()
            }
            logRefusal()
            return
        }
        let session = MasterSession(loop: eventLoop, connection: conn, scheduler: scheduler, governor: governor,
                                    limits: limits, workersOnly: admission == .workersOnly, auth: authConfig,
                                    maxFrame: TitanProto.defaultMaxPayload, label: "conn", tls: tls)
        sessions[ObjectIdentifier(session)] = session
        let report: @Sendable (String) -> Void = { [weak self] text in
            self?.assumeIsolated { $0.logConnectionProblem(text) }
        }
        session.assumeIsolated { s in
            s.start(allowV1FromRemote: authConfig.allowV1FromRemote, report: report) { [weak self] closed in
                self?.assumeIsolated { $0.sessions[ObjectIdentifier(closed)] = nil }
            }
        }
    }

    private var lastRefusalLogMs: Int64 = 0
    private var problemWindowStartMs: Int64 = 0
    private var problemsInWindow = 0

    /// TLS failures and refused plaintext: logged, at most 10 every 10 s (then a count), so a
    /// scan of the port cannot flood the log.
    private func logConnectionProblem(_ text: String) {
        let now = Time.monotonicMs()
        if now - problemWindowStartMs > 10_000 {
            if problemsInWindow > 10 { logger.warning("\(problemsInWindow - 10) more connection problems not logged in the last 10 s") }
            problemWindowStartMs = now
            problemsInWindow = 0
        }
        problemsInWindow += 1
        if problemsInWindow <= 10 { logger.warning("\(text)") }
    }

    /// Logs refused connections at most once every 10 s (a flood must not flood the log too).
    private func logRefusal() {
        let now = Time.monotonicMs()
        guard now - lastRefusalLogMs > 10_000 else { return }
        lastRefusalLogMs = now
        logger.warning("refusing connections: the connection limit is reached", metadata: [
            "open": "\(governor.assumeIsolated { $0.open })", "max": "\(governor.assumeIsolated { $0.maxConnections })",
        ])
    }

    private func startDeadlineChecks() {
        let timer = LoopTimer(loop: eventLoop)
        deadlineTimer = timer
        let every = UInt64(max(20, min(1_000, min(limits.frameDeadlineMs, limits.firstFrameDeadlineMs) / 4)))
        timer.assumeIsolated { t in
            t.start(afterMs: every, repeatMs: every) { [weak self] in
                self?.assumeIsolated { node in
                    let now = Time.monotonicMs()
                    for session in node.sessions.values { session.assumeIsolated { $0.checkDeadlines(nowMs: now) } }
                }
            }
        }
    }

    /// Connections open now, what they buffer, and what the limits refused.
    public func connectionStats() async -> ConnectionStats {
        await governor.counts()
    }

    /// Stops listening, closes every connection and timer. Returns when all are closed.
    public func stop() async {
        await deadlineTimer?.close()
        deadlineTimer = nil
        await scaler?.stop()
        await monitor.stop()
        await scheduler.close()
        await scheduler.closeJournal()
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            listener.assumeIsolated { $0.close { c.resume() } }
        }
        let open = Array(sessions.values)
        for session in open { session.close() }
        while !sessions.isEmpty {
            // Each session removes itself from its close callback; wait for the loop to run them.
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in eventLoop.execute { c.resume() } }
        }
        await logStore?.stop()
        // Last: the journal and the logs are closed, so the next master finds them whole.
        directoryLock?.release()
        logger.info("master stopped")
    }
}

/// True for a loopback address (the only place a master may run without authentication).
func isLoopback(_ host: String) -> Bool {
    host.hasPrefix("127.") || host == "::1" || host == "localhost"
}

extension MasterNode {
    /// Reads the master's key and tokens (`DATA_DIR/auth`), and registers the local user's admin
    /// credential (creating it on the first start). Blocking: before the loop starts serving.
    static func loadTokens(config: MasterConfig, logger: Logger) throws(MasterStartError) -> (AuthStore, AuthStore.Loaded) {
        let store = AuthStore(directory: config.dataDirectory.map { $0 + "/auth" })
        var loaded = try store.load()
        guard let path = config.auth.localTokenPath else { return (store, loaded) }
        let (token, created) = try AuthStore.localCredential(at: path)
        if !loaded.tokens.contains(where: { $0.id == token.id }) {
            loaded.tokens.append(StoredToken(id: token.id, role: .admin, name: "local", createdAtMs: Time.wallMs(),
                                             expiresAtMs: 0, verifier: TokenVerifier(secret: token.secret)))
            try store.save(loaded.tokens)
            logger.notice(created ? "created the local admin credential (the CLI and SDKs on this host use it)"
                                  : "registered the local admin credential", metadata: ["path": "\(path)"])
            logger.notice("workers and clients on other hosts need a token: titan token create --role worker|submit|read")
        }
        return (store, loaded)
    }
}

/// Lets the listener's accept callback reach the node created after it.
private final class NodeBox: Sendable {
    private let value = Mutex<MasterNode?>(nil)

    var node: MasterNode? {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}

/// Why a master could not start.
public enum MasterStartError: Error, Sendable, CustomStringConvertible {
    /// Cannot listen on the address (in use, not an address of this host, ...).
    case listen(LoopError)
    /// The data directory cannot be created or written.
    case dataDirectory(String)
    /// The configuration would expose the cluster (e.g. no authentication beyond loopback).
    case insecure(String)
    /// Another master holds the data directory (its pid and start time, if it wrote them).
    case dataDirectoryInUse(directory: String, pid: Int32?, since: String?)
    /// The append-only file is damaged in the middle (a `StoreError.corrupt` naming the offset
    /// and record number); `MasterConfig.repairJournal` drops the damage and keeps the rest.
    case journalDamaged(StoreError)

    public var description: String {
        switch self {
        case .listen(let error): "\(error)"
        case .dataDirectory(let problem): "data directory: \(problem)"
        case .insecure(let problem): problem
        case let .dataDirectoryInUse(directory, pid, since):
            "\(StoreError.directoryInUse(directory: directory, pid: pid, since: since))"
        case .journalDamaged(let error):
            "append-only file: \(error). To keep every intact record and drop only the damaged ones, start the master "
                + "with --repair-journal (MasterConfig.repairJournal); the damaged file is kept as a copy"
        }
    }
}
