import Foundation
import Testing
import TitanClient
import TitanProtocol
import TitanRuntime

/// DAGs that grow while they run: a running job's DAG gets new jobs, idempotently, recorded like
/// any change.
@Suite struct ExtendDagTests {
    static func sh(_ script: String) -> JobSpec { JobSpec(command: ["sh", "-c", script]) }

    @Test func aRunningDagGrowsAndTheNewJobsRunInOrder() async throws {
        let cluster = try await EmbeddedCluster.start(workers: 1)
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        let gate = FileManager.default.temporaryDirectory.appendingPathComponent("titan-gate-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: gate) }
        // `plan` waits for the test to say go, so the DAG is still running when it grows.
        let (dagId, _) = try await client.submitDag(DagSpec(name: "agent", jobs: [
            DagJobSpec(id: "plan", spec: Self.sh("while [ ! -e \(gate) ]; do sleep 0.01; done; echo step-a > plan.txt")),
            DagJobSpec(id: "fail", spec: Self.sh("exit 1")),
        ]))
        let more = [
            DagJobSpec(id: "act", spec: Self.sh("cat plan.txt; echo acted > act.txt"), dependsOn: ["plan"]),
            DagJobSpec(id: "check", spec: Self.sh("cat act.txt"), dependsOn: ["act"]),
            DagJobSpec(id: "after-fail", spec: Self.sh("echo never"), dependsOn: ["fail"]),
        ]
        try await waitUntil { try await client.status("\(dagId)/fail").state == .failed }
        let ids = try await client.extendDag(dagId, jobs: more)
        #expect(ids == ["act", "check", "after-fail"].map { "\(dagId)/\($0)" })
        // Again: nothing new (idempotent by id), and the same ids come back.
        #expect(try await client.extendDag(dagId, jobs: more) == ids)
        #expect(try await client.status("\(dagId)/after-fail").state == .skipped)
        #expect(try await client.status("\(dagId)/act").pendingReason == "waiting for parents: plan")
        _ = FileManager.default.createFile(atPath: gate, contents: nil)
        let done = try await client.waitDag(dagId)
        #expect(done.state == .failed)  // `fail` failed; everything else ran
        #expect(done.counts.completed == 3)
        #expect(done.counts.skipped == 1)
        #expect(String(decoding: try await client.logs("\(dagId)/check").flatMap(\.bytes), as: UTF8.self) == "acted\n")
        await #expect(throws: TitanClientError.self) {
            _ = try await client.extendDag(dagId, jobs: [DagJobSpec(id: "late", spec: Self.sh("true"))])
        }
        await client.close()
        #expect(await cluster.stop() == 0)
    }

    @Test func badExtensionsAreRefusedWhole() async throws {
        let cluster = try await EmbeddedCluster.start(workers: 1)
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        let (dagId, _) = try await client.submitDag(DagSpec(name: "d", jobs: [DagJobSpec(id: "a", spec: Self.sh("sleep 30"))]))
        for (jobs, fragment) in [
            ([DagJobSpec(id: "x", spec: Self.sh("true"), dependsOn: ["nope"])], "nope"),
            ([DagJobSpec(id: "x", spec: Self.sh("true"), dependsOn: ["y"]), DagJobSpec(id: "y", spec: Self.sh("true"), dependsOn: ["x"])], "cycle"),
            ([DagJobSpec(id: "ok", spec: Self.sh("true")), DagJobSpec(id: "bad id!", spec: Self.sh("true"))], "bad id!"),
        ] {
            do {
                _ = try await client.extendDag(dagId, jobs: jobs)
                Issue.record("accepted \(jobs.map(\.id))")
            } catch let TitanClientError.server(_, message) {
                #expect(message.contains(fragment), "\(message)")
            }
        }
        #expect(try await client.dag(dagId).jobs.map(\.id) == ["\(dagId)/a"])
        await #expect(throws: TitanClientError.server(.notFound, "no DAG 'dag-99'")) {
            _ = try await client.extendDag("dag-99", jobs: [DagJobSpec(id: "x", spec: Self.sh("true"))])
        }
        try await client.cancel(dagId)
        await client.close()
        #expect(await cluster.stop() == 0)
    }
}
