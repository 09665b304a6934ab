import ArgumentParser
import TitanAuth
import Foundation
import Logging
import Synchronization
import TitanLoop
import TitanPolicy
import TitanProtocol
import TitanStore
import TitanTLS
import TitanRuntime

/// `titan-node`: runs a master or a worker until SIGINT/SIGTERM, then shuts down gracefully
/// (running jobs killed as process groups, every handle closed) and exits 0.
@main
struct TitanNodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "titan-node",
        abstract: "Run a Titan master or worker.",
        discussion: """
            titan-node --role master [--bind 127.0.0.1] [--port 9090] [--data-dir DIR] [--repair-journal]
            titan-node --role worker [--master 127.0.0.1:9090] [--cap GPU,HIGH_MEM] [--slots N] [--permanent] [--run-as USER]
            """)

    enum Role: String, ExpressibleByArgument, CaseIterable {
        case master, worker
    }

    @Option(help: "master or worker.")
    var role: Role

    @Option(help: "Master: address to listen on.")
    var bind = "127.0.0.1"

    @Option(help: "Master: port to listen on (0 picks a free one; the chosen address is printed).")
    var port = 9090

    @Option(name: .customLong("data-dir"),
            help: "Master: state directory: the append-only file titan.aof, job output under logs/, artifacts under artifacts/ (default ./titan-data). Worker: directory jobs run in (default $TMPDIR/titan-ID).")
    var dataDir: String?

    @Option(help: "Master: when the append-only file is fsynced: always (before acknowledging; group commit), everysec, no.")
    var fsync: FsyncChoice = .everysec

    @Flag(name: .customLong("repair-journal"),
          help: "Master: before starting, repair a titan.aof damaged in the middle: keep every intact record, drop the damaged byte ranges (each is reported), keep the original as titan.aof.damaged-<UTC time>.")
    var repairJournal = false

    @Option(help: "Master: an elastic pool, POOL:MIN:MAX[:SLOTS] (repeatable): ephemeral workers with capability POOL are started when its jobs queue and retired when idle.")
    var scale: [String] = []

    @Option(name: .customLong("scale-hook"), help: "Master: a shell command run as HOOK up POOL COUNT / HOOK down POOL WORKER (e.g. to provision VMs).")
    var scaleHook: String?

    @Option(name: .customLong("scale-spawn"), help: "Master: local (start worker processes here) or none (the hook only).")
    var scaleSpawn = "local"

    @Option(name: .customLong("scale-idle-ms"), help: "Master: an ephemeral worker idle this long is retired.")
    var scaleIdleMs: Int64 = 45_000

    @Option(name: .customLong("scale-cooldown-ms"), help: "Master: a pool grows at most once per this long.")
    var scaleCooldownMs: Int64 = 30_000

    @Option(name: .customLong("heartbeat-ms"), help: "Master: heartbeat period asked of workers.")
    var heartbeatMs: UInt32 = 1_000

    @Option(name: .customLong("suspect-after-ms"), help: "Master: a worker silent this long gets no new work.")
    var suspectAfterMs: Int64 = 3_000

    @Option(name: .customLong("dead-after-ms"), help: "Master: a worker silent this long is dead; its jobs re-queue.")
    var deadAfterMs: Int64 = 5_000

    @Option(help: "Worker: master address HOST:PORT (default $TITAN_MASTER or 127.0.0.1:9090).")
    var master: String?

    @Option(name: .customLong("master-timeout-ms"),
            help: "Worker: drop and remake the connection to the master once what it sent stays unacknowledged this long (a silent partition); 0 leaves it to TCP.")
    var masterTimeoutMs: UInt32 = 10_000

    @Option(name: .customLong("probe-timeout-ms"),
            help: "Worker: a service health probe (tcp, http) that has not answered within this fails (default 2000).")
    var probeTimeoutMs: UInt64?

    @Option(name: .customLong("start-deadline-ms"),
            help: "Worker: a service with a health check that is not healthy this long after it starts is restarted per its policy (default 10000).")
    var startDeadlineMs: UInt64?

    @Option(help: "Worker: comma-separated capability tags (default GENERAL).")
    var cap: String?

    @Option(help: "Worker: jobs run at once (default: number of cores).")
    var slots: UInt32?

    @Flag(help: "Worker: never retired by the scaler.")
    var permanent = false

    @Option(help: "Worker: id kept across reconnects (default host-pid-random). A stable id (or --data-dir) lets a restarted worker kill jobs a crashed one left.")
    var id: String?

    @Option(help: "Worker: the address jobs on other machines reach its services at (default: the local address of its connection to the master).")
    var advertise: String?

    @Flag(name: .customLong("no-auth"),
          help: "Master: accept connections without a token (loopback binds only; logged loudly at every start).")
    var noAuth = false

    @Flag(name: .customLong("allow-v1-remote"),
          help: "Master: serve the original Titan protocol (which cannot authenticate) to other hosts too.")
    var allowV1Remote = false

    @Option(name: .customLong("run-as"),
            help: "Worker: run jobs and services as this user (its group, supplementary groups and HOME), in directories it owns; needs root. A worker running as root without it warns at start.")
    var runAs: String?

    @Option(help: "Worker: its token (titan.ID.SECRET; a worker or admin token). Default $TITAN_TOKEN, $TITAN_TOKEN_FILE, else ~/.config/titan/token.")
    var token: String?

    @Option(name: .customLong("token-file"), help: "Worker: a file holding its token.")
    var tokenFile: String?

    @Option(name: .customLong("tls-cert"), help: "This node's TLS certificate (PEM; `titan certs issue` makes one). Master: turns TLS on; a worker: its certificate for mutual TLS.")
    var tlsCert: String?

    @Option(name: .customLong("tls-key"), help: "The private key of --tls-cert (PEM).")
    var tlsKey: String?

    @Option(name: .customLong("tls-ca"), help: "The cluster's CA certificate (PEM). Master: workers must present a certificate it signed. Worker: turns TLS on and checks the master's certificate (default $TITAN_TLS_CA).")
    var tlsCA: String?

    @Option(name: .customLong("tls-server-name"), help: "Worker: the name the master's certificate must be for (default: the host in --master).")
    var tlsServerName: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level: unknown level '\(logLevel)'")
        }
        guard (0...65_535).contains(port) else { throw ValidationError("--port: \(port) is not a TCP port") }
        switch role {
        case .master:
            guard heartbeatMs > 0, suspectAfterMs > 0, suspectAfterMs <= deadAfterMs else {
                throw ValidationError("need --heartbeat-ms > 0 and 0 < --suspect-after-ms <= --dead-after-ms")
            }
            for (flag, given) in [("--master", master != nil), ("--cap", cap != nil), ("--slots", slots != nil),
                                  ("--permanent", permanent), ("--id", id != nil), ("--advertise", advertise != nil),
                                  ("--token", token != nil), ("--token-file", tokenFile != nil),
                                  ("--run-as", runAs != nil), ("--probe-timeout-ms", probeTimeoutMs != nil),
                                  ("--start-deadline-ms", startDeadlineMs != nil)] where given {
                throw ValidationError("\(flag) is a worker option; this is --role master")
            }
            if !scale.isEmpty { _ = try scalingConfig() }  // checked before anything starts
            if tlsServerName != nil { throw ValidationError("--tls-server-name is a worker option; this is --role master") }
            if (tlsCert == nil) != (tlsKey == nil) { throw ValidationError("--tls-cert and --tls-key go together") }
            if tlsCA != nil && tlsCert == nil {
                throw ValidationError("--tls-ca needs --tls-cert and --tls-key: a master checks workers' certificates only over TLS")
            }
        case .worker:
            for (flag, given) in [("--scale", !scale.isEmpty), ("--scale-hook", scaleHook != nil),
                                  ("--repair-journal", repairJournal), ("--no-auth", noAuth),
                                  ("--allow-v1-remote", allowV1Remote)] where given {
                throw ValidationError("\(flag) is a master option; this is --role worker")
            }
            if let slots, slots == 0 { throw ValidationError("--slots: must be at least 1") }
            if let probeTimeoutMs, !(1...600_000).contains(probeTimeoutMs) {
                throw ValidationError("--probe-timeout-ms: \(probeTimeoutMs) is not between 1 and 600000")
            }
            if let startDeadlineMs, startDeadlineMs > 86_400_000 {
                throw ValidationError("--start-deadline-ms: \(startDeadlineMs) is more than a day")
            }
            if let cap, Capabilities.parse([cap]).isEmpty { throw ValidationError("--cap: no capability tags in '\(cap)'") }
            if let advertise, advertise.isEmpty || advertise.contains(where: { $0.isWhitespace || $0 == "/" }) {
                throw ValidationError("--advertise: '\(advertise)' is not a host name or address")
            }
            if (tlsCert == nil) != (tlsKey == nil) { throw ValidationError("--tls-cert and --tls-key go together") }
            if workerCAFile == nil && (tlsCert != nil || tlsServerName != nil) {
                throw ValidationError("--tls-cert and --tls-server-name need --tls-ca (the CA that signed the master's certificate)")
            }
        }
        for (flag, value) in [("--tls-cert", tlsCert), ("--tls-key", tlsKey), ("--tls-ca", tlsCA), ("--tls-server-name", tlsServerName)] {
            if let value, value.isEmpty { throw ValidationError("\(flag): empty") }
        }
    }

    /// A worker's CA: --tls-ca, else $TITAN_TLS_CA.
    private var workerCAFile: String? {
        tlsCA ?? ProcessInfo.processInfo.environment["TITAN_TLS_CA"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// An absolute path (jobs, which run elsewhere, are told the CA's).
    private static func absolute(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.path
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "titan.\(role.rawValue)")
        let loop = EventLoop(name: "titan-\(role.rawValue)")
        // Before anything starts: a signal during start-up must still shut down cleanly.
        let termination = await Termination.install(on: loop)
        let stop: @Sendable () async -> Void
        switch role {
        case .master:
            let dataDirectory = dataDir ?? "titan-data"
            try prepareDirectory(dataDirectory)
            var config = MasterConfig()
            config.dataDirectory = dataDirectory
            config.host = bind
            config.port = port
            config.scheduler.heartbeatIntervalMs = heartbeatMs
            config.suspectAfterMs = suspectAfterMs
            config.deadAfterMs = deadAfterMs
            config.fsync = fsync.policy
            config.repairJournal = repairJournal
            config.auth.enabled = !noAuth
            config.auth.allowV1FromRemote = allowV1Remote
            if noAuth {
                logger.critical("AUTHENTICATION IS OFF (--no-auth): anyone who can reach \(bind):\(port) can run any command on every worker")
            }
            if allowV1Remote {
                logger.warning("the original Titan protocol is served to other hosts (--allow-v1-remote): it cannot authenticate")
            }
            if !scale.isEmpty { config.scaling = try scalingConfig() }
            if let tlsCert, let tlsKey {
                do {
                    config.tls = try TLSContext.server(certificateFile: tlsCert, privateKeyFile: tlsKey, clientCAFile: tlsCA)
                } catch {
                    await termination.close()
                    await loop.shutdown()
                    throw NodeError(message: "cannot start master: \(error)")
                }
            }
            let node: MasterNode
            do {
                node = try await MasterNode.start(config: config, loop: loop, logger: logger)
            } catch {
                await termination.close()
                await loop.shutdown()
                throw NodeError(message: "cannot start master: \(error)")
            }
            announce("titan master listening on \(bind):\(node.port)")
            // After the announce line, which scripts read for the port.
            if let repair = node.journalRepair { announce(repair.description) }
            stop = { await node.stop() }
        case .worker:
            var config = WorkerConfig()
            let text = master ?? ProcessInfo.processInfo.environment["TITAN_MASTER"] ?? MasterAddress.standard.description
            let address: MasterAddress
            do {
                address = try MasterAddress(parsing: text)
            } catch {
                throw ValidationError("--master: \(error)")
            }
            config.masterHost = address.host
            config.masterPort = address.port
            if let cap { config.capabilities = Capabilities.parse([cap]) }
            if let slots { config.slots = slots }
            config.masterTimeoutMs = masterTimeoutMs
            if let probeTimeoutMs { config.serviceProbeTimeoutMs = probeTimeoutMs }
            if let startDeadlineMs { config.serviceStartGraceMs = startDeadlineMs }
            if let id { config.workerId = id }
            config.advertiseAddress = advertise
            config.permanent = permanent
            do {
                config.token = try TokenSource.find(token: token, tokenFile: tokenFile)
            } catch {
                throw ValidationError("\(error)")
            }
            if let ca = workerCAFile {
                do {
                    config.tls = try TLSContext.client(caFile: ca, certificateFile: tlsCert, privateKeyFile: tlsKey)
                } catch {
                    await termination.close()
                    await loop.shutdown()
                    throw NodeError(message: "cannot start worker: \(error)")
                }
                config.tlsCAFile = Self.absolute(ca)
                config.tlsServerName = tlsServerName
            }
            if let dataDir {
                try prepareDirectory(dataDir)
                config.workDirectory = dataDir
            }
            if let runAs {
                do {
                    config.runAs = try RunAsUser.resolve(runAs)
                } catch {
                    await termination.close()
                    await loop.shutdown()
                    throw NodeError(message: "cannot start worker: \(error)")
                }
                if let tokenFile, let attributes = try? FileManager.default.attributesOfItem(atPath: tokenFile),
                   let mode = attributes[.posixPermissions] as? Int, mode & 0o044 != 0 {
                    logger.warning("--token-file \(tokenFile) is readable by other users (mode \(String(mode, radix: 8))); jobs running as \(runAs) may read the worker's token: chmod 600 it")
                }
            } else if geteuid() == 0 {
                logger.warning("this worker runs as root and has no --run-as USER: every job and service it runs will run as root too")
            }
            let node = WorkerNode(loop: loop, config: config, logger: logger)
            await node.start()
            announce("titan worker \(config.workerId) [\(config.capabilities.joined(separator: ","))] -> \(address)")
            stop = { await node.stop() }
        }
        let signal = await termination.wait()
        logger.info("received signal \(signal); shutting down")
        await stop()
        let rc = await loop.shutdown()
        if rc != 0 { logger.warning("event loop closed with open handles (\(UVError(rc)))") }
    }

    private func scalingConfig() throws -> ScalingConfig {
        var pools: [String: PoolConfig] = [:]
        for text in scale {
            let parts = text.split(separator: ":").map(String.init)
            guard (3...4).contains(parts.count), let min = Int(parts[1]), let max = Int(parts[2]), min >= 0, max >= min, max > 0,
                  let slots = parts.count == 4 ? Int(parts[3]) : 4, slots > 0, !parts[0].isEmpty else {
                throw ValidationError("--scale: expected POOL:MIN:MAX[:SLOTS] with 0 <= MIN <= MAX, MAX > 0, got '\(text)'")
            }
            pools[parts[0].uppercased()] = PoolConfig(slotsPerWorker: slots, minEphemeral: min, maxEphemeral: max,
                                                      scaleUpCooldownMs: scaleCooldownMs, idleRetireAfterMs: scaleIdleMs)
        }
        guard ["local", "none"].contains(scaleSpawn) else { throw ValidationError("--scale-spawn: expected local or none") }
        let me = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
        let binary = FileManager.default.isExecutableFile(atPath: me) ? me : ProcessInfo.processInfo.arguments[0]
        return ScalingConfig(pools: pools, spawnCommand: scaleSpawn == "local" ? [binary, "--role", "worker", "--log-level", "warning"] : nil,
                             hook: scaleHook)
    }

    /// One unbuffered line on stdout, so scripts reading it (e.g. for the port) see it at once.
    private func announce(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    private func prepareDirectory(_ path: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw NodeError(message: "--data-dir: cannot create '\(path)': \(error.localizedDescription)")
        }
        guard access(path, W_OK) == 0 else { throw NodeError(message: "--data-dir: '\(path)' is not writable") }
    }
}

/// SIGINT and SIGTERM watched on the loop from the moment it is created, so a signal that
/// arrives while the node is still starting is not lost (nor fatal): `wait()` returns it.
private final class Termination: Sendable {
    private struct State {
        var signal: Int32?
        var waiter: CheckedContinuation<Int32, Never>?
        var watchers: [SignalWatcher] = []
    }

    private let state = Mutex(State())

    /// Installs the watchers; returns once they are in place.
    static func install(on loop: EventLoop) async -> Termination {
        let termination = Termination()
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            loop.execute {
                let watchers = [SIGINT, SIGTERM].map { sig in
                    SignalWatcher(loop: loop, signal: sig) { signum in termination.fired(signum) }
                }
                termination.state.withLock { $0.watchers = watchers }
                c.resume()
            }
        }
        return termination
    }

    /// Loop thread: the first signal wins; the watchers close.
    private func fired(_ signum: Int32) {
        let (waiter, watchers): (CheckedContinuation<Int32, Never>?, [SignalWatcher]) = state.withLock { s in
            guard s.signal == nil else { return (nil, []) }
            s.signal = signum
            defer { s.waiter = nil; s.watchers = [] }
            return (s.waiter, s.watchers)
        }
        for watcher in watchers { watcher.assumeIsolated { $0.close() } }
        waiter?.resume(returning: signum)
    }

    /// Closes the watchers without a signal (start-up failed).
    func close() async {
        let watchers = state.withLock { s -> [SignalWatcher] in
            defer { s.watchers = [] }
            return s.watchers
        }
        for watcher in watchers { await watcher.close() }
    }

    /// The signal that ended the node (waits for one).
    func wait() async -> Int32 {
        await withCheckedContinuation { (c: CheckedContinuation<Int32, Never>) in
            let early = state.withLock { s -> Int32? in
                if let signal = s.signal { return signal }
                s.waiter = c
                return nil
            }
            if let early { c.resume(returning: early) }
        }
    }
}

/// A failure at run time (not a usage error): printed as `Error: message`, exit status 1.
struct NodeError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// `--fsync` values.
enum FsyncChoice: String, ExpressibleByArgument, CaseIterable {
    case always, everysec, no

    var policy: FsyncPolicy {
        switch self {
        case .always: .always
        case .everysec: .everysec
        case .no: .no
        }
    }
}
