import Testing
import TitanPipeline
import TitanProtocol

@Suite("Services in pipelines")
struct ServicePipelineTests {
    @Test func aServiceJobAndAJobThatUsesIt() throws {
        let pipeline = try parsePipeline("""
            name: eval
            jobs:
              - id: model
                type: service
                command: [python3, serve.py, "{port}"]
                port: auto
                health: http:/ready
                restart: on-failure
                replicas: 2
              - {id: bench, command: [bench], depends_on: model}
            """)
        let service = try #require(pipeline.dag.jobs[0].spec.service)
        #expect(service == ServiceOptions(name: "", restart: "on-failure", port: 0, health: "http:/ready", replicas: 2, keep: true))
        #expect(pipeline.dag.jobs[0].spec.command == ["python3", "serve.py", "{port}"])
        #expect(pipeline.dag.jobs[1].spec.service == nil)
        #expect(pipeline.dag.jobs[1].dependsOn == ["model"])
    }

    @Test func keptByDefaultOrStoppedWithTheDag() throws {
        let pipeline = try parsePipeline("""
            name: release
            jobs:
              - {id: api, type: service, command: [./api], port: 8080, service_name: api-prod}
              - {id: db, type: service, command: [./db], keep: false}
            """)
        #expect(pipeline.dag.jobs[0].spec.service == ServiceOptions(name: "api-prod", port: 8080, keep: true))
        #expect(pipeline.dag.jobs[1].spec.service == ServiceOptions(keep: false))
    }

    @Test func badServiceKeysNameTheLineAndKey() {
        // `port` alone on a job that is not a service is ignored with a note (the original Titan
        // ignored it), see OriginalPipelineTests; other service keys there are errors.
        expectError("name: r\njobs:\n  - id: a\n    command: [x]\n    port: 8080\n    restart: never\n", line: 6,
                    key: "jobs[0].restart", "'restart' applies to services: add 'type: service' to this job")
        expectError("name: r\njobs:\n  - id: a\n    command: [x]\n    replicas: 2\n", line: 5, key: "jobs[0].replicas",
                    "add 'type: service'")
        expectError("name: r\njobs:\n  - id: a\n    type: service\n    command: [x]\n    port: 70000\n", line: 6,
                    key: "jobs[0].port", "expected a port (1 to 65535) or 'auto', got 70000")
        expectError("name: r\njobs:\n  - id: a\n    type: service\n    command: [x]\n    port: somewhere\n", line: 6,
                    key: "jobs[0].port")
        expectError("name: r\njobs:\n  - id: a\n    type: service\n    command: [x]\n    health: udp\n", line: 6,
                    key: "jobs[0].health", "expected 'tcp' or 'http:/PATH', got 'udp'")
        expectError("name: r\njobs:\n  - id: a\n    type: service\n    command: [x]\n    health: tcp\n", line: 6,
                    key: "jobs[0].health", "a health check needs a port")
        expectError("name: r\njobs:\n  - id: a\n    type: service\n    command: [x]\n    restart: allways\n", line: 6,
                    key: "jobs[0].restart", "expected one of always, on-failure, never", "did you mean 'always'?")
        expectError("name: r\njobs:\n  - id: a\n    type: service\n    command: [x]\n    replicas: 0\n", line: 6,
                    key: "jobs[0].replicas", "must be between 1 and 1000, got 0")
        expectError("name: r\njobs:\n  - id: a\n    type: service\n    command: [x]\n    keep: maybe\n", line: 6,
                    key: "jobs[0].keep", "expected true or false")
        expectError("name: r\njobs:\n  - id: a\n    type: service\n    command: [x]\n    service_name: a/b\n", line: 6,
                    key: "jobs[0].service_name", "invalid service name 'a/b'")
        expectError("name: r\njobs:\n  - id: a\n    type: service\n    command: [x]\n    hitl_message: ok?\n", line: 6,
                    key: "jobs[0].hitl_message", "a service cannot wait for approval")
        expectError("name: r\njobs:\n  - id: a\n    type: service\n", line: 3, key: "jobs[0]", "needs either 'file'")
        expectError("name: r\njobs:\n  - id: a\n    type: service\n    command: [x]\n    retries: 2\n", line: 6,
                    key: "jobs[0].retries", "restarted per its 'restart' policy, not retried")
    }
}
