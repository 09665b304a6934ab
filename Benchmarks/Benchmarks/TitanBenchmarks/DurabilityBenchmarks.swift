import Benchmark
import Foundation
import TitanClient
import TitanLoop
import TitanProtocol
@_spi(Benchmarks) import TitanMaster
import TitanRuntime
import TitanStore

// The append-only file: replaying a large one, restarting a master on a large state, and how
// many recorded state changes per second `fsync always` sustains with group commit. The fsync
// policies' cost on job throughput is measured by the "1000 trivial jobs" benchmarks.

/// Journals written once per process, in a scratch directory.
actor JournalFixtures {
    static let shared = JournalFixtures()
    private var made: [String: String] = [:]

    /// A directory holding a synthetic journal of `dags` chains of `jobs` jobs, `completed` done.
    func directory(dags: Int, jobs: Int, completed: Int) async throws -> String {
        let key = "\(dags)x\(jobs)x\(completed)"
        if let dir = made[key] { return dir }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("titan-bench-journal-\(key)-\(getpid())").path
        try? FileManager.default.removeItem(atPath: dir)
        try await SyntheticJournal.write(directory: dir, dags: dags, jobsPerDag: jobs, completedPerDag: completed)
        made[key] = dir
        return dir
    }

    func removeAll() {
        for dir in made.values { try? FileManager.default.removeItem(atPath: dir) }
        made = [:]
    }
}

func registerDurabilityBenchmarks() {
    let slow = Benchmark.Configuration(metrics: [.wallClock, .peakMemoryResident], warmupIterations: 1,
                                       maxDuration: .seconds(20), maxIterations: 10)

    // 10,000 DAGs of 50 jobs, all run: 1,010,001 records (500,000 jobs).
    Benchmark("journal replay: 1,010,001 records (500,000 jobs)", configuration: slow) { benchmark in
        let dir = try await JournalFixtures.shared.directory(dags: 10_000, jobs: 50, completed: 50)
        benchmark.startMeasurement()
        let (records, jobs) = try SyntheticJournal.replay(directory: dir)
        benchmark.stopMeasurement()
        precondition(records == 1_010_001 && jobs == 500_000, "replayed \(records) records, \(jobs) jobs")
    } teardown: {
        await JournalFixtures.shared.removeAll()
    }

    // 1,000 chains of 100 jobs, half run: 100,000 jobs of state (101,001 records). From start
    // to a job dispatched and completed on a worker that registers once the master is up.
    Benchmark("master restart to dispatching: 100,000 jobs of state", configuration: slow) { benchmark in
        let source = try await JournalFixtures.shared.directory(dags: 1_000, jobs: 100, completed: 50)
        let dir = source + "-run"
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: source + "/titan.aof", toPath: dir + "/titan.aof")
        var config = MasterConfig.loopbackAnyPort
        config.dataDirectory = dir
        var worker = WorkerConfig()
        worker.workerId = "w1"
        worker.slots = 8
        benchmark.startMeasurement()
        let cluster = try await EmbeddedCluster.start(master: config, workers: [worker])
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        let done = try await client.wait("dag-1/j50")
        benchmark.stopMeasurement()
        precondition(done.state == .completed)
        await client.close()
        await cluster.stop()
        try? FileManager.default.removeItem(atPath: dir)
    } teardown: {
        await JournalFixtures.shared.removeAll()
    }

    // KV writes (each one state change, recorded before its reply) from one client with 1,000 in
    // flight, under each fsync policy.
    for fsync in [FsyncPolicy.always, .everysec, .no] {
        Benchmark("recorded state changes (KV sets, 1,000 in flight), fsync \(fsync)", configuration: .init(
            metrics: [.wallClock, .custom("changes/s", polarity: .prefersLarger)],
            warmupIterations: 1, maxDuration: .seconds(10), maxIterations: 10)) { benchmark in
            guard let f = await FixtureBox.shared.fixture else { return }
            let value = [UInt8](repeating: 42, count: 64)
            let start = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<10_000 {
                    if i >= 1_000 { try await group.next() }
                    group.addTask(executorPreference: f.client.eventLoop) { try await f.client.kvSet("key-\(i % 5_000)", value) }
                }
                try await group.waitForAll()
            }
            let elapsed = ContinuousClock.now - start
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            benchmark.measurement(.custom("changes/s", polarity: .prefersLarger), Int(10_000 / seconds))
        } setup: {
            try await FixtureBox.shared.start(workers: 0, slots: 1, fsync: fsync)
        } teardown: {
            await FixtureBox.shared.stop()
        }
    }
}
