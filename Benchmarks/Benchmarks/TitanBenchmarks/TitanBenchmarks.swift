import Benchmark
import Foundation
import TitanClient
import TitanLoop
import TitanProtocol
import TitanRuntime
import TitanStore
import TitanTLS

// The foundation benchmarks. Each node runs on its own event loop (thread), as separate
// processes would; jobs are real processes. Compare with the physical limits measured in the
// same session: a C ping-pong p50 on loopback (round trip) and the C posix_spawn rate (jobs/s).
//
// Callers run on the client's event loop (`withTaskExecutorPreference`), as a Swift app that
// embeds the client would; the global-pool round trip shows what the hop costs.

/// A cluster and a connected client, shared by the iterations of one benchmark. With `tls`,
/// every link is TLS as `titan-node --tls-cert --tls-key --tls-ca` sets it up: the master
/// checks the workers' certificates (mutual TLS), the client checks the master's.
final class Fixture: Sendable {
    let cluster: EmbeddedCluster
    let client: TitanClient
    let pki: BenchmarkPKI?

    init(workers: Int, slots: UInt32, fsync: FsyncPolicy = .everysec, tls: Bool = false) async throws {
        let pki = tls ? try BenchmarkPKI() : nil
        self.pki = pki
        var master = MasterConfig.loopbackAnyPort
        master.fsync = fsync
        master.tls = pki?.master
        let configs = (0..<workers).map { i -> WorkerConfig in
            var c = WorkerConfig()
            c.slots = slots
            c.workerId = "worker-\(i + 1)"
            c.tls = pki?.client
            c.tlsCAFile = pki?.caFile
            return c
        }
        cluster = try await EmbeddedCluster.start(master: master, workers: configs)
        let transport: TitanClient.Transport = pki.map { .tls($0.client, serverName: nil) } ?? .discover
        client = try await TitanClient.connect(to: cluster.masterAddress, transport: transport)
    }

    func stop() async {
        await client.close()
        await cluster.stop()
        pki?.remove()
    }
}

/// Holds the fixture between setup, run and teardown (the harness runs them in order).
actor FixtureBox {
    static let shared = FixtureBox()
    var fixture: Fixture?

    func start(workers: Int, slots: UInt32, fsync: FsyncPolicy = .everysec, tls: Bool = false) async throws {
        fixture = try await Fixture(workers: workers, slots: slots, fsync: fsync, tls: tls)
    }

    func stop() async {
        await fixture?.stop()
        fixture = nil
    }
}

/// Runs one trivial job to completion, as the client sees it.
func runTrivialJob(_ client: TitanClient) async throws {
    let (_, updates) = try await client.submitAndFollow(JobSpec(command: ["/bin/true"]))
    var final: JobEvent?
    for await update in updates {
        if case .event(let e) = update, e.state.isFinal { final = e }
    }
    guard final?.state == .completed else { throw TitanClientError.unexpectedReply(expected: "COMPLETED", got: "\(String(describing: final))") }
}

let benchmarks: @Sendable () -> Void = {
    // 1,000 round trips per sample, reported per round trip: keeps the harness's own per-sample
    // cost out of a ~20 µs measurement.
    let quick = Benchmark.Configuration(
        metrics: [.wallClock, .throughput],
        warmupIterations: 10, scalingFactor: .kilo, maxDuration: .seconds(5), maxIterations: 100)

    // (a) request/response round trip on a persistent connection (ping → pong), from a task
    // running on the client's event loop (no thread hop between caller and client), in
    // plaintext and over TLS...
    for tls in [false, true] {
        Benchmark("round trip (ping), caller on the client's loop\(tls ? ", TLS" : "")", configuration: quick) { benchmark in
            guard let f = await FixtureBox.shared.fixture else { return }
            try await withTaskExecutorPreference(f.client.eventLoop) {
                for _ in benchmark.scaledIterations { try await f.client.ping() }
            }
        } setup: {
            try await FixtureBox.shared.start(workers: 0, slots: 1, tls: tls)
        } teardown: {
            await FixtureBox.shared.stop()
        }
    }

    // ... and from a task on the global concurrency pool (two thread hops more per call).
    Benchmark("round trip (ping), caller on the global pool", configuration: quick) { benchmark in
        guard let f = await FixtureBox.shared.fixture else { return }
        for _ in benchmark.scaledIterations { try await f.client.ping() }
    } setup: {
        try await FixtureBox.shared.start(workers: 0, slots: 1)
    } teardown: {
        await FixtureBox.shared.stop()
    }

    // (b) one trivial job (/bin/true): submit → completion seen by the client.
    Benchmark("trivial job submit to completion", configuration: .init(
        metrics: [.wallClock, .throughput],
        warmupIterations: 20, maxDuration: .seconds(5), maxIterations: 3_000)) { benchmark in
        guard let f = await FixtureBox.shared.fixture else { return }
        try await withTaskExecutorPreference(f.client.eventLoop) {
            for _ in benchmark.scaledIterations { try await runTrivialJob(f.client) }
        }
    } setup: {
        try await FixtureBox.shared.start(workers: 1, slots: 4)
    } teardown: {
        await FixtureBox.shared.stop()
    }

    // (c) 1,000 trivial jobs through one master and two workers, all in flight at once, with
    // each fsync policy of the append-only file (everysec is the default), and with the default
    // over TLS on every link.
    for (fsync, tls) in [(FsyncPolicy.everysec, false), (.everysec, true), (.no, false), (.always, false)] {
        let name = fsync == .everysec ? "1000 trivial jobs, 1 master + 2 workers\(tls ? ", TLS" : "")" : "1000 trivial jobs, 1 master + 2 workers, fsync \(fsync)"
        Benchmark(name, configuration: .init(
            metrics: [.wallClock, .mallocCountTotal, .custom("jobs/s", polarity: .prefersLarger),
                      .custom("process CPU µs per job", polarity: .prefersSmaller),
                      .custom("master+worker CPU µs per job", polarity: .prefersSmaller)],
            warmupIterations: 1, maxDuration: .seconds(20), maxIterations: 10)) { benchmark in
            guard let f = await FixtureBox.shared.fixture else { return }
            let cpuBefore = processCPUMicros()
            let nodesBefore = threadCPUNanos(named: ["titan-master", "titan-worker"])
            let start = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<1_000 {
                    group.addTask(executorPreference: f.client.eventLoop) { try await runTrivialJob(f.client) }
                }
                try await group.waitForAll()
            }
            let elapsed = ContinuousClock.now - start
            let cpu = processCPUMicros() - cpuBefore
            let nodes = threadCPUNanos(named: ["titan-master", "titan-worker"]) - nodesBefore
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            benchmark.measurement(.custom("jobs/s", polarity: .prefersLarger), Int(1_000 / seconds))
            benchmark.measurement(.custom("process CPU µs per job", polarity: .prefersSmaller), Int(cpu / 1_000))
            benchmark.measurement(.custom("master+worker CPU µs per job", polarity: .prefersSmaller), Int(nodes / 1_000_000))
        } setup: {
            try await FixtureBox.shared.start(workers: 2, slots: 8, fsync: fsync, tls: tls)
        } teardown: {
            await FixtureBox.shared.stop()
        }
    }

    // DAGs through a real cluster (DagBenchmarks.swift) and the scheduler alone, without sockets
    // or processes (SchedulerBenchmarks.swift, SchedulerMemoryBenchmark.swift).
    registerDagBenchmarks()
    registerSchedulerBenchmarks()
    registerSchedulerMemoryBenchmark()
    registerDurabilityBenchmarks()
}

/// User + system CPU of this process (master, workers and client; not the jobs), in µs.
func processCPUMicros() -> Int64 {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Int64(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1_000_000
        + Int64(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec)
}

/// CPU time (ns, from /proc/self/task/*/schedstat) of this process's threads with these names:
/// the master's and workers' event-loop threads, without the client or the harness.
func threadCPUNanos(named names: Set<String>) -> Int64 {
    let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
    var total: Int64 = 0
    for tid in tasks {
        guard let comm = try? String(contentsOfFile: "/proc/self/task/\(tid)/comm", encoding: .utf8),
              names.contains(comm.trimmingCharacters(in: .whitespacesAndNewlines)),
              let stat = try? String(contentsOfFile: "/proc/self/task/\(tid)/schedstat", encoding: .utf8),
              let ns = stat.split(separator: " ").first.flatMap({ Int64($0) }) else { continue }
        total += ns
    }
    return total
}
