import ArgumentParser
import Foundation
import Logging
import Synchronization
import TitanLoop
import TitanProtocol
import TitanRuntime

/// `titan-node`: runs a master or a worker until SIGINT/SIGTERM, then shuts down gracefully
/// (running jobs killed as process groups, every handle closed) and exits 0.
@main
struct TitanNodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "titan-node",
        abstract: "Run a Titan master or worker.",
        discussion: """
            titan-node --role master [--bind 127.0.0.1] [--port 9090] [--data-dir DIR]
            titan-node --role worker [--master 127.0.0.1:9090] [--cap GPU,HIGH_MEM] [--slots N] [--permanent]
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
            help: "Master: state directory, job output under logs/ (default ./titan-data). Worker: directory jobs run in (default $TMPDIR/titan-ID).")
    var dataDir: String?

    @Option(name: .customLong("heartbeat-ms"), help: "Master: heartbeat period asked of workers.")
    var heartbeatMs: UInt32 = 1_000

    @Option(name: .customLong("suspect-after-ms"), help: "Master: a worker silent this long gets no new work.")
    var suspectAfterMs: Int64 = 3_000

    @Option(name: .customLong("dead-after-ms"), help: "Master: a worker silent this long is dead; its jobs re-queue.")
    var deadAfterMs: Int64 = 5_000

    @Option(help: "Worker: master address HOST:PORT (default $TITAN_MASTER or 127.0.0.1:9090).")
    var master: String?

    @Option(help: "Worker: comma-separated capability tags (default GENERAL).")
    var cap: String?

    @Option(help: "Worker: jobs run at once (default: number of cores).")
    var slots: UInt32?

    @Flag(help: "Worker: never retired by the scaler.")
    var permanent = false

    @Option(help: "Worker: id kept across reconnects (default host-pid-random). A stable id (or --data-dir) lets a restarted worker kill jobs a crashed one left.")
    var id: String?

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
                                  ("--permanent", permanent), ("--id", id != nil)] where given {
                throw ValidationError("\(flag) is a worker option; this is --role master")
            }
        case .worker:
            if let slots, slots == 0 { throw ValidationError("--slots: must be at least 1") }
            if let cap, Capabilities.parse([cap]).isEmpty { throw ValidationError("--cap: no capability tags in '\(cap)'") }
        }
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
            let node: MasterNode
            do {
                node = try await MasterNode.start(config: config, loop: loop, logger: logger)
            } catch {
                await loop.shutdown()
                throw ValidationError("cannot start master: \(error)")
            }
            announce("titan master listening on \(bind):\(node.port)")
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
            if let id { config.workerId = id }
            config.permanent = permanent
            if let dataDir {
                try prepareDirectory(dataDir)
                config.workDirectory = dataDir
            }
            let node = WorkerNode(loop: loop, config: config, logger: logger)
            await node.start()
            announce("titan worker \(config.workerId) [\(config.capabilities.joined(separator: ","))] -> \(address)")
            stop = { await node.stop() }
        }
        let signal = await waitForTermination(loop: loop)
        logger.info("received signal \(signal); shutting down")
        await stop()
        let rc = await loop.shutdown()
        if rc != 0 { logger.warning("event loop closed with open handles (\(UVError(rc)))") }
    }

    /// One unbuffered line on stdout, so scripts reading it (e.g. for the port) see it at once.
    private func announce(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    private func prepareDirectory(_ path: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw ValidationError("--data-dir: cannot create '\(path)': \(error.localizedDescription)")
        }
        guard access(path, W_OK) == 0 else { throw ValidationError("--data-dir: '\(path)' is not writable") }
    }

    /// Waits for SIGINT or SIGTERM on the loop; returns the signal.
    private func waitForTermination(loop: EventLoop) async -> Int32 {
        await withCheckedContinuation { (c: CheckedContinuation<Int32, Never>) in
            loop.execute {
                let fired = Fired()
                var watchers: [SignalWatcher] = []
                for sig in [SIGINT, SIGTERM] {
                    watchers.append(SignalWatcher(loop: loop, signal: sig) { signum in
                        guard fired.fire() else { return }
                        for w in fired.watchers { w.assumeIsolated { $0.close() } }
                        c.resume(returning: signum)
                    })
                }
                fired.watchers = watchers
            }
        }
    }
}

/// Fires once; holds the watchers to close. Touched only on the loop thread.
private final class Fired: Sendable {
    private let state = Mutex<(fired: Bool, watchers: [SignalWatcher])>((false, []))

    var watchers: [SignalWatcher] {
        get { state.withLock { $0.watchers } }
        set { state.withLock { $0.watchers = newValue } }
    }

    func fire() -> Bool {
        state.withLock { s in
            defer { s.fired = true }
            return !s.fired
        }
    }
}
