import Testing
import TitanPipeline
import TitanProtocol

@Suite("Approval gates in pipelines")
struct GatePipelineTests {
    @Test func hitlMessageInsertsAGateAfterTheJobAndRewiresItsChildren() throws {
        let pipeline = try parsePipeline("""
            name: train
            jobs:
              - id: prep
                command: [prep]
                hitl_message: "Data looks right?"
                max_wait_seconds: 600
              - {id: train, command: [train], depends_on: prep}
              - {id: report, command: [report], depends_on: [prep, train]}
            """)
        #expect(pipeline.dag.jobs.map(\.id) == ["prep", "hitl-gate-prep", "train", "report"])
        #expect(pipeline.dag.jobs[1].dependsOn == ["prep"])
        #expect(pipeline.dag.jobs[1].spec.gate == GateSpec(message: "Data looks right?", timeoutMs: 600_000))
        #expect(pipeline.dag.jobs[2].dependsOn == ["hitl-gate-prep"])
        #expect(pipeline.dag.jobs[3].dependsOn == ["hitl-gate-prep", "train"])
        #expect(pipeline.dag.jobs[0].spec.gate == nil)
    }

    @Test func aGateJob() throws {
        let pipeline = try parsePipeline("""
            name: release
            jobs:
              - {id: build, command: [make]}
              - {id: review, type: gate, hitl_message: "Ship?", depends_on: build}
              - {id: ship, command: [deploy], depends_on: review}
            """)
        #expect(pipeline.dag.jobs[1].spec.gate == GateSpec(message: "Ship?", timeoutMs: 172_800_000))
        #expect(pipeline.dag.jobs[1].spec.command.isEmpty)
        #expect(pipeline.dag.jobs[1].dependsOn == ["build"])
    }

    @Test func gateErrors() {
        expectError("name: r\njobs:\n  - {id: g, type: gate, command: [x]}\n", line: 3, key: "jobs[0].command", "a gate runs nothing")
        expectError("name: r\njobs:\n  - {id: a, command: [x], hitl_message: m}\n  - {id: hitl-gate-a, command: [y]}\n",
                    line: 3, key: "jobs[0].hitl_message", "'hitl-gate-a', which is taken")
        expectError("name: r\njobs:\n  - {id: a, command: [x], max_wait_seconds: -1}\n", line: 3, key: "jobs[0].max_wait_seconds")
    }
}
