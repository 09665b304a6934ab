import Foundation
import Testing
import TitanClient
import TitanProtocol
import TitanRuntime

/// DAGs on a real master and workers: dependencies, the shared DAG directory, skip cascades,
/// cancel, validation, affinity.
@Suite struct DagTests {
    static func sh(_ script: String, retries: UInt32 = 0) -> JobSpec {
        JobSpec(command: ["sh", "-c", script], retries: retries, retryDelayMs: 5)
    }

    @Test func aDiamondRunsInOrderAndPassesFilesThroughTheDagDirectory() async throws {
        let cluster = try await EmbeddedCluster.start(workers: 1)
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        let dag = DagSpec(name: "diamond", jobs: [
            DagJobSpec(id: "a", spec: Self.sh("echo a > a.txt")),
            DagJobSpec(id: "b", spec: Self.sh("cat a.txt > b.txt; echo b >> b.txt"), dependsOn: ["a"]),
            DagJobSpec(id: "c", spec: Self.sh("cat a.txt > c.txt; echo c >> c.txt"), dependsOn: ["a"]),
            DagJobSpec(id: "d", spec: Self.sh("cat b.txt c.txt; echo dir=$TITAN_DAG_ID"), dependsOn: ["b", "c"]),
        ])
        let (dagId, jobIds, updates) = try await client.submitDagAndFollow(dag)
        #expect(jobIds == ["a", "b", "c", "d"].map { "\(dagId)/\($0)" })
        var finalState: DagState?
        var order: [String] = []
        for await update in updates {
            switch update {
            case .job(let e) where e.state == .running: order.append(String(e.jobId.dropFirst(dagId.count + 1)))
            case .dag(let e) where e.state.isFinal: finalState = e.state
            default: break
            }
        }
        #expect(finalState == .completed)
        #expect(order.first == "a")
        #expect(order.last == "d")
        let d = String(decoding: try await client.logs("\(dagId)/d").flatMap(\.bytes), as: UTF8.self)
        #expect(d == "a\nb\na\nc\ndir=\(dagId)\n")
        let info = try await client.dag(dagId)
        #expect(info.state == .completed)
        #expect(info.counts.completed == 4)
        #expect(info.jobs.map(\.state) == [.completed, .completed, .completed, .completed])
        #expect(info.jobs[3].parents == ["\(dagId)/b", "\(dagId)/c"])
        #expect(try await client.dags().first?.id == dagId)
        await client.close()
        #expect(await cluster.stop() == 0)
    }

    @Test func aFailureSkipsEverythingBelowItAndNothingElse() async throws {
        let cluster = try await EmbeddedCluster.start(workers: 1)
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        let (dagId, _) = try await client.submitDag(DagSpec(name: "fails", jobs: [
            DagJobSpec(id: "bad", spec: Self.sh("exit 2", retries: 1)),
            DagJobSpec(id: "child", spec: Self.sh("echo never"), dependsOn: ["bad"]),
            DagJobSpec(id: "grandchild", spec: Self.sh("echo never"), dependsOn: ["child"]),
            DagJobSpec(id: "other", spec: Self.sh("echo fine")),
            DagJobSpec(id: "join", spec: Self.sh("echo never"), dependsOn: ["other", "grandchild"]),
        ]))
        let info = try await client.waitDag(dagId)
        #expect(info.state == .failed)
        let states = Dictionary(uniqueKeysWithValues: info.jobs.map { ($0.id.split(separator: "/").last.map(String.init)!, $0) })
        #expect(states["bad"]?.state == .failed)
        #expect(states["bad"]?.attempts == 2)
        #expect(states["child"]?.state == .skipped)
        #expect(states["grandchild"]?.state == .skipped)
        #expect(states["join"]?.state == .skipped)
        #expect(states["other"]?.state == .completed)
        #expect(states["child"]?.attempts == 0)
        #expect(info.counts == JobCounts(pending: 0, running: 0, completed: 1, failed: 1, cancelled: 0, skipped: 3))
        await client.close()
        #expect(await cluster.stop() == 0)
    }

    @Test func cancellingADagKillsWhatRunsAndStopsTheRest() async throws {
        let cluster = try await EmbeddedCluster.start(workers: 1)
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        let (dagId, _) = try await client.submitDag(DagSpec(name: "long", jobs: [
            DagJobSpec(id: "slow", spec: Self.sh("sleep 30")),
            DagJobSpec(id: "after", spec: Self.sh("true"), dependsOn: ["slow"]),
            DagJobSpec(id: "delayed", spec: JobSpec(command: ["true"], delayMs: 60_000)),
        ]))
        try await waitUntil { try await client.status("\(dagId)/slow").state == .running }
        let waiting = try await client.status("\(dagId)/after")
        #expect(waiting.pendingReason == "waiting for parents: slow")
        try await client.cancel(dagId)
        let info = try await client.dag(dagId)
        #expect(info.state == .cancelled)
        #expect(info.jobs.map(\.state) == [.cancelled, .skipped, .cancelled])
        await #expect(throws: TitanClientError.self) { try await client.cancel(dagId) }
        try await waitUntil { try await client.workers().first?.running == 0 }
        await client.close()
        #expect(await cluster.stop() == 0)
    }

    @Test func invalidDagsAreRefusedWholeWithTheProblemNamed() async throws {
        let cluster = try await EmbeddedCluster.start(workers: 1)
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        let ok = JobSpec(command: ["true"])
        let cases: [(DagSpec, String)] = [
            (DagSpec(name: "empty", jobs: []), "at least one job"),
            (DagSpec(name: "cycle", jobs: [DagJobSpec(id: "a", spec: ok, dependsOn: ["b"]),
                                           DagJobSpec(id: "b", spec: ok, dependsOn: ["a"])]), "cycle: "),
            (DagSpec(name: "unknown", jobs: [DagJobSpec(id: "a", spec: ok, dependsOn: ["ghost"])]), "unknown job 'ghost'"),
            (DagSpec(name: "dup", jobs: [DagJobSpec(id: "a", spec: ok), DagJobSpec(id: "a", spec: ok)]), "duplicate job id 'a'"),
            (DagSpec(name: "id", jobs: [DagJobSpec(id: "a/b", spec: ok)]), "jobs[0]: job id 'a/b' contains '/'"),
            (DagSpec(name: "dots", jobs: [DagJobSpec(id: "..", spec: ok)]), "jobs[0]: job id '..' must start with"),
            (DagSpec(name: "control", jobs: [DagJobSpec(id: "a\u{7}", spec: ok)]), "a control character (0x7)"),
            (DagSpec(name: "spec", jobs: [DagJobSpec(id: "a", spec: ok), DagJobSpec(id: "b", spec: JobSpec(command: []))]),
             "jobs[1] 'b': field 'command'"),
        ]
        for (dag, expected) in cases {
            do {
                _ = try await client.submitDag(dag)
                Issue.record("accepted \(dag.name)")
            } catch let TitanClientError.server(code, text) {
                #expect(code == .invalidRequest)
                #expect(text.contains(expected), "\(text)")
            }
        }
        #expect(try await client.dags().isEmpty)
        #expect(try await client.jobs().isEmpty)
        await client.close()
        #expect(await cluster.stop() == 0)
    }

    @Test func aDagTooLargeForOneFrameIsRefusedBeforeSending() async throws {
        let cluster = try await EmbeddedCluster.start(workers: 0)
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        let big = String(repeating: "x", count: 1 << 20)
        let jobs = (0..<20).map { DagJobSpec(id: "j\($0)", spec: JobSpec(command: ["echo", big])) }
        do {
            _ = try await client.submitDag(DagSpec(name: "huge", jobs: jobs))
            Issue.record("a 20 MiB DAG was sent")
        } catch let TitanClientError.requestTooLarge(bytes, limit) {
            #expect(bytes > limit)
        }
        // The connection is still good.
        try await client.ping()
        #expect(try await client.dags().isEmpty)
        await client.close()
        #expect(await cluster.stop() == 0)
    }

    @Test func hardAffinityKeepsAChildOnItsParentsWorker() async throws {
        let cluster = try await EmbeddedCluster.start(workers: 3)
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        let jobs = [DagJobSpec(id: "parent", spec: Self.sh("true"))] + (0..<6).map {
            DagJobSpec(id: "child\($0)", spec: Self.sh("true"), dependsOn: ["parent"], affinity: .hard)
        }
        let (dagId, _) = try await client.submitDag(DagSpec(name: "affinity", jobs: jobs))
        let info = try await client.waitDag(dagId)
        #expect(info.state == .completed)
        let parentWorker = info.jobs[0].workerId
        #expect(!parentWorker.isEmpty)
        #expect(info.jobs.dropFirst().allSatisfy { $0.workerId == parentWorker })
        await client.close()
        #expect(await cluster.stop() == 0)
    }

    @Test func aHardAffinityChildFailsWhenItsWorkerDies() async throws {
        var masterConfig = MasterConfig.loopbackAnyPort
        masterConfig.suspectAfterMs = 100
        masterConfig.deadAfterMs = 200
        var a = WorkerConfig()
        a.workerId = "a"
        a.capabilities = ["A"]
        var b = WorkerConfig()
        b.workerId = "b"
        let cluster = try await EmbeddedCluster.start(master: masterConfig, workers: [a, b])
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        let (dagId, _) = try await client.submitDag(DagSpec(name: "pinned", jobs: [
            DagJobSpec(id: "parent", spec: JobSpec(command: ["true"], requirements: ["A"])),
            // Still waiting out its delay when "a" goes away.
            DagJobSpec(id: "child", spec: JobSpec(command: ["true"], delayMs: 60_000), dependsOn: ["parent"], affinity: .hard),
            DagJobSpec(id: "after", spec: JobSpec(command: ["true"]), dependsOn: ["child"]),
        ]))
        try await waitUntil { try await client.status("\(dagId)/parent").state == .completed }
        await cluster.workers[0].stop()
        let info = try await client.waitDag(dagId)
        #expect(info.state == .failed)
        #expect(info.jobs.map(\.state) == [.completed, .failed, .skipped])
        #expect(info.jobs[1].result?.error?.contains("worker a died") == true)
        await client.close()
        #expect(await cluster.stop() == 0)
    }

    @Test func aChildWaitsForAParentThatSucceedsOnRetry() async throws {
        let cluster = try await EmbeddedCluster.start(workers: 1)
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        let (dagId, _) = try await client.submitDag(DagSpec(name: "retry", jobs: [
            DagJobSpec(id: "flaky", spec: Self.sh("[ -e tried ] || { touch tried; exit 1; }", retries: 2)),
            DagJobSpec(id: "next", spec: Self.sh("echo after"), dependsOn: ["flaky"]),
        ]))
        let info = try await client.waitDag(dagId)
        #expect(info.state == .completed)
        #expect(info.jobs[0].attempts == 2)
        #expect(info.jobs[1].attempts == 1)
        await client.close()
        #expect(await cluster.stop() == 0)
    }
}
