import Testing
import TitanPipeline
import TitanProtocol

@Suite("Valid pipelines")
struct ValidPipelineTests {
    @Test func diamond() throws {
        let pipeline = try parsePipeline("""
            name: diamond
            jobs:
              - id: a
                command: [echo, a]
              - id: b
                command: [echo, b]
                depends_on: a
              - id: c
                command: [echo, c]
                depends_on: [a]
              - id: d
                command: [echo, d]
                depends_on: [b, c]
            """)
        #expect(pipeline == Pipeline(name: "diamond", schedule: nil, dag: DagSpec(name: "diamond", jobs: [
            job("a", ["echo", "a"]),
            job("b", ["echo", "b"], dependsOn: ["a"]),
            job("c", ["echo", "c"], dependsOn: ["a"]),
            job("d", ["echo", "d"], dependsOn: ["b", "c"]),
        ]), sourcePath: "pipeline.yaml"))
    }

    @Test func fanOutFanIn() throws {
        let pipeline = try parsePipeline("""
            name: fan
            project: false
            jobs:
              - {id: split, command: [split, input]}
              - {id: part-1, command: [work, "1"], depends_on: split}
              - {id: part-2, command: [work, "2"], depends_on: split}
              - {id: part-3, command: [work, "3"], depends_on: split}
              - id: merge
                command: [merge]
                depends_on: "part-1, part-2 part-3"
            """)
        #expect(pipeline.dag.jobs == [
            job("split", ["split", "input"]),
            job("part-1", ["work", "1"], dependsOn: ["split"]),
            job("part-2", ["work", "2"], dependsOn: ["split"]),
            job("part-3", ["work", "3"], dependsOn: ["split"]),
            job("merge", ["merge"], dependsOn: ["part-1", "part-2", "part-3"]),
        ])
    }

    @Test func gpuRoutedStep() throws {
        let pipeline = try parsePipeline("""
            name: train
            jobs:
              - id: prep
                command: [prep]
              - id: train
                command: [train]
                depends_on: prep
                requirement: gpu, high_mem
                affinity: hard
              - id: report
                command: [report]
                depends_on: train
                requirements: [gpu, Gpu, ssd]
            """)
        #expect(pipeline.dag.jobs == [
            job("prep", ["prep"]),
            job("train", ["train"], dependsOn: ["prep"], affinity: .hard) { $0.requirements = ["GPU", "HIGH_MEM"] },
            job("report", ["report"], dependsOn: ["train"]) { $0.requirements = ["GPU", "SSD"] },
        ])
    }

    @Test func timingConversions() throws {
        let pipeline = try parsePipeline("""
            name: timing
            jobs:
              - id: all
                command: [x]
                priority: -3
                delay: 10
                retries: 3
                retry_delay: 2.5
                timeout: 60
              - id: floats
                command: [x]
                priority: 2147483647
                delay: 0.25
                retry_delay: 0
                timeout: 0.0001
                retries: 10000
              - id: defaults
                command: [x]
                priority:
                delay: ~
            """)
        #expect(pipeline.dag.jobs == [
            job("all", ["x"]) {
                $0.priority = -3; $0.delayMs = 10_000; $0.retries = 3; $0.retryDelayMs = 2_500; $0.timeoutMs = 60_000
            },
            job("floats", ["x"]) {
                $0.priority = Int32.max; $0.delayMs = 250; $0.retryDelayMs = 0; $0.timeoutMs = 1; $0.retries = 10_000
            },
            job("defaults", ["x"]),
        ])
        let defaults = pipeline.dag.jobs[2].spec
        #expect(defaults.priority == 1 && defaults.retryDelayMs == 1_000 && defaults.timeoutMs == 0 && defaults.delayMs == 0)
    }

    @Test func argsStringAndList() throws {
        let pipeline = try parsePipeline("""
            name: args
            jobs:
              - id: string
                command: [tool, --flag]
                args: "a  b c"
              - id: list
                command: [tool]
                args: [a b, "2", 3, true]
              - id: shell
                command: echo "$HOME" | wc -c
              - id: number-words
                command: [sleep, 1.50]
            """)
        #expect(pipeline.dag.jobs == [
            job("string", ["tool", "--flag", "a", "b", "c"]),
            job("list", ["tool", "a b", "2", "3", "true"]),
            job("shell", ["/bin/sh", "-c", #"echo "$HOME" | wc -c"#]),
            job("number-words", ["sleep", "1.50"]),
        ])
    }

    @Test func environmentMerge() throws {
        let pipeline = try parsePipeline("""
            name: env
            env:
              REGION: eu
              LEVEL: info
            jobs:
              - id: inherits
                command: [x]
              - id: overrides
                command: [x]
                env: {LEVEL: debug, PORT: 8080, VERBOSE: yes, RATIO: 0.50, EMPTY: ""}
            """)
        #expect(pipeline.dag.jobs[0].spec.environment == ["REGION": "eu", "LEVEL": "info"])
        #expect(pipeline.dag.jobs[1].spec.environment == [
            "REGION": "eu", "LEVEL": "debug", "PORT": "8080", "VERBOSE": "yes", "RATIO": "0.50", "EMPTY": "",
        ])
    }

    @Test(arguments: [
        ("true", Affinity.soft), ("false", .none), ("soft", .soft), ("hard", .hard), ("none", .none),
        ("yes", .soft), ("Hard", .hard), ("", .none),
    ])
    func affinityValues(text: String, expected: Affinity) throws {
        let pipeline = try parsePipeline("""
            name: affinity
            jobs:
              - {id: a, command: [x]}
              - id: b
                command: [x]
                depends_on: a
                affinity: \(text)
            """)
        #expect(pipeline.dag.jobs[1].affinity == expected)
    }

    @Test func namesScheduleAndIds() throws {
        let pipeline = try parsePipeline("""
            # a comment
            name: "nightly etl"
            schedule: "0 * * * *"
            jobs:
              - id: 1
                name: "Extract step"
                command: [x]
              - id: v1.2_final-B
                command: [x]
                depends_on: 1
            """)
        #expect(pipeline.name == "nightly etl")
        #expect(pipeline.dag.name == "nightly etl")
        #expect(pipeline.schedule == "0 * * * *")
        #expect(pipeline.dag.jobs[0].id == "1")
        #expect(pipeline.dag.jobs[0].spec.name == "Extract step")
        #expect(pipeline.dag.jobs[1].spec.name == "v1.2_final-B")
        #expect(pipeline.dag.jobs[1].dependsOn == ["1"])
    }

    @Test func longestValidId() throws {
        let id = String(repeating: "x", count: 128)
        let pipeline = try parsePipeline("name: n\njobs:\n  - {id: \(id), command: [x]}\n")
        #expect(pipeline.dag.jobs[0].id == id)
    }

    @Test func anchorsAliasesAndMergeKeys() throws {
        let pipeline = try parsePipeline("""
            name: anchors
            x-defaults: &defaults
              retries: 2
              requirement: GPU
              env: &env {A: "1"}
            jobs:
              - id: a
                <<: *defaults
                command: [x]
              - id: b
                <<: *defaults
                retries: 5
                command: &cmd [y, z]
              - id: c
                command: *cmd
                env: *env
            """)
        #expect(pipeline.dag.jobs == [
            job("a", ["x"]) { $0.retries = 2; $0.requirements = ["GPU"]; $0.environment = ["A": "1"] },
            job("b", ["y", "z"]) { $0.retries = 5; $0.requirements = ["GPU"]; $0.environment = ["A": "1"] },
            job("c", ["y", "z"]) { $0.environment = ["A": "1"] },
        ])
    }

    @Test func typeRunIsTheDefault() throws {
        let pipeline = try parsePipeline("""
            name: t
            jobs:
              - {id: a, type: run, command: [x]}
            """)
        #expect(pipeline.dag.jobs == [job("a", ["x"])])
    }

    @Test func byteOrderMarkAndCRLF() throws {
        let pipeline = try parsePipeline("\u{FEFF}name: bom\r\njobs:\r\n  - id: a\r\n    command: [x]\r\n")
        #expect(pipeline.name == "bom")
        #expect(pipeline.dag.jobs == [job("a", ["x"])])
    }
}
