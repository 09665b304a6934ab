import Foundation
import Testing
import TitanPipeline
import TitanProtocol
import TitanTestSupport

/// Pipelines written for the original Titan load unchanged: every key of its schema (`name`,
/// `version`, `project`, `jobs`; per job `id`, `type`, `file`, `args`, `depends_on`,
/// `requirement`, `priority`, `delay`, `affinity`, `port`, `hitl_message`, `max_wait_seconds`)
/// is read with its meaning. These are our own pipelines of the same keys and shapes as the
/// original project's examples (diamond, fan-out/fan-in, GPU routing, a service, the
/// "comprehensive" one, a gated one). The same files run end to end in PipelineCLITests.
@Suite("Original Titan pipelines")
struct OriginalPipelineTests {
    static func writeExamples(in dir: TemporaryDirectory, servicePort: Int = 9000) throws {
        try OriginalTitanExamples.write(in: dir.path, servicePort: servicePort)
    }

    static func load(_ dir: TemporaryDirectory, _ file: String) throws -> Pipeline {
        try PipelineLoader.load(path: "\(dir.path)/\(file)")
    }

    static func python(_ script: String, _ args: String...) -> [String] { ["python3", script] + args }

    @Test func diamondWithVersionAndProject() throws {
        try withTemporaryDirectory { dir in
            try Self.writeExamples(in: dir)
            let pipeline = try Self.load(dir, "diamond.yaml")
            #expect(pipeline.name == "diamond-style")
            #expect(pipeline.version == "1.0")
            #expect(pipeline.project == dir.path)
            #expect(pipeline.scripts.isEmpty)  // the project archive carries them
            #expect(pipeline.notes.isEmpty)
            #expect(pipeline.dag.jobs == [
                job("root", Self.python("scripts/init.py")),
                job("left", Self.python("src/processor.py"), dependsOn: ["root"]),
                job("right", Self.python("src/processor.py"), dependsOn: ["root"]),
                job("sink", Self.python("scripts/init.py"), dependsOn: ["left", "right"]),
            ])
        }
    }

    @Test func fanOutAndFanInWithStringArgs() throws {
        try withTemporaryDirectory { dir in
            try Self.writeExamples(in: dir)
            let pipeline = try Self.load(dir, "fan.yaml")
            #expect(pipeline.version == "1.0")
            #expect(pipeline.dag.jobs == [
                job("start", Self.python("scripts/init.py", "GO")),
                job("part-1", Self.python("src/processor.py", "CHUNK_1"), dependsOn: ["start"]),
                job("part-2", Self.python("src/processor.py", "CHUNK_2"), dependsOn: ["start"]),
                job("part-3", Self.python("src/processor.py", "CHUNK_3"), dependsOn: ["start"]),
                job("reduce", Self.python("src/reducer.py", "ALL"), dependsOn: ["part-1", "part-2", "part-3"]),
            ])
        }
    }

    @Test func routingByRequirementAndPriority() throws {
        try withTemporaryDirectory { dir in
            try Self.writeExamples(in: dir)
            let pipeline = try Self.load(dir, "routing.yaml")
            #expect(pipeline.version == nil)
            #expect(pipeline.dag.jobs == [
                job("Prep_Step", Self.python("preprocess.py")) { $0.requirements = ["GENERAL"] },
                job("Train_Step", Self.python("train_model.py"), dependsOn: ["Prep_Step"]) {
                    $0.requirements = ["GPU"]
                    $0.priority = 10
                },
            ])
        }
    }

    @Test func aServiceWithoutANameIsNamedAfterItsFile() throws {
        try withTemporaryDirectory { dir in
            try Self.writeExamples(in: dir, servicePort: 8123)
            let pipeline = try Self.load(dir, "service.yaml")
            // No `project`: the script is shipped alone, at its path relative to the file.
            #expect(pipeline.name == "service" && pipeline.dag.name == "service")
            #expect(pipeline.project == nil)
            #expect(pipeline.scripts["Web_Backend"]?.destination == "src/server.py")
            #expect(pipeline.dag.jobs == [
                job("Web_Backend", Self.python("src/server.py", "--bind", "127.0.0.1")) {
                    $0.service = ServiceOptions(port: 8123)
                },
            ])
            #expect(pipeline.dag.jobs[0].spec.service?.keep == true)  // it outlives the DAG, as the original's did
        }
    }

    @Test func comprehensivePriorityDelayAffinityAndService() throws {
        try withTemporaryDirectory { dir in
            try Self.writeExamples(in: dir)
            let pipeline = try Self.load(dir, "comprehensive.yaml")
            #expect(pipeline.name == "comprehensive-style" && pipeline.version == "1.0")
            #expect(pipeline.dag.jobs == [
                job("first", Self.python("scripts/init.py", "--mode", "reset")) { $0.priority = 10 },
                job("second", Self.python("src/processor.py", "FETCH"), dependsOn: ["first"]) { $0.delayMs = 2_000 },
                job("third", Self.python("src/processor.py", "PROCESS"), dependsOn: ["second"], affinity: .soft),
                job("fourth", Self.python("src/server.py"), dependsOn: ["third"]) { $0.service = ServiceOptions(port: 9000) },
            ])
        }
    }

    @Test func aGateAfterAJobWithItsOwnWait() throws {
        try withTemporaryDirectory { dir in
            try Self.writeExamples(in: dir)
            let pipeline = try Self.load(dir, "gated.yaml")
            #expect(pipeline.dag.jobs.map(\.id) == ["prepare", "hitl-gate-prepare", "train"])
            #expect(pipeline.dag.jobs[1].spec.gate == GateSpec(message: "Data looks good? Approve to train.", timeoutMs: 3_600_000))
            #expect(pipeline.dag.jobs[1].dependsOn == ["prepare"])
            #expect(pipeline.dag.jobs[2].dependsOn == ["hitl-gate-prepare"])
            #expect(pipeline.notes.isEmpty)
        }
    }

    // MARK: Keys one by one

    @Test func versionIsTheFormatsVersion() throws {
        for written in ["\"1.0\"", "1.0", "1", "'1.2'", "1.0.3"] {
            let pipeline = try parsePipeline("name: v\nversion: \(written)\njobs:\n  - {id: a, command: [x]}\n")
            #expect(pipeline.version == written.trimmingCharacters(in: CharacterSet(charactersIn: "\"'")), "\(written)")
        }
        #expect(try parsePipeline("name: v\nversion:\njobs:\n  - {id: a, command: [x]}\n").version == nil)
        expectError("name: v\nversion: \"2.0\"\njobs:\n  - {id: a, command: [x]}\n", line: 2, key: "version",
                    "pipeline format version 2.0 is not supported", "reads version 1")
        expectError("name: v\nversion: latest\njobs:\n  - {id: a, command: [x]}\n", line: 2, key: "version",
                    "expected the pipeline format's version, such as \"1.0\", got 'latest'")
        expectError("name: v\nversion: [1]\njobs:\n  - {id: a, command: [x]}\n", line: 2, key: "version")
        // A key neither schema knows is still refused, with a suggestion.
        expectError("name: v\nversoin: \"1.0\"\njobs:\n  - {id: a, command: [x]}\n", line: 2, key: "versoin",
                    "unknown key 'versoin'; did you mean 'version'?")
    }

    @Test func nameDefaultsToTheFileNameWithoutItsExtension() throws {
        #expect(try parsePipeline("jobs:\n  - {id: a, command: [x]}\n").name == "pipeline")
        let pipeline = try PipelineLoader.parse(yaml: "jobs:\n  - {id: a, command: [x]}\n", path: "ci/nightly.build.yml",
                                                baseDirectory: "/nonexistent-base")
        #expect(pipeline.name == "nightly.build" && pipeline.dag.name == "nightly.build")
    }

    @Test func typeIsReadWhateverItsCase() throws {
        let pipeline = try parsePipeline("""
            name: t
            jobs:
              - {id: a, type: RUN, command: [x]}
              - {id: b, type: Service, command: [y]}
            """)
        #expect(pipeline.dag.jobs[0].spec.service == nil)
        #expect(pipeline.dag.jobs[1].spec.service == ServiceOptions())
    }

    @Test func keysWithoutAMeaningHereAreIgnoredWithANote() throws {
        let pipeline = try parsePipeline("""
            name: n
            jobs:
              - id: a
                command: [x]
                port: 0
              - id: b
                command: [y]
                max_wait_seconds: 60
                depends_on: [a]
              - id: c
                command: [z]
                hitl_message: ok?
                max_wait_seconds: 60
            """)
        #expect(pipeline.dag.jobs[0] == job("a", ["x"]))
        #expect(pipeline.dag.jobs[1] == job("b", ["y"], dependsOn: ["a"]))
        #expect(pipeline.notes == [
            PipelineNote(path: "pipeline.yaml", line: 5, column: 5, key: "jobs[0].port",
                         message: "ignored: 'port' applies to services (add 'type: service' to run this job as one)"),
            PipelineNote(path: "pipeline.yaml", line: 8, column: 5, key: "jobs[1].max_wait_seconds",
                         message: "ignored: it bounds an approval gate's wait (give the job 'hitl_message', or 'type: gate')"),
        ])
        #expect(pipeline.notes[0].description
            == "pipeline.yaml:5:5: jobs[0].port: ignored: 'port' applies to services (add 'type: service' to run this job as one)")
    }
}
