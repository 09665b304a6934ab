import Foundation
import Testing
import TitanClient
import TitanProtocol
import TitanRuntime

/// Artifacts end to end: uploaded to the master, fetched by workers (once, then cached by hash),
/// put in each job's directory.
@Suite struct ArtifactTests {
    static func temporaryFile(_ name: String, _ text: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("titan-art-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = dir + "/" + name
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    static func output(_ client: TitanClient, _ jobId: String) async throws -> String {
        String(decoding: try await client.logs(jobId).flatMap(\.bytes), as: UTF8.self)
    }

    @Test func anUploadedScriptRunsOnTheWorkerAndIsFetchedOnce() async throws {
        let cluster = try await EmbeddedCluster.start(workers: 1)
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        let local = try Self.temporaryFile("tool", "#!/bin/sh\necho \"tool says $1 from $(basename \"$PWD\")\"\n")
        defer { try? FileManager.default.removeItem(atPath: (local as NSString).deletingLastPathComponent) }
        let info = try await client.uploadArtifact(file: local)
        #expect(info.name == "tool")
        #expect(info.size == 54)
        #expect(try await client.artifact(named: "tool") == info)

        let ref = ArtifactRef(hash: info.hash, size: info.size, kind: .file, destination: "bin/tool", executable: true)
        let dag = DagSpec(name: "tools", jobs: (1...3).map {
            DagJobSpec(id: "t\($0)", spec: JobSpec(command: ["./bin/tool", "\($0)"], artifacts: [ref]),
                       dependsOn: $0 == 1 ? [] : ["t\($0 - 1)"])
        })
        let (dagId, _) = try await client.submitDag(dag)
        let done = try await client.waitDag(dagId)
        #expect(done.state == .completed, "\(done.jobs.map { ($0.id, $0.result?.error ?? "") })")
        // Run in the DAG's directory (named MASTERID-DAGID).
        let out = try await Self.output(client, "\(dagId)/t2")
        #expect(out.hasPrefix("tool says 2 from ") && out.hasSuffix("-\(dagId)\n"), "\(out)")
        // A lone job with the same artifact: its own directory, no new download.
        let lone = try await client.submit(JobSpec(command: ["./bin/tool", "alone"], artifacts: [ref]))
        #expect(try await client.wait(lone).state == .completed)
        #expect(try await Self.output(client, lone) == "tool says alone from \(lone)\n")
        #expect(await cluster.workers[0].artifactDownloads == 1)
        await client.close()
        #expect(await cluster.stop() == 0)
    }

    @Test func aBigArtifactStreamsInChunksIntact() async throws {
        let cluster = try await EmbeddedCluster.start(workers: 1)
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("titan-art-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // 3.5 chunks of pseudo-random bytes.
        var state: UInt64 = 42
        let bytes = (0 ..< (TitanClient.uploadChunkBytes * 7 / 2)).map { _ -> UInt8 in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return UInt8(truncatingIfNeeded: state >> 33)
        }
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/blob.bin"))
        let info = try await client.uploadArtifact(file: dir + "/blob.bin")
        #expect(info.size == UInt64(bytes.count))
        let ref = ArtifactRef(hash: info.hash, size: info.size, kind: .file, destination: "data/blob.bin")
        let job = try await client.submit(JobSpec(command: ["sha256sum", "data/blob.bin"], artifacts: [ref]))
        #expect(try await client.wait(job).state == .completed)
        #expect(try await Self.output(client, job) == "\(info.hash)  data/blob.bin\n")
        await client.close()
        #expect(await cluster.stop() == 0)
    }

    @Test func aProjectIsExtractedOnceIntoTheDagDirectory() async throws {
        let cluster = try await EmbeddedCluster.start(workers: 1)
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        let local = try Self.temporaryFile("main.sh", "echo main; cat data/input.txt\n")
        let project = (local as NSString).deletingLastPathComponent
        defer { try? FileManager.default.removeItem(atPath: project) }
        try FileManager.default.createDirectory(atPath: project + "/data", withIntermediateDirectories: true)
        try Data("from the project\n".utf8).write(to: URL(fileURLWithPath: project + "/data/input.txt"))
        let info = try await client.uploadProject(directory: project, name: "proj.zip")
        #expect(info.kind == .archive)
        let archive = ArtifactRef(hash: info.hash, size: info.size, kind: .archive, destination: "")
        let (dagId, _) = try await client.submitDag(DagSpec(name: "proj", jobs: [
            // The first job changes an extracted file; the second sees the change (one shared
            // extraction per DAG directory, not one per job).
            DagJobSpec(id: "a", spec: JobSpec(command: ["sh", "-c", "bash main.sh && echo changed > data/input.txt"], artifacts: [archive])),
            DagJobSpec(id: "b", spec: JobSpec(command: ["bash", "main.sh"], artifacts: [archive]), dependsOn: ["a"]),
        ]))
        let done = try await client.waitDag(dagId)
        #expect(done.state == .completed, "\(done.jobs.map { ($0.id, $0.result?.error ?? "") })")
        #expect(try await Self.output(client, "\(dagId)/a") == "main\nfrom the project\n")
        #expect(try await Self.output(client, "\(dagId)/b") == "main\nchanged\n")
        await client.close()
        #expect(await cluster.stop() == 0)
    }

    @Test func submissionsNamingUnknownArtifactsAreRefusedWhole() async throws {
        let cluster = try await EmbeddedCluster.start(workers: 1)
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        let missing = ArtifactRef(hash: String(repeating: "e", count: 64), size: 1, kind: .file, destination: "x")
        await #expect(throws: TitanClientError.server(.invalidRequest, "field 'artifacts[0]': no artifact with hash \(missing.hash) was uploaded to this master")) {
            try await client.submit(JobSpec(command: ["true"], artifacts: [missing]))
        }
        do {
            _ = try await client.submitDag(DagSpec(name: "x", jobs: [
                DagJobSpec(id: "ok", spec: JobSpec(command: ["true"])),
                DagJobSpec(id: "bad", spec: JobSpec(command: ["true"], artifacts: [missing])),
            ]))
            Issue.record("accepted a DAG naming a missing artifact")
        } catch let TitanClientError.server(code, message) {
            #expect(code == .invalidRequest)
            #expect(message.contains("jobs[1] 'bad'"))
        }
        #expect(try await client.dags().isEmpty)
        let escaping = ArtifactRef(hash: String(repeating: "e", count: 64), size: 1, kind: .file, destination: "../x")
        await #expect(throws: TitanClientError.self) { try await client.submit(JobSpec(command: ["true"], artifacts: [escaping])) }
        await client.close()
        #expect(await cluster.stop() == 0)
    }

    @Test func anArchiveThatEscapesFailsTheJobAndWritesNothing() async throws {
        let cluster = try await EmbeddedCluster.start(workers: 1)
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("titan-art-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A zip whose second entry climbs out of the destination, made with Python's zipfile.
        try await runPython("""
            import zipfile, sys
            with zipfile.ZipFile(sys.argv[1], 'w') as z:
                z.writestr('ok.txt', 'fine')
                z.writestr('../../escaped.txt', 'owned')
            """, [dir + "/evil.zip"])
        let info = try await client.uploadArtifact(file: dir + "/evil.zip", kind: .archive)
        let job = try await client.submit(JobSpec(command: ["ls"], artifacts: [
            ArtifactRef(hash: info.hash, size: info.size, kind: .archive, destination: "unpacked"),
        ]))
        let result = try await client.wait(job)
        #expect(result.state == .failed)
        #expect(result.result?.error?.contains("escapes the destination") == true, "\(String(describing: result.result))")
        await client.close()
        #expect(await cluster.stop() == 0)
    }
}
