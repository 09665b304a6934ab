import Benchmark
import TitanClient
import TitanProtocol
import TitanRuntime

// DAGs of trivial jobs (/bin/true, real processes) through a real cluster: 1 master + 2 workers
// with 8 slots each, each node on its own loop, the client on its own. The calling task runs on
// the client's loop, like the job benchmarks in TitanBenchmarks.swift. Time is submit → the
// DAG's final (COMPLETED) event seen by the client.

/// The cluster of these benchmarks: 2 workers × 8 slots (all of a 20-wide fan-out in flight).
private func startCluster() async throws { try await FixtureBox.shared.start(workers: 2, slots: 8) }
private func stopCluster() async { await FixtureBox.shared.stop() }

/// Submits `dag`, follows it, and returns once the client has seen its final event; throws
/// unless it COMPLETED.
func runDag(_ client: TitanClient, _ dag: DagSpec) async throws {
    let (_, _, updates) = try await client.submitDagAndFollow(dag)
    var final: DagEvent?
    for await update in updates {
        if case .dag(let event) = update, event.state.isFinal { final = event }
    }
    guard final?.state == .completed else {
        throw TitanClientError.unexpectedReply(expected: "DAG COMPLETED", got: "\(String(describing: final))")
    }
}

func registerDagBenchmarks() {
    func configuration(maxIterations: Int, maxSeconds: Int64) -> Benchmark.Configuration {
        .init(metrics: [.wallClock, .throughput], warmupIterations: 5,
              maxDuration: .seconds(maxSeconds), maxIterations: maxIterations)
    }

    // (1) 100 independent jobs, all ready at once: as one DAG without edges...
    let hundred = DagShape.independent(100)
    Benchmark("100 independent trivial jobs (DAG, no edges), 1 master + 2 workers",
              configuration: configuration(maxIterations: 100, maxSeconds: 10)) { benchmark in
        guard let f = await FixtureBox.shared.fixture else { return }
        try await withTaskExecutorPreference(f.client.eventLoop) {
            for _ in benchmark.scaledIterations { try await runDag(f.client, hundred) }
        }
    } setup: { try await startCluster() } teardown: { await stopCluster() }

    // ... and as 100 lone submissions in flight, each followed to its final event.
    Benchmark("100 independent trivial jobs (100 submits in flight), 1 master + 2 workers",
              configuration: configuration(maxIterations: 100, maxSeconds: 10)) { benchmark in
        guard let f = await FixtureBox.shared.fixture else { return }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<100 {
                group.addTask(executorPreference: f.client.eventLoop) { try await runTrivialJob(f.client) }
            }
            try await group.waitForAll()
        }
    } setup: { try await startCluster() } teardown: { await stopCluster() }

    // (2) root → 20 children → join (22 jobs): one bulk release, then a 20-way join.
    let fanOut = DagShape.fanOut(20)
    Benchmark("fan-out 1 → 20 → 1 (22 trivial jobs), 1 master + 2 workers",
              configuration: configuration(maxIterations: 500, maxSeconds: 8)) { benchmark in
        guard let f = await FixtureBox.shared.fixture else { return }
        try await withTaskExecutorPreference(f.client.eventLoop) {
            for _ in benchmark.scaledIterations { try await runDag(f.client, fanOut) }
        }
    } setup: { try await startCluster() } teardown: { await stopCluster() }

    // (3) 20 jobs in a chain: 20 sequential dispatch → spawn → exit → release round trips.
    let chain = DagShape.chain(20)
    Benchmark("chain of 20 trivial jobs, 1 master + 2 workers",
              configuration: configuration(maxIterations: 500, maxSeconds: 8)) { benchmark in
        guard let f = await FixtureBox.shared.fixture else { return }
        try await withTaskExecutorPreference(f.client.eventLoop) {
            for _ in benchmark.scaledIterations { try await runDag(f.client, chain) }
        }
    } setup: { try await startCluster() } teardown: { await stopCluster() }
}
