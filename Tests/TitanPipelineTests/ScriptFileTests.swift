import Foundation
import Testing
import TitanPipeline
import TitanProtocol

@Suite("Script files and paths")
struct ScriptFileTests {
    @Test func interpretersByExtension() throws {
        try withTemporaryDirectory { dir in
            let py = try dir.write("scripts/extract.py", "print('hi')\n")
            let sh = try dir.write("scripts/load.sh", "echo hi\n")
            let bin = try dir.write("bin/tool", executable: true)
            let upper = try dir.write("scripts/UPPER.PY", "print(1)\n")
            let pipeline = try parsePipeline("""
                name: files
                jobs:
                  - id: extract
                    file: scripts/extract.py
                    args: "--day 2024-01-01"
                  - id: load
                    file: ./scripts/load.sh
                    args: [one, two words]
                  - id: tool
                    file: bin/tool
                  - id: upper
                    file: \(upper)
                """, base: dir.path)
            // Scripts run from where the worker puts them: their path relative to the pipeline.
            #expect(pipeline.dag.jobs == [
                job("extract", ["python3", "scripts/extract.py", "--day", "2024-01-01"]),
                job("load", ["bash", "scripts/load.sh", "one", "two words"]),
                job("tool", ["./bin/tool"]),
                job("upper", ["python3", "scripts/UPPER.PY"]),
            ])
            #expect(pipeline.scripts == [
                "extract": LocalFile(path: py, destination: "scripts/extract.py", executable: false),
                "load": LocalFile(path: sh, destination: "scripts/load.sh", executable: false),
                "tool": LocalFile(path: bin, destination: "bin/tool", executable: true),
                "upper": LocalFile(path: upper, destination: "scripts/UPPER.PY", executable: false),
            ])
            #expect(pipeline.files == [bin, upper, py, sh].sorted())
        }
    }

    @Test func relativePathsResolveAgainstTheBaseDirectory() throws {
        try withTemporaryDirectory { dir in
            _ = try dir.write("shared/run.sh")
            try dir.makeDirectory("pipelines/nightly")
            let pipeline = try parsePipeline("""
                name: rel
                jobs:
                  - id: a
                    file: ../../shared//run.sh
                    working_dir: ../work/./out
                  - id: b
                    command: [x]
                    working_dir: /var/tmp/abs
                """, base: "\(dir.path)/pipelines/nightly", options: .init(allowOutsideFiles: true))
            #expect(pipeline.dag.jobs == [
                job("a", ["bash", "_files/run.sh"]) { $0.workingDirectory = "\(dir.path)/pipelines/work/out" },
                job("b", ["x"]) { $0.workingDirectory = "/var/tmp/abs" },
            ])
        }
    }

    @Test func relativeBaseDirectoryIsMadeAbsolute() throws {
        let pipeline = try parsePipeline("""
            name: cwd
            jobs:
              - {id: a, command: [x], working_dir: out}
            """, base: "sub")
        let cwd = FileManager.default.currentDirectoryPath
        #expect(pipeline.dag.jobs[0].spec.workingDirectory == (cwd == "/" ? "" : cwd) + "/sub/out")
    }

    @Test func missingScriptIsNamed() throws {
        try withTemporaryDirectory { dir in
            expectError("""
                name: files
                jobs:
                  - id: a
                    file: scripts/missing.py
                """, line: 4, key: "jobs[0].file", "'\(dir.path)/scripts/missing.py'", "does not exist", base: dir.path)
        }
    }

    @Test func directoryIsNotAScript() throws {
        try withTemporaryDirectory { dir in
            try dir.makeDirectory("scripts")
            expectError("""
                name: files
                jobs:
                  - id: a
                    command: [x]
                  - id: b
                    file: scripts
                """, line: 6, key: "jobs[1].file", "'\(dir.path)/scripts'", "is a directory", base: dir.path)
        }
    }

    @Test func deviceIsNotARegularFile() {
        expectError("name: files\njobs:\n  - id: a\n    file: /dev/null\n", line: 4, key: "jobs[0].file",
                    "'/dev/null' is not a regular file")
    }

    @Test func symlinkToAScriptKeepsTheLinkPath() throws {
        try withTemporaryDirectory { dir in
            let target = try dir.write("real/run.sh")
            try FileManager.default.createSymbolicLink(atPath: "\(dir.path)/link.sh", withDestinationPath: target)
            let pipeline = try parsePipeline("name: l\njobs:\n  - {id: a, file: link.sh}\n", base: dir.path)
            #expect(pipeline.dag.jobs == [job("a", ["bash", "link.sh"])])
            #expect(pipeline.scripts["a"]?.path == "\(dir.path)/link.sh")
        }
    }

    @Test func loadReadsTheFileAndResolvesAgainstItsDirectory() throws {
        try withTemporaryDirectory { dir in
            let script = try dir.write("etl/steps/extract.py", "print(1)\n")
            let yamlPath = try dir.write("etl/pipeline.yaml", """
                name: etl
                schedule: "@daily"
                env: {STAGE: prod}
                jobs:
                  - id: extract
                    file: steps/extract.py
                    timeout: 90
                """)
            let pipeline = try PipelineLoader.load(path: yamlPath)
            #expect(pipeline == Pipeline(name: "etl", schedule: "@daily", dag: DagSpec(name: "etl", jobs: [
                job("extract", ["python3", "steps/extract.py"]) { $0.environment = ["STAGE": "prod"]; $0.timeoutMs = 90_000 },
            ]), sourcePath: yamlPath, scripts: ["extract": LocalFile(path: script, destination: "steps/extract.py", executable: false)]))
        }
    }

    @Test func loadErrorsNameTheGivenPath() throws {
        try withTemporaryDirectory { dir in
            let yamlPath = try dir.write("bad.yaml", "name: etl\njobs:\n  - id: a\n    priority: high\n    command: [x]\n")
            let error = try #require(loadError(yamlPath))
            #expect(error.description == "\(yamlPath):4:15: jobs[0].priority: expected an integer, got 'high'")
        }
    }

    @Test func loadMissingFile() throws {
        try withTemporaryDirectory { dir in
            let path = "\(dir.path)/nope.yaml"
            let error = try #require(loadError(path))
            #expect(error.path == path)
            #expect(error.line == 0)
            #expect(error.description == "\(path): no such file")
        }
    }

    @Test func loadDirectory() throws {
        try withTemporaryDirectory { dir in
            let error = try #require(loadError(dir.path))
            #expect(error.message.contains("is a directory"))
        }
    }

    @Test func loadNonUTF8File() throws {
        try withTemporaryDirectory { dir in
            var bytes = Array("name: etl\njobs:\n  - id: caf".utf8)
            bytes += [0xE9, 0x0A]  // Latin-1 'é'
            let path = try dir.write("latin1.yaml", data: Data(bytes))
            let error = try #require(loadError(path))
            #expect(error.line == 3)
            #expect(error.column == 12)
            #expect(error.message.contains("UTF-8"))
            #expect(error.description.hasPrefix("\(path):3:12: "))
        }
    }

    @Test func loadEmptyFile() throws {
        try withTemporaryDirectory { dir in
            let path = try dir.write("empty.yaml", "")
            let error = try #require(loadError(path))
            #expect(error.line == 1)
            #expect(error.message.contains("empty"))
        }
    }
}
