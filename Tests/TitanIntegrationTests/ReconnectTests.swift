import Foundation
import Logging
import Testing
import TitanClient
import TitanLoop
import TitanPolicy
import TitanProtocol
import TitanRuntime

/// A worker that loses its master retries with backoff, re-registers when a master is back, and
/// reports what it runs; the master reconciles.
@Suite struct ReconnectTests {
    @Test func workerReRegistersWithARestartedMasterWhichKillsAttemptsItDoesNotKnow() async throws {
        let masterLoop = EventLoop(name: "master")
        let workerLoop = EventLoop(name: "worker")
        let master = try await MasterNode.start(config: .loopbackAnyPort, loop: masterLoop, logger: EmbeddedCluster.defaultLogger)
        let port = master.port
        var config = WorkerConfig()
        config.masterPort = port
        config.workerId = "w-1"
        config.reconnect = Backoff(initialMs: 20, maxMs: 100)
        let worker = WorkerNode(loop: workerLoop, config: config, logger: EmbeddedCluster.defaultLogger)
        await worker.start()
        await worker.waitRegistered()

        let client = try await TitanClient.connect(to: "127.0.0.1:\(port)")
        let id = try await client.submit(JobSpec(command: ["sleep", "30"]))
        try await waitUntil { try await client.status(id).state == .running }
        await client.close()

        // The master goes away; the worker keeps its job running and keeps retrying.
        await master.stop()
        try await waitUntil { await !worker.isRegistered }
        #expect(await worker.runningCount == 1)

        // A new master (no memory of the job) on the same port: the worker re-registers with its
        // running attempt, and the master tells it to kill what it does not know.
        var again = MasterConfig.loopbackAnyPort
        again.port = port
        let master2 = try await MasterNode.start(config: again, loop: masterLoop, logger: EmbeddedCluster.defaultLogger)
        await worker.waitRegistered()
        try await waitUntil { await worker.runningCount == 0 }
        let client2 = try await TitanClient.connect(to: "127.0.0.1:\(port)")
        #expect(try await client2.workers().map(\.id) == ["w-1"])
        // And it takes new work.
        let next = try await client2.wait(try await client2.submit(JobSpec(command: ["true"])))
        #expect(next.state == .completed)
        await client2.close()

        await worker.stop()
        await master2.stop()
        #expect(await workerLoop.shutdown() == 0)
        #expect(await masterLoop.shutdown() == 0)
    }
}

@Suite struct WorkerHousekeepingTests {
    @Test func staleDagDirectoriesAreRemovedAtStartAndFreshOnesKept() async throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("titan-housekeeping-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: work) }
        let fm = FileManager.default
        for name in ["old", "fresh"] {
            try fm.createDirectory(atPath: "\(work)/dags/\(name)", withIntermediateDirectories: true)
        }
        try fm.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -8 * 86_400)], ofItemAtPath: "\(work)/dags/old")
        let loop = EventLoop(name: "worker")
        var config = WorkerConfig()
        config.masterPort = 1  // nobody there: the worker keeps retrying, which is fine here
        config.workDirectory = work
        let worker = WorkerNode(loop: loop, config: config, logger: EmbeddedCluster.defaultLogger)
        await worker.start()
        try await waitUntil { !fm.fileExists(atPath: "\(work)/dags/old") }
        #expect(fm.fileExists(atPath: "\(work)/dags/fresh"))
        await worker.stop()
        #expect(await loop.shutdown() == 0)
    }
}

@Suite struct DuplicateWorkerIdTests {
    @Test func aSecondProcessWithTheSameIdIsRefusedAndTheFirstKeepsItsJobs() async throws {
        let cluster = try await EmbeddedCluster.start(workers: 1)
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        let id = try await client.submit(JobSpec(command: ["sleep", "30"]))
        try await waitUntil { try await client.status(id).state == .running }
        var config = WorkerConfig()
        config.workerId = "worker-1"  // the cluster's worker's id
        config.masterPort = cluster.master.port
        config.reconnect = Backoff(initialMs: 20, maxMs: 100)
        let loop = EventLoop(name: "duplicate")
        let duplicate = WorkerNode(loop: loop, config: config, logger: EmbeddedCluster.defaultLogger)
        await duplicate.start()
        try await waitUntil { await duplicate.lastRejection != nil }
        #expect(await duplicate.lastRejection?.contains("in use by another connected worker process") == true)
        #expect(await !duplicate.isRegistered)
        // The first is untouched: still registered, its job still running there.
        #expect(await cluster.workers[0].isRegistered)
        let job = try await client.status(id)
        #expect(job.state == .running)
        #expect(job.attempts == 1)
        await duplicate.stop()
        #expect(await loop.shutdown() == 0)
        try await client.cancel(id)
        await client.close()
        #expect(await cluster.stop() == 0)
    }
}
