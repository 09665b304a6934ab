import Foundation
import Logging
import Testing
import TitanClient
import TitanLoop
import TitanProtocol
import TitanRuntime

/// Native approval gates: no process, no worker slot, decided through the KV keys the original
/// Titan's gates use, so an approval given any way resumes the DAG at once.
@Suite struct GateTests {
    static func sh(_ script: String) -> JobSpec { JobSpec(command: ["sh", "-c", script]) }
    static func gated(_ message: String = "Ship it?", timeoutMs: UInt64 = 60_000) -> DagSpec {
        DagSpec(name: "release", jobs: [
            DagJobSpec(id: "build", spec: sh("echo built")),
            DagJobSpec(id: "review", spec: JobSpec(command: [], gate: GateSpec(message: message, timeoutMs: timeoutMs)),
                       dependsOn: ["build"]),
            DagJobSpec(id: "ship", spec: sh("echo shipped"), dependsOn: ["review"]),
        ])
    }

    @Test func anApprovedGateResumesTheDagAndHoldsNoSlot() async throws {
        let cluster = try await EmbeddedCluster.start(workers: 1, slots: 1)
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        let (dagId, _) = try await client.submitDag(Self.gated())
        let gate = "\(dagId)/review"
        try await waitUntil { try await client.status(gate).state == .running }
        #expect(try await client.approvals() == [TitanClient.Approval(jobId: gate, message: "Ship it?")])
        #expect(try await client.kvGet("titan:hitl:status:" + gate) == Array("WAITING".utf8))
        // The gate holds no slot: the only slot runs another job meanwhile.
        let other = try await client.submit(Self.sh("echo meanwhile"))
        #expect(try await client.wait(other).state == .completed)
        #expect(try await client.status("\(dagId)/ship").state == .pending)
        try await client.decide(gate, approved: true)
        let done = try await client.waitDag(dagId)
        #expect(done.state == .completed)
        #expect(try await client.approvals().isEmpty)
        #expect(String(decoding: try await client.logs("\(dagId)/ship").flatMap(\.bytes), as: UTF8.self) == "shipped\n")
        await client.close()
        #expect(await cluster.stop() == 0)
    }

    @Test func rejectedTimedOutAndPreApprovedGates() async throws {
        let cluster = try await EmbeddedCluster.start(workers: 1)
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        // Rejected: the gate fails, what depends on it is skipped.
        let (rejected, _) = try await client.submitDag(Self.gated())
        try await waitUntil { try await client.status("\(rejected)/review").state == .running }
        try await client.decide("\(rejected)/review", approved: false)
        let r = try await client.waitDag(rejected)
        #expect(r.state == .failed)
        #expect(try await client.status("\(rejected)/ship").state == .skipped)
        #expect(try await client.status("\(rejected)/review").result?.error == "rejected")
        // Timed out.
        let (late, _) = try await client.submitDag(Self.gated(timeoutMs: 50))
        let l = try await client.waitDag(late)
        #expect(l.state == .failed)
        #expect(try await client.kvGet("titan:hitl:status:\(late)/review") == Array("TIMEOUT".utf8))
        #expect(try await client.status("\(late)/review").result?.error?.contains("TIMEOUT") == true)
        // Approved before it opened (through the original protocol's KV_SET, as its tools do).
        let (early, _) = try await client.submitDag(DagSpec(name: "early", jobs: [
            DagJobSpec(id: "wait", spec: Self.sh("sleep 0.3")),
            DagJobSpec(id: "review", spec: JobSpec(command: [], gate: GateSpec(message: "ok?")), dependsOn: ["wait"]),
            DagJobSpec(id: "go", spec: Self.sh("echo went"), dependsOn: ["review"]),
        ]))
        #expect(try V1ProtocolTests.call(cluster.master.port, 0x60, "titan:hitl:status:\(early)/review|APPROVED").text == "OK")
        #expect(try await client.waitDag(early).state == .completed)
        await client.close()
        #expect(await cluster.stop() == 0)
    }

    @Test func affinityLooksThroughAGateToTheJobAboveIt() async throws {
        let cluster = try await EmbeddedCluster.start(workers: 2, slots: 1)
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        var dagIds: [String] = []
        for _ in 0 ..< 6 {
            let (dagId, _) = try await client.submitDag(DagSpec(name: "model", jobs: [
                DagJobSpec(id: "train", spec: Self.sh("echo weights > model.txt")),
                DagJobSpec(id: "review", spec: JobSpec(command: [], gate: GateSpec(message: "ok?")), dependsOn: ["train"]),
                DagJobSpec(id: "publish", spec: Self.sh("cat model.txt"), dependsOn: ["review"], affinity: .hard),
            ]))
            try await client.decide("\(dagId)/review", approved: true)  // decided early: opens and passes
            dagIds.append(dagId)
        }
        for dagId in dagIds {
            let done = try await client.waitDag(dagId)
            #expect(done.state == .completed, "\(done.jobs.map { ($0.id, $0.state, $0.result?.exitCode ?? -1) })")
            let train = try await client.status("\(dagId)/train").workerId
            #expect(try await client.status("\(dagId)/publish").workerId == train)
        }
        await client.close()
        #expect(await cluster.stop() == 0)
    }

    @Test func anOpenGateSurvivesAMasterRestart() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("titan-gate-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = MasterConfig.loopbackAnyPort
        config.dataDirectory = dir
        let loop = EventLoop(name: "gate-master")
        var master = try await MasterNode.start(config: config, loop: loop, logger: EmbeddedCluster.defaultLogger)
        var client = try await TitanClient.connect(to: "127.0.0.1:\(master.port)")
        let (dagId, _) = try await client.submitDag(DagSpec(name: "g", jobs: [
            DagJobSpec(id: "review", spec: JobSpec(command: [], gate: GateSpec(message: "after restart?"))),
            DagJobSpec(id: "next", spec: Self.sh("true"), dependsOn: ["review"]),
        ]))
        try await waitUntil { try await client.status("\(dagId)/review").state == .running }
        await client.close()
        await master.stop()
        master = try await MasterNode.start(config: config, loop: loop, logger: EmbeddedCluster.defaultLogger)
        client = try await TitanClient.connect(to: "127.0.0.1:\(master.port)")
        #expect(try await client.approvals().map(\.jobId) == ["\(dagId)/review"])
        try await client.decide("\(dagId)/review", approved: true)
        try await waitUntil { try await client.status("\(dagId)/review").state == .completed }
        // No worker here: `next` is ready, waiting for one.
        let next = try await client.status("\(dagId)/next")
        #expect(next.state == .pending)
        #expect(!next.pendingReason.hasPrefix("waiting for parents"), "\(next.pendingReason)")
        await client.close()
        await master.stop()
        #expect(await loop.shutdown() == 0)
    }
}
