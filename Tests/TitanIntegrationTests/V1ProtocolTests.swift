import Foundation
import Testing
import TitanClient
import TitanProtocol
import TitanRuntime
import TitanTestSupport

/// The original protocol through a real master and worker, as its SDK speaks it: one request per
/// connection, one reply frame, text matched by the client.
@Suite struct V1ProtocolTests {
    static func call(_ port: Int, _ opcode: UInt8, _ text: String) throws -> (opcode: UInt8, text: String) {
        let socket = try RawSocket(port: port)
        var frame = [UInt8](repeating: 0, count: 8)
        frame[0] = 1
        frame[1] = opcode
        let payload = Array(text.utf8)
        withUnsafeBytes(of: UInt32(payload.count).bigEndian) { frame.replaceSubrange(4..<8, with: $0) }
        socket.send(frame + payload)
        guard let reply = socket.readFrame() else { throw POSIXError(.ETIMEDOUT) }
        #expect(reply.version == 1)
        return (reply.opcode, String(decoding: reply.payload, as: UTF8.self))
    }

    static func b64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }

    @Test func submitStatusLogsKVAndCancelAsTheOriginalSDKDoes() async throws {
        let cluster = try await EmbeddedCluster.start(workers: 1)
        let port = cluster.master.port
        let dag = "extract|RUN_PAYLOAD|extract.sh|one two|\(Self.b64("echo extracted $1 $2 > data.txt; echo hello"))|GENERAL|1|0|[] ; "
            + "load|RUN_PAYLOAD|load.py||\(Self.b64("print(open('data.txt').read().strip())"))|GENERAL|1|0|[extract] ; "
            + "bad|RUN_PAYLOAD|bad.sh||\(Self.b64("exit 4"))|GENERAL|1|0|[] ; "
            + "after-bad|RUN_PAYLOAD|x.sh||\(Self.b64("echo never"))|GENERAL|1|0|[bad]"
        #expect(try Self.call(port, 0x04, dag) == (0x50, "DAG_ACCEPTED"))
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        try await waitUntil { try Self.call(port, 0x55, "DAG-load").text == "COMPLETED" }
        #expect(try Self.call(port, 0x55, "DAG-extract").text == "COMPLETED")
        #expect(try Self.call(port, 0x16, "DAG-load").text == "extracted one two")
        #expect(try Self.call(port, 0x16, "DAG-extract").text == "hello")
        try await waitUntil { try Self.call(port, 0x55, "DAG-bad").text == "FAILED" }
        // Below a failure: reported as failed, and it never ran.
        #expect(try Self.call(port, 0x55, "DAG-after-bad").text == "FAILED")
        #expect(try Self.call(port, 0x16, "DAG-after-bad").text == "")
        #expect(try Self.call(port, 0x55, "DAG-nope").text == "NULL")

        // KV: SADD says 1 then 0 (the original always said 0).
        #expect(try Self.call(port, 0x60, "titan:hitl:status:g|WAITING|really") == (0x50, "OK"))
        #expect(try Self.call(port, 0x61, "titan:hitl:status:g").text == "WAITING|really")
        #expect(try Self.call(port, 0x61, "missing").text == "NULL")
        #expect(try Self.call(port, 0x62, "titan:hitl:queue|g").text == "1")
        #expect(try Self.call(port, 0x62, "titan:hitl:queue|g").text == "0")
        #expect(try Self.call(port, 0x62, "titan:hitl:queue|h").text == "1")
        #expect(try Self.call(port, 0x63, "titan:hitl:queue").text == "g,h")
        // Native clients see the same store.
        #expect(try await client.kvSmembers("titan:hitl:queue") == ["g", "h"])

        // Cancel a long job; unknown ids are NOT_FOUND.
        #expect(try Self.call(port, 0x04, "slow|RUN_PAYLOAD|slow.sh||\(Self.b64("sleep 30"))|GENERAL|1|0|[]").text == "DAG_ACCEPTED")
        try await waitUntil { try Self.call(port, 0x55, "DAG-slow").text == "RUNNING" }
        #expect(try Self.call(port, 0x56, "DAG-slow").text == "CANCELLED")
        #expect(try Self.call(port, 0x55, "DAG-slow").text == "CANCELLED")
        #expect(try Self.call(port, 0x56, "DAG-ghost").text == "NOT_FOUND")

        // Stats keep the original's keys.
        let stats = try Self.call(port, 0x09, "")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(stats.text.utf8)) as? [String: Any])
        #expect(json["active_workers"] as? Int == 1)
        #expect(json["queue_size"] as? Int == 0)
        let worker = try #require((json["workers"] as? [[String: Any]])?.first)
        #expect(worker["capabilities"] as? String == "[GENERAL]")
        #expect((worker["load"] as? String)?.hasSuffix("/4") == true)
        #expect((worker["history"] as? [[String: Any]])?.isEmpty == false)
        #expect(try Self.call(port, 0x08, "").text.contains("1 worker(s)"))
        await client.close()
        #expect(await cluster.stop() == 0)
    }

    @Test func uploadsArchivesAndDeployedScripts() async throws {
        let cluster = try await EmbeddedCluster.start(workers: 1)
        let port = cluster.master.port
        // A zip made by Python's zipfile, as the original SDK's upload_project_folder does.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("titan-v1-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try await runPython("""
            import zipfile, sys
            with zipfile.ZipFile(sys.argv[1], 'w') as z:
                z.writestr('src/main.py', 'import sys; print("main", *sys.argv[1:]); print(open("data/in.txt").read().strip())')
                z.writestr('data/in.txt', 'from the archive')
            """, [dir + "/proj.zip"])
        let zip = try Data(contentsOf: URL(fileURLWithPath: dir + "/proj.zip")).base64EncodedString()
        #expect(try Self.call(port, 0x53, "proj.zip|\(zip)") == (0x50, "UPLOAD_SUCCESS"))
        #expect(try Self.call(port, 0x54, "proj.zip") == (0x52, zip))
        #expect(try Self.call(port, 0x54, "nothing.zip").text == "ERROR_NOT_FOUND")
        #expect(try Self.call(port, 0x53, "../evil|AAAA").text.hasPrefix("ERROR"))
        #expect(try Self.call(port, 0x04, "arch|RUN_ARCHIVE|proj.zip/src/main.py|x y|GENERAL|1|0|[]").text == "DAG_ACCEPTED")
        try await waitUntil { try Self.call(port, 0x55, "DAG-arch").text == "COMPLETED" }
        #expect(try Self.call(port, 0x16, "DAG-arch").text == "main x y\nfrom the archive")
        #expect(try Self.call(port, 0x04, "x|RUN_ARCHIVE|missing.zip/a.py||GENERAL|1|0|[]").text.contains("has not been uploaded"))

        #expect(try Self.call(port, 0x57, "hello.sh|\(Self.b64("echo deployed $PORT"))").text == "DEPLOY_SUCCESS")
        let queued = try Self.call(port, 0x06, "hello.sh")
        #expect(queued.text.hasPrefix("JOB_QUEUED job-"))
        let id = String(queued.text.dropFirst("JOB_QUEUED ".count))
        try await waitUntil { try Self.call(port, 0x55, id).text == "COMPLETED" }
        let logs = try Self.call(port, 0x16, id).text
        #expect(logs == "deployed", "\(logs)")
        #expect(try Self.call(port, 0x06, "never-deployed.sh").text.hasPrefix("ERROR"))
        #expect(await cluster.stop() == 0)
    }

    @Test func deployAndDeployPayloadRunSupervisedServicesThatStopTakes() async throws {
        let cluster = try await EmbeddedCluster.start(workers: 1)
        let port = cluster.master.port
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        #expect(try Self.call(port, 0x57, "srv.sh|\(Self.b64("echo serving on $PORT; exec sleep 60"))").text == "DEPLOY_SUCCESS")
        #expect(try Self.call(port, 0x05, "srv.sh|0|GENERAL").text == "DEPLOY_QUEUED")
        try await waitUntil { try await client.service("DAG-srv.sh").state == "HEALTHY" }
        let srv = try await client.service("DAG-srv.sh")
        #expect(srv.port > 0)
        try await waitUntil { String(decoding: try await client.logs("DAG-srv.sh").flatMap(\.bytes), as: UTF8.self) == "serving on \(srv.port)\n" }

        // A service in a DAG: the job below it starts once it runs, and learns its port; the
        // service outlives the DAG, as the original's did.
        let dag = "api|DEPLOY_PAYLOAD|api.sh|\(Self.b64("exec sleep 60"))|0|GENERAL|1|0|[] ; "
            + "use|RUN_PAYLOAD|use.sh||\(Self.b64("echo api on $TITAN_SVC_DAG_API_PORT"))|GENERAL|1|0|[api]"
        #expect(try Self.call(port, 0x04, dag).text == "DAG_ACCEPTED")
        try await waitUntil { try Self.call(port, 0x55, "DAG-use").text == "COMPLETED" }
        let api = try await client.service("DAG-api")
        #expect(api.state == "HEALTHY")
        #expect(try Self.call(port, 0x16, "DAG-use").text == "api on \(api.port)")

        // STOP takes either, with or without the prefix; a job id still cancels the job.
        #expect(try Self.call(port, 0x07, "srv.sh").text == "STOPPED: srv.sh")
        #expect(try Self.call(port, 0x07, "DAG-api").text == "STOPPED: DAG-api")
        try await waitUntil { try await client.services().allSatisfy { $0.state == "STOPPED" } }
        #expect(try Self.call(port, 0x04, "long|RUN_PAYLOAD|long.sh||\(Self.b64("sleep 60"))|GENERAL|1|0|[]").text == "DAG_ACCEPTED")
        try await waitUntil { try Self.call(port, 0x55, "DAG-long").text == "RUNNING" }
        #expect(try Self.call(port, 0x07, "long").text == "STOPPED: long")
        try await waitUntil { try Self.call(port, 0x55, "DAG-long").text == "CANCELLED" }
        #expect(try Self.call(port, 0x07, "nothing").text.hasPrefix("ERROR"))
        await client.close()
        #expect(await cluster.stop() == 0)
    }

    @Test func malformedV1PayloadsGetAnErrorAndTheMasterCarriesOn() async throws {
        let cluster = try await EmbeddedCluster.start(workers: 0)
        let port = cluster.master.port
        var rng = SplitMix64(seed: 7)
        let alphabet = Array("|;[],ab0123 =DAG-RUN_PAYLOAD/.zip".utf8) + [0xFF, 0x00, 0x0A]
        for opcode in V1Opcode.allCases.map(\.rawValue) + [0x00, 0x99, 0xFF] {
            for _ in 0 ..< 10 {
                let count = Int.random(in: 0...80, using: &rng)
                let payload = String(decoding: (0 ..< count).map { _ in alphabet[Int.random(in: 0 ..< alphabet.count, using: &rng)] }, as: UTF8.self)
                let reply = try Self.call(port, opcode, payload)
                #expect([0x50, 0x51, 0x52].contains(reply.opcode))
            }
        }
        #expect(try Self.call(port, 0x99, "x") == (0x51, "UNKNOWN_OPCODE: 153"))
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        try await client.ping()
        await client.close()
        #expect(await cluster.stop() == 0)
    }
}
