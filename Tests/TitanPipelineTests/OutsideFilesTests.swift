import Foundation
import Testing
import TitanPipeline
import TitanProtocol

/// `file:` scripts must lie inside the pipeline's folder, symlinks resolved, unless allowed.
@Suite("Files outside the pipeline's folder")
struct OutsideFilesTests {
    static let allowed = PipelineLoader.Options(allowOutsideFiles: true)

    @Test func aScriptAboveTheFolderIsRefusedWithLineAndKeyUnlessAllowed() throws {
        try withTemporaryDirectory { dir in
            let secret = try dir.write("secret.sh", "cat ~/.ssh/id_rsa\n")
            try dir.makeDirectory("p/q")
            let yaml = "name: o\njobs:\n  - id: ok\n    command: [true]\n  - id: up\n    file: ../../secret.sh\n"
            expectError(yaml, line: 6, key: "jobs[1].file",
                        "'\(secret)' is outside the pipeline's folder '\(dir.path)/p/q'", "--allow-outside-files",
                        base: "\(dir.path)/p/q")
            expectError("name: o\njobs:\n  - {id: abs, file: \(secret)}\n", line: 3, key: "jobs[0].file",
                        "is outside the pipeline's folder", base: "\(dir.path)/p/q")
            let pipeline = try parsePipeline(yaml, base: "\(dir.path)/p/q", options: Self.allowed)
            #expect(pipeline.scripts["up"] == LocalFile(path: secret, destination: "_files/secret.sh", executable: false))
        }
    }

    @Test func aSymlinkInsideTheFolderPointingOutsideIsRefusedUnlessAllowed() throws {
        try withTemporaryDirectory { dir in
            let secret = try dir.write("elsewhere/secret.sh")
            try dir.makeDirectory("p/scripts")
            try FileManager.default.createSymbolicLink(atPath: "\(dir.path)/p/scripts/run.sh", withDestinationPath: secret)
            // A symlinked directory on the way counts too.
            try FileManager.default.createSymbolicLink(atPath: "\(dir.path)/p/lib", withDestinationPath: "../elsewhere")
            for (file, line) in [("scripts/run.sh", 4), ("lib/secret.sh", 4)] {
                let yaml = "name: l\njobs:\n  - id: a\n    file: \(file)\n"
                expectError(yaml, line: line, key: "jobs[0].file", "'\(dir.path)/p/\(file)' is a symlink to '\(secret)'",
                            "outside the pipeline's folder", "--allow-outside-files", base: "\(dir.path)/p")
                let pipeline = try parsePipeline(yaml, base: "\(dir.path)/p", options: Self.allowed)
                #expect(pipeline.scripts["a"] == LocalFile(path: "\(dir.path)/p/\(file)", destination: file, executable: false))
                #expect(pipeline.dag.jobs[0].spec.command == ["bash", file])
            }
        }
    }

    @Test func symlinksThatStayInsideAreFine() throws {
        try withTemporaryDirectory { dir in
            let real = try dir.write("p/real/run.sh")
            try FileManager.default.createSymbolicLink(atPath: "\(dir.path)/p/link.sh", withDestinationPath: "real/run.sh")
            let pipeline = try parsePipeline("name: l\njobs:\n  - {id: a, file: link.sh}\n  - {id: b, file: \(real)}\n",
                                             base: "\(dir.path)/p")
            #expect(pipeline.scripts["a"]?.destination == "link.sh")
            #expect(pipeline.scripts["b"]?.destination == "real/run.sh")
        }
    }

    @Test func aProjectScriptThatIsASymlinkOutOfTheProjectIsRefused() throws {
        try withTemporaryDirectory { dir in
            let secret = try dir.write("secret.py")
            try dir.makeDirectory("proj")
            try FileManager.default.createSymbolicLink(atPath: "\(dir.path)/proj/main.py", withDestinationPath: secret)
            let yaml = "name: p\nproject: true\njobs:\n  - {id: a, file: main.py}\n"
            // The archive carries symlinks, not their targets: allowing outside files cannot help.
            for options in [PipelineLoader.Options(), Self.allowed] {
                expectError(yaml, line: 4, key: "jobs[0].file", "is a symlink to '\(secret)', outside the project folder",
                            base: "\(dir.path)/proj", options: options)
            }
        }
    }

    @Test func loadTakesTheOption() throws {
        try withTemporaryDirectory { dir in
            _ = try dir.write("shared/run.sh")
            let yaml = try dir.write("p/pipeline.yaml", "name: l\njobs:\n  - id: a\n    file: ../shared/run.sh\n")
            let error = loadError(yaml)
            #expect(error?.line == 4)
            #expect(error?.key == "jobs[0].file")
            #expect(error?.description.hasPrefix("\(yaml):4:11: jobs[0].file: ") == true, "\(String(describing: error))")
            let pipeline = try PipelineLoader.load(path: yaml, options: Self.allowed)
            #expect(pipeline.files == ["\(dir.path)/shared/run.sh"])
        }
    }
}
