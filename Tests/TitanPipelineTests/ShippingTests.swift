import Foundation
import Testing
import TitanPipeline
import TitanProtocol

@Suite("Shipping scripts and projects")
struct ShippingTests {
    @Test func scriptsOutsideThePipelineFolderShipUnderFilesWhenAllowed() throws {
        try withTemporaryDirectory { dir in
            let a = try dir.write("one/run.sh")
            let b = try dir.write("two/run.sh")
            try dir.makeDirectory("p")
            let allowed = PipelineLoader.Options(allowOutsideFiles: true)
            let ok = try parsePipeline("name: o\njobs:\n  - {id: a, file: ../one/run.sh}\n  - {id: b, file: ../one/run.sh}\n",
                                       base: "\(dir.path)/p", options: allowed)
            #expect(ok.scripts["a"] == LocalFile(path: a, destination: "_files/run.sh", executable: false))
            #expect(ok.files == [a])
            expectError("name: o\njobs:\n  - {id: a, file: ../one/run.sh}\n  - {id: b, file: ../two/run.sh}\n",
                        line: 4, key: "jobs[1].file", "'\(b)' and '\(a)' would both be shipped as '_files/run.sh'",
                        base: "\(dir.path)/p", options: allowed)
        }
    }

    @Test func projectRunsScriptsFromTheExtractedFolder() throws {
        try withTemporaryDirectory { dir in
            _ = try dir.write("proj/src/main.py", "print(1)\n")
            _ = try dir.write("proj/bin/tool", executable: true)
            let pipeline = try parsePipeline("""
                name: p
                project: true
                jobs:
                  - {id: a, file: src/main.py, args: [x]}
                  - {id: b, file: bin/tool}
                  - {id: c, command: [ls]}
                """, base: "\(dir.path)/proj")
            #expect(pipeline.project == "\(dir.path)/proj")
            #expect(pipeline.scripts.isEmpty)
            #expect(pipeline.dag.jobs.map(\.spec.command) == [["python3", "src/main.py", "x"], ["./bin/tool"], ["ls"]])
            let project = ArtifactInfo(name: "p.zip", hash: String(repeating: "a", count: 64), size: 10, kind: .archive)
            let dag = try pipeline.resolvedDag(files: [:], project: project)
            #expect(dag.jobs.allSatisfy {
                $0.spec.artifacts == [ArtifactRef(hash: project.hash, size: 10, kind: .archive, destination: "")]
            })

            let named = try parsePipeline("name: p\nproject: proj\njobs:\n  - {id: a, file: proj/src/main.py}\n", base: dir.path)
            #expect(named.project == "\(dir.path)/proj")
            #expect(named.dag.jobs[0].spec.command == ["python3", "src/main.py"])
            let off = try parsePipeline("name: p\nproject: false\njobs:\n  - {id: a, file: proj/src/main.py}\n", base: dir.path)
            #expect(off.project == nil)
            #expect(off.dag.jobs[0].spec.command == ["python3", "proj/src/main.py"])
        }
    }

    @Test func projectErrors() throws {
        try withTemporaryDirectory { dir in
            _ = try dir.write("proj/main.py")
            _ = try dir.write("other.py")
            expectError("name: p\nproject: proj\njobs:\n  - {id: a, file: other.py}\n", line: 4, key: "jobs[0].file",
                        "'\(dir.path)/other.py' is outside the project folder '\(dir.path)/proj'", base: dir.path)
            expectError("name: p\nproject: nowhere\njobs:\n  - {id: a, command: [x]}\n", line: 2, key: "project",
                        "'\(dir.path)/nowhere' is not a folder", base: dir.path)
            expectError("name: p\nproject: [1]\njobs:\n  - {id: a, command: [x]}\n", line: 2, key: "project", base: dir.path)
        }
    }

    @Test func resolvingWithoutAnUploadedScriptFails() throws {
        try withTemporaryDirectory { dir in
            _ = try dir.write("run.sh")
            let pipeline = try parsePipeline("name: p\njobs:\n  - {id: a, file: run.sh}\n", base: dir.path)
            #expect(throws: PipelineError.self) { try pipeline.resolvedDag(files: [:], project: nil) }
            let info = ArtifactInfo(name: "x", hash: String(repeating: "b", count: 64), size: 3, kind: .file)
            let dag = try pipeline.resolvedDag(files: [pipeline.files[0]: info], project: nil)
            #expect(dag.jobs[0].spec.artifacts == [ArtifactRef(hash: info.hash, size: 3, kind: .file, destination: "run.sh")])
        }
    }
}
