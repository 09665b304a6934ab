import Logging
import Testing
import TitanLoop
import TitanProtocol
@testable import TitanMaster

/// The names users give DAG jobs find them, as the original Titan's users named them: `x` and
/// `DAG-x` stand for the latest DAG job whose short id is `x` or `DAG-x` (v1 jobs arrive as
/// `dag-N/DAG-x`), and a name goes when its job is forgotten. Driven through the scheduler
/// without sockets or workers.
@Suite struct JobNameTests {
    func withScheduler(retain: Int, _ body: @escaping @Sendable (isolated SchedulerActor) -> Void) async {
        var config = SchedulerConfig()
        config.retainFinishedJobs = retain
        await TitanMasterTests.withScheduler(config: config, body)
    }

    /// Submits a DAG of jobs that wait for a worker (there is none); returns its id.
    static func submit(_ ids: [String], to s: isolated SchedulerActor, from client: RecordingPeer) -> String {
        let dag = DagSpec(name: "d", jobs: ids.map { DagJobSpec(id: $0, spec: JobSpec(command: ["sleep", "60"])) })
        s.handle(Envelope(requestId: 1, message: .submitDag(dag, follow: false)), from: client)
        guard case .dagSubmitted(let dagId, _)? = client.replies().last else {
            Issue.record("not submitted: \(client.replies())")
            return ""
        }
        return dagId
    }

    @Test func namesResolveToTheLatestJobSoNamedAndGoWithIt() async {
        await withScheduler(retain: 2) { s in
            let client = RecordingPeer()
            let first = Self.submit(["extract", "job-7", "dag-9"], to: s, from: client)
            #expect(s.resolve("extract") == "\(first)/extract")
            #expect(s.resolve("DAG-extract") == "\(first)/extract")
            #expect(s.resolve(first) == first)  // a DAG's own id is itself
            // Short ids shaped like the master's own ids get no name: `job-7` is a lone job's id.
            #expect(s.resolve("job-7") == "job-7" && s.resolve("DAG-job-7") == "DAG-job-7")
            #expect(s.resolve("dag-9") == "dag-9")
            // A v1 job (its id prefixed `DAG-`), then a native one: the latest takes the name.
            let v1 = Self.submit(["DAG-extract"], to: s, from: client)
            #expect(s.resolve("extract") == "\(v1)/DAG-extract")
            let native = Self.submit(["extract"], to: s, from: client)
            #expect(s.resolve("DAG-extract") == "\(native)/extract")
            // Forgetting the older jobs leaves the name with the latest one.
            for dag in [first, v1] { s.handle(Envelope(requestId: 2, message: .cancel(jobId: dag)), from: client) }
            #expect(s.jobs["\(first)/extract"] == nil)
            #expect(s.resolve("extract") == "\(native)/extract")
            // Forgetting the latest takes the name away: nothing is kept for forgotten jobs.
            s.handle(Envelope(requestId: 3, message: .cancel(jobId: native)), from: client)
            let last = Self.submit(["a", "b"], to: s, from: client)
            s.handle(Envelope(requestId: 4, message: .cancel(jobId: last)), from: client)
            #expect(s.jobs["\(native)/extract"] == nil)
            #expect(s.resolve("extract") == "extract")
            #expect(s.jobAliases == ["DAG-a": "\(last)/a", "DAG-b": "\(last)/b"])
        }
    }
}
