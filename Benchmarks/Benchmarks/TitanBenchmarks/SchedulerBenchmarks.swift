import Benchmark
import TitanLoop
import TitanProtocol
import TitanRuntime

// The master's scheduling core alone (see SchedulerHarness.swift): no sockets, no codec, no
// processes. One iteration is a fresh scheduler taking 100,000 jobs from submission to
// completion; reports jobs/s through it.

/// What one iteration pushes through a fresh scheduler.
enum SchedulerScenario: Sendable {
    /// Lone jobs, all submitted (one request each) before the first `schedule()`.
    case independent(Int)
    /// One DAG, submitted in one request.
    case dag(DagSpec)

    var jobCount: Int {
        switch self {
        case .independent(let n): n
        case .dag(let spec): spec.jobs.count
        }
    }
}

extension SchedulerActor {
    /// Runs `scenario` to completion; returns the attempts completed.
    func run(_ scenario: SchedulerScenario, on worker: RecordingWorker, from client: any Peer) -> Int {
        switch scenario {
        case .independent(let count):
            return runJobs(count, on: worker, from: client)
        case .dag(let spec):
            submitDag(spec, from: client)
            return runToCompletion(on: worker)
        }
    }
}

/// Built once, outside the measurement (globals are initialised lazily, on first use).
private let chain100k = DagShape.chain(100_000)
private let fanOut100k = DagShape.fanOut(99_998)

private func startLoop() async { await SchedulerLoopBox.shared.start() }
private func stopLoop() async { await SchedulerLoopBox.shared.stop() }

private let jobsPerSecond = BenchmarkMetric.custom("jobs/s", polarity: .prefersLarger, useScalingFactor: false)

/// One iteration: a fresh scheduler (with a registered fake worker of `slots` slots) runs
/// `scenario`; only the run is measured (not making the scheduler, nor freeing it).
private func measure(_ benchmark: Benchmark, _ scenario: SchedulerScenario, slots: UInt32) async {
    guard let loop = await SchedulerLoopBox.shared.loop else {
        benchmark.error("no scheduler loop")
        return
    }
    let (scheduler, worker, client) = await makeBenchScheduler(on: loop, slots: slots)
    let expected = scenario.jobCount
    benchmark.startMeasurement()
    let start = ContinuousClock.now
    let completed = await scheduler.run(scenario, on: worker, from: client)
    let elapsed = start.duration(to: .now)
    benchmark.stopMeasurement()
    let queued = await scheduler.counts.queued
    guard completed == expected, queued == 0 else {
        benchmark.error("completed \(completed) of \(expected) jobs, \(queued) still queued")
        return
    }
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    benchmark.measurement(jobsPerSecond, Int(Double(expected) / seconds))
}

func registerSchedulerBenchmarks() {
    let configuration = Benchmark.Configuration(
        metrics: [.wallClock, .mallocCountTotal, jobsPerSecond],
        warmupIterations: 1, maxDuration: .seconds(15), maxIterations: 10)
    // Everything in flight at once costs O(in flight) per dispatch today (SchedulerActor.dispatch
    // copies the worker's set of running attempts), ~25 s per 100,000: no warm-up, and the time
    // limit stops it after one iteration until that is fixed.
    var allInFlight = configuration
    allInFlight.warmupIterations = 0

    // (4a) 100,000 lone jobs: submit all, then schedule / complete what was dispatched until done;
    // one worker taking all of them at once (1,000,000 slots)...
    Benchmark("scheduler only: 100,000 independent jobs, all in flight", configuration: allInFlight) { benchmark in
        await measure(benchmark, .independent(100_000), slots: 1_000_000)
    } setup: { await startLoop() } teardown: { await stopLoop() }

    // ... and 100 at a time (one worker, 100 slots), as a master with real workers would.
    Benchmark("scheduler only: 100,000 independent jobs, 100 in flight", configuration: configuration) { benchmark in
        await measure(benchmark, .independent(100_000), slots: 100)
    } setup: { await startLoop() } teardown: { await stopLoop() }

    // (4b) one 100,000-job chain: one job released (and dispatched) per completion.
    Benchmark("scheduler only: DAG, chain of 100,000", configuration: configuration) { benchmark in
        await measure(benchmark, .dag(chain100k), slots: 1_000_000)
    } setup: { await startLoop() } teardown: { await stopLoop() }

    // (4b) one 100,000-job fan-out: root → 99,998 released at once → join on all of them; all
    // in flight at once, and 100 at a time.
    Benchmark("scheduler only: DAG, fan-out 1 → 99,998 → 1, all in flight", configuration: allInFlight) { benchmark in
        await measure(benchmark, .dag(fanOut100k), slots: 1_000_000)
    } setup: { await startLoop() } teardown: { await stopLoop() }

    Benchmark("scheduler only: DAG, fan-out 1 → 99,998 → 1, 100 in flight", configuration: configuration) { benchmark in
        await measure(benchmark, .dag(fanOut100k), slots: 100)
    } setup: { await startLoop() } teardown: { await stopLoop() }
}
