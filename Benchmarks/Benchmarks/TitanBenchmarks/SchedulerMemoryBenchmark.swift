import Benchmark
import TitanLoop
import TitanProtocol
import TitanRuntime

// The master's memory per job, from RSS (/proc/self/statm) after returning free heap to the
// system (malloc_trim), around a scheduler run with the fake worker of SchedulerHarness.swift:
//
// - pending: 100,000 lone jobs submitted with no worker registered (all queued);
// - retained: 10,000 jobs run (in batches of 1,000), all kept as finished (the default
//   retention is 10,000);
// - then 90,000 more (100,000 in all): with bounded retention RSS should not grow, and what is
//   resident over the start is again ~10,000 retained jobs.
//
// Each is reported per job as a custom metric (bytes); the growth from 10,000 to 100,000 jobs in
// KiB (clamped at 0: histograms take no negative values).

private let pendingBytes = BenchmarkMetric.custom("bytes per pending job (100k queued)", useScalingFactor: false)
private let retainedBytes10k = BenchmarkMetric.custom("bytes per retained job (10k run, all kept)", useScalingFactor: false)
private let retainedBytes100k = BenchmarkMetric.custom("bytes per retained job (100k run, 10k kept)", useScalingFactor: false)
private let growthKiB = BenchmarkMetric.custom("RSS growth KiB, 10k → 100k jobs run", useScalingFactor: false)

func registerSchedulerMemoryBenchmark() {
    let configuration = Benchmark.Configuration(
        metrics: [.wallClock, pendingBytes, retainedBytes10k, retainedBytes100k, growthKiB],
        warmupIterations: 1, maxDuration: .seconds(20), maxIterations: 5)

    Benchmark("scheduler only: master memory per job", configuration: configuration) { benchmark in
        guard let loop = await SchedulerLoopBox.shared.loop else {
            benchmark.error("no scheduler loop")
            return
        }
        // Pending: nobody to run them.
        do {
            let scheduler = SchedulerActor(loop: loop, logger: EmbeddedCluster.defaultLogger)
            let client = SilentClient()
            let before = trimmedResidentBytes()
            await scheduler.submitJobs(100_000, DagShape.trueJob, from: client)
            let after = trimmedResidentBytes()
            benchmark.measurement(pendingBytes, max(0, after - before) / 100_000)
        }
        // Finished and retained (default config: 10,000 kept).
        let (scheduler, worker, client) = await makeBenchScheduler(on: loop)
        let start = trimmedResidentBytes()
        var completed = await scheduler.runJobs(10_000, batch: 1_000, on: worker, from: client)
        let at10k = trimmedResidentBytes()
        completed += await scheduler.runJobs(90_000, batch: 1_000, on: worker, from: client)
        let at100k = trimmedResidentBytes()
        let known = await scheduler.counts.jobs
        guard completed == 100_000, known == SchedulerConfig().retainFinishedJobs else {
            benchmark.error("completed \(completed) of 100000 jobs; \(known) retained")
            return
        }
        benchmark.measurement(retainedBytes10k, max(0, at10k - start) / 10_000)
        benchmark.measurement(retainedBytes100k, max(0, at100k - start) / known)
        benchmark.measurement(growthKiB, max(0, at100k - at10k) / 1_024)
    } setup: { await SchedulerLoopBox.shared.start() } teardown: { await SchedulerLoopBox.shared.stop() }
}
