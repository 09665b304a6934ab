import Foundation
import Logging
import TitanProtocol
import TitanStore

/// Journals made to measure: what the benchmarks replay and restart from. Not for production
/// use (hence the SPI).
@_spi(Benchmarks) public enum SyntheticJournal {
    /// Writes `DIR/titan.aof` describing `dags` DAGs, each a chain of `jobsPerDag` trivial jobs
    /// of which the first `completedPerDag` ran (dispatched, then completed: two records each).
    /// Returns the number of records.
    @discardableResult
    public static func write(directory: String, dags: Int, jobsPerDag: Int, completedPerDag: Int) async throws -> Int {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let log = try AppendLog(path: directory + "/titan.aof", policy: .no)
        var batch: [[UInt8]] = [JournalRecord.instance(masterId: "synthetic").encoded()]
        var count = 1
        let spec = JobSpec(command: ["true"])
        let now = Int64(Date().timeIntervalSince1970 * 1_000)
        for d in 1...dags {
            let dagId = "dag-\(d)"
            let jobs = (0 ..< jobsPerDag).map { i in
                DagJobSpec(id: "j\(i)", spec: spec, dependsOn: i == 0 ? [] : ["j\(i - 1)"])
            }
            batch.append(JournalRecord.dagCreated(id: dagId, spec: DagSpec(name: "chain", jobs: jobs), submittedAtMs: now).encoded())
            for i in 0 ..< completedPerDag {
                let id = "\(dagId)/j\(i)"
                batch.append(JournalRecord.jobState(JobStateChange(id: id, state: .running, attempts: 1, workerId: "w1",
                                                                   result: nil, notBeforeMs: 0, failures: 0)).encoded())
                batch.append(JournalRecord.jobState(JobStateChange(
                    id: id, state: .completed, attempts: 1, workerId: "w1",
                    result: JobResult(exitCode: 0, startedAtMs: now, finishedAtMs: now + 1), notBeforeMs: 0, failures: 0)).encoded())
            }
            count += 1 + 2 * completedPerDag
            if batch.count >= 10_000 {
                try await append(batch, to: log)
                batch = []
            }
        }
        try await append(batch, to: log)
        try await log.close()
        return count
    }

    private static func append(_ batch: [[UInt8]], to log: AppendLog) async throws {
        try await withCheckedContinuation { c in log.appendBatch(batch) { c.resume(returning: $0) } }.get()
    }

    /// Replays `DIR/titan.aof` as a starting master does (without starting one): records, jobs.
    public static func replay(directory: String) throws -> (records: Int, jobs: Int) {
        var logger = Logger(label: "bench")
        logger.logLevel = .critical
        let opened = try MasterNode.openJournal(directory: directory, fsync: .no, logger: logger)
        let log = opened.log
        log.close { _ in }
        return (opened.state.records, opened.state.jobs.count)
    }
}
