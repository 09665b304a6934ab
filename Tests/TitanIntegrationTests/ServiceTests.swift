import Foundation
import Testing
import TitanClient
import TitanLoop
import TitanPolicy
import TitanProtocol
import TitanRuntime

/// Services through a real master and workers: restart policies with backoff, crash loops,
/// ports, health checks, stop, re-placement and a master restart.
@Suite struct ServiceTests {
    /// Fast clocks for services so tests take milliseconds, not minutes.
    static func workers(_ count: Int) -> [WorkerConfig] {
        (1...count).map { i in
            var c = WorkerConfig()
            c.workerId = "w\(i)"
            c.slots = 4
            c.serviceBackoff = Backoff(initialMs: 20, maxMs: 200)
            c.serviceStableAfterMs = 2_000
            c.serviceHealthIntervalMs = 100
            c.serviceStartGraceMs = 2_000
            c.killGraceMs = 500
            return c
        }
    }

    static func scratch() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("titan-svc-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// A master keeping its journal in `dir/master`, so it can be stopped and started again on it.
    static func restartableMaster(_ dir: String, loopName: String) async throws -> (config: MasterConfig, loop: EventLoop, node: MasterNode) {
        var master = MasterConfig.loopbackAnyPort
        master.dataDirectory = dir + "/master"
        master.reclaimAfterRestartMs = 30_000
        let loop = EventLoop(name: loopName)
        let node = try await MasterNode.start(config: master, loop: loop, logger: EmbeddedCluster.defaultLogger)
        master.port = node.port  // the same port after a restart
        return (master, loop, node)
    }

    /// A registered worker on its own loop that reconnects quickly to a restarted master.
    static func startWorker(_ base: WorkerConfig, masterPort: Int, dir: String) async -> (worker: WorkerNode, loop: EventLoop) {
        var config = base
        config.masterPort = masterPort
        config.workDirectory = dir + "/" + config.workerId
        config.reconnect = Backoff(initialMs: 20, maxMs: 100)
        let loop = EventLoop(name: config.workerId)
        let worker = WorkerNode(loop: loop, config: config, logger: EmbeddedCluster.defaultLogger)
        await worker.start()
        await worker.waitRegistered()
        return (worker, loop)
    }

    static func lines(_ path: String) -> Int {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").count
    }

    @Test func aCrashingServiceRestartsWithBackoffUntilItCrashLoops() async throws {
        let cluster = try await EmbeddedCluster.start(master: .loopbackAnyPort, workers: Self.workers(1))
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try await client.deployService(ServiceSpec(name: "flaky", command: ["sh", "-c", "echo run >> \(dir)/runs; echo starting; exit 3"]))
        try await waitUntil { try await client.service("flaky").state == "CRASH_LOOP" }
        // Its output, every run's, is kept on the master.
        try await waitUntil {
            String(decoding: try await client.logs("flaky").flatMap(\.bytes), as: UTF8.self) == String(repeating: "starting\n", count: 5)
        }
        let info = try await client.service("flaky")
        #expect(info.restarts == 4)
        #expect(info.lastExit == "exit 3")
        #expect(Self.lines(dir + "/runs") == 5)
        // A manual restart clears the crash loop: it runs again.
        try await client.restartService("flaky")
        try await waitUntil { Self.lines(dir + "/runs") >= 6 }
        try await client.stopService("flaky")
        await client.close()
        #expect(await cluster.stop() == 0)
    }

    @Test func neverAndOnFailureStayDownAfterACleanExit() async throws {
        let cluster = try await EmbeddedCluster.start(master: .loopbackAnyPort, workers: Self.workers(1))
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        _ = try await client.deployService(ServiceSpec(name: "once", command: ["sh", "-c", "exit 7"], restart: "never"))
        _ = try await client.deployService(ServiceSpec(name: "clean", command: ["true"], restart: "on-failure"))
        try await waitUntil {
            let all = try await client.services()
            return all.allSatisfy { $0.state == "EXITED" }
        }
        #expect(try await client.service("once").lastExit == "exit 7")
        #expect(try await client.service("once").restarts == 0)
        #expect(try await client.service("clean").restarts == 0)
        // Nothing holds a slot any more.
        #expect(try await client.workers().first?.running == 0)
        await #expect(throws: TitanClientError.self) {
            _ = try await client.deployService(ServiceSpec(name: "bad", command: ["x"], restart: "sometimes"))
        }
        await client.close()
        #expect(await cluster.stop() == 0)
    }

    @Test func autoPortsHealthChecksAndAFinalStop() async throws {
        let cluster = try await EmbeddedCluster.start(master: .loopbackAnyPort, workers: Self.workers(1))
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        for name in ["web-a", "web-b"] {
            _ = try await client.deployService(ServiceSpec(name: name, command: ["python3", "-m", "http.server", "{port}", "--bind", "127.0.0.1"],
                                                           port: 0, health: "http:/"))
        }
        try await waitUntil(seconds: 20) { try await client.services().allSatisfy { $0.state == "HEALTHY" } }
        let (a, b) = (try await client.service("web-a"), try await client.service("web-b"))
        #expect(a.port != b.port)
        #expect(a.port >= 20_000 && b.port >= 20_000)
        #expect(a.pid > 0)
        // A service that never listens fails its health check and is restarted.
        _ = try await client.deployService(ServiceSpec(name: "deaf", command: ["sleep", "60"], port: 0, health: "tcp"))
        try await waitUntil(seconds: 20) { try await client.service("deaf").restarts >= 1 }
        #expect(try await client.service("deaf").lastExit.contains("health check failed"))
        // Stop is final: the process group goes and nothing restarts it.
        try await client.stopService("web-a")
        try await waitUntil { try await client.service("web-a").state == "STOPPED" }
        try await waitUntil { !processIsAlive(a.pid) }
        #expect(try await client.service("web-a").restarts == 0)
        try await client.stopService("web-b")
        try await client.stopService("deaf")
        try await waitUntil { try await client.services().allSatisfy { $0.state == "STOPPED" } }
        await client.close()
        #expect(await cluster.stop() == 0)
    }

    @Test func aServiceMovesWhenItsWorkerGoesAndSurvivesAMasterRestart() async throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (master, loop, started) = try await Self.restartableMaster(dir, loopName: "svc-master")
        var node = started
        var nodes: [WorkerNode] = []
        var loops: [EventLoop] = []
        for config in Self.workers(2) {
            let (worker, workerLoop) = await Self.startWorker(config, masterPort: node.port, dir: dir)
            nodes.append(worker)
            loops.append(workerLoop)
        }
        var client = try await TitanClient.connect(to: "127.0.0.1:\(node.port)")
        _ = try await client.deployService(ServiceSpec(name: "api", command: ["sleep", "60"]))
        try await waitUntil { try await client.service("api").state == "HEALTHY" }
        let first = try await client.service("api")

        // The master restarts: the worker keeps the service running and the master adopts it.
        await client.close()
        await node.stop()
        node = try await MasterNode.start(config: master, loop: loop, logger: EmbeddedCluster.defaultLogger)
        client = try await TitanClient.connect(to: "127.0.0.1:\(node.port)")
        try await waitUntil { try await client.service("api").state == "HEALTHY" }
        let adopted = try await client.service("api")
        #expect(adopted.pid == first.pid)
        #expect(adopted.workerId == first.workerId)

        // Its worker goes away: it is placed on the other one.
        let host = nodes.firstIndex { $0.config.workerId == first.workerId }!
        await nodes[host].stop()
        try await waitUntil {
            let now = try await client.service("api")
            return now.state == "HEALTHY" && now.workerId != first.workerId
        }
        #expect(!processIsAlive(first.pid))
        try await client.stopService("api")
        await client.close()
        for worker in nodes { await worker.stop() }
        await node.stop()
        for l in loops + [loop] { #expect(await l.shutdown() == 0) }
    }
}
