import Foundation
import Logging
import TitanLoop
import TitanMaster
import TitanWorker

/// A master and N workers in one process, on one event loop (or each on its own), talking over
/// real loopback sockets: what the integration tests run, and what a Swift app embeds.
///
/// ```swift
/// let cluster = try await EmbeddedCluster.start(workers: 2)
/// // ... connect a TitanClient to cluster.masterAddress ...
/// await cluster.stop()
/// ```
public final class EmbeddedCluster: Sendable {
    public let master: MasterNode
    public let workers: [WorkerNode]
    /// The loops the cluster runs on (the first is the master's).
    public let loops: [EventLoop]
    private let ownsLoops: Bool
    private let scratch: String

    /// Notices and worse: an embedded cluster's per-worker info lines are rarely wanted.
    public static var defaultLogger: Logger {
        var logger = Logger(label: "titan")
        logger.logLevel = .notice
        return logger
    }

    /// `host:port` of the master.
    public var masterAddress: String { "127.0.0.1:\(master.port)" }

    private init(master: MasterNode, workers: [WorkerNode], loops: [EventLoop], ownsLoops: Bool, scratch: String) {
        self.scratch = scratch
        self.master = master
        self.workers = workers
        self.loops = loops
        self.ownsLoops = ownsLoops
    }

    /// Starts a master on 127.0.0.1 (port 0 by default) and one worker per entry of `workers`,
    /// and waits until every worker has registered.
    ///
    /// - Parameters:
    ///   - loop: the loop to run everything on; nil makes one per node (one per core, roughly what
    ///     separate processes would get).
    public static func start(master masterConfig: MasterConfig = .loopbackAnyPort, workers: [WorkerConfig],
                             loop: EventLoop? = nil,
                             logger: Logger = EmbeddedCluster.defaultLogger) async throws -> EmbeddedCluster {
        // Each embedded cluster gets its own scratch directory for the master's data and the
        // workers' (DAG ids restart at dag-1 with every master: two clusters must not share DAG
        // directories); stop() removes it.
        let scratch = FileManager.default.temporaryDirectory
            .appendingPathComponent("titan-embedded-\(UUID().uuidString)").path
        var masterConfig = masterConfig
        if masterConfig.dataDirectory == nil { masterConfig.dataDirectory = scratch + "/master" }
        let masterLoop = loop ?? EventLoop(name: "titan-master")
        let master: MasterNode
        do {
            master = try await MasterNode.start(config: masterConfig, loop: masterLoop, logger: logger)
        } catch {
            if loop == nil { await masterLoop.shutdown() }
            throw error
        }
        var loops = [masterLoop]
        var nodes: [WorkerNode] = []
        for var config in workers {
            config.masterHost = "127.0.0.1"
            config.masterPort = master.port
            if config.workDirectory.isEmpty { config.workDirectory = scratch + "/" + config.workerId }
            let workerLoop = loop ?? EventLoop(name: "titan-worker")
            if loop == nil { loops.append(workerLoop) }
            let node = WorkerNode(loop: workerLoop, config: config, logger: logger)
            await node.start()
            nodes.append(node)
        }
        for node in nodes { await node.waitRegistered() }
        return EmbeddedCluster(master: master, workers: nodes, loops: loops, ownsLoops: loop == nil, scratch: scratch)
    }

    /// `count` workers with the given capabilities and slots.
    public static func start(workers count: Int, capabilities: [String] = ["GENERAL"], slots: UInt32 = 4,
                             loop: EventLoop? = nil, logger: Logger = EmbeddedCluster.defaultLogger) async throws -> EmbeddedCluster {
        let configs = (0..<count).map { i -> WorkerConfig in
            var c = WorkerConfig()
            c.capabilities = capabilities
            c.slots = slots
            c.workerId = "worker-\(i + 1)"
            c.name = "worker-\(i + 1)"
            return c
        }
        return try await start(workers: configs, loop: loop, logger: logger)
    }

    /// Stops workers (killing their jobs) and the master, closing every handle. With loops of
    /// its own, also stops them and returns the sum of their `uv_loop_close` results (0 when
    /// every handle was closed).
    @discardableResult
    public func stop() async -> Int32 {
        for worker in workers { await worker.stop() }
        await master.stop()
        try? FileManager.default.removeItem(atPath: scratch)
        guard ownsLoops else { return 0 }
        var total: Int32 = 0
        for loop in loops { total += await loop.shutdown() }
        return total
    }
}

extension MasterConfig {
    /// 127.0.0.1, a free port.
    public static var loopbackAnyPort: MasterConfig {
        var c = MasterConfig()
        c.port = 0
        return c
    }
}
