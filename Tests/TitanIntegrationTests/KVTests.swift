import Foundation
import Testing
import TitanClient
import TitanLoop
import TitanProtocol
import TitanRuntime

/// The KV store through a real master: every operation, expiry, and state that survives a
/// restart and a compaction of the append-only file.
@Suite struct KVTests {
    static func withMaster(directory: String, compactAtBytes: Int64 = 64 << 20,
                           _ body: (TitanClient) async throws -> Void) async throws {
        let loop = EventLoop(name: "kv-master")
        var config = MasterConfig.loopbackAnyPort
        config.dataDirectory = directory
        config.compactAtBytes = compactAtBytes
        let master = try await MasterNode.start(config: config, loop: loop, logger: EmbeddedCluster.defaultLogger)
        let client = try await TitanClient.connect(to: "127.0.0.1:\(master.port)")
        try await body(client)
        await client.close()
        await master.stop()
        #expect(await loop.shutdown() == 0)
    }

    static func temporaryDirectory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("titan-kv-\(UUID().uuidString)").path
    }

    @Test func everyOperationAndTheStateAfterARestart() async throws {
        let dir = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let binary: [UInt8] = [0, 255, 10, 124, 0xC3, 0x28]
        try await Self.withMaster(directory: dir) { (kv: TitanClient) async throws in
            #expect(try await kv.kvGet("missing") == nil)
            try await kv.kvSet("text", Array("héllo|world".utf8))
            try await kv.kvSet("blob", binary)
            #expect(try await kv.kvGet("blob") == binary)
            #expect(try await kv.kvSadd("queue", "gate-1") == true)
            #expect(try await kv.kvSadd("queue", "gate-1") == false)
            #expect(try await kv.kvSadd("queue", "gate-0") == true)
            #expect(try await kv.kvSmembers("queue") == ["gate-0", "gate-1"])
            #expect(try await kv.kvSrem("queue", "gate-0") == true)
            #expect(try await kv.kvSrem("queue", "gate-0") == false)
            #expect(try await kv.kvIncr("n") == 1)
            #expect(try await kv.kvIncr("n", by: 41) == 42)
            #expect(try await kv.kvDel("gone") == false)
            try await kv.kvSet("gone", [1])
            #expect(try await kv.kvDel("gone") == true)
            await #expect(throws: TitanClientError.self) { _ = try await kv.kvSadd("text", "x") }
            await #expect(throws: TitanClientError.self) { _ = try await kv.kvIncr("text") }
            await #expect(throws: TitanClientError.self) { _ = try await kv.kvGet("") }
            try await kv.kvSet("short", [1], ttlMs: 30)
            try await kv.kvSet("long", [2], ttlMs: 3_600_000)
            try await waitUntil { try await kv.kvGet("short") == nil }
        }
        try await Self.withMaster(directory: dir) { (kv: TitanClient) async throws in
            #expect(try await kv.kvGet("text") == Array("héllo|world".utf8))
            #expect(try await kv.kvGet("blob") == binary)
            #expect(try await kv.kvSmembers("queue") == ["gate-1"])
            #expect(try await kv.kvGet("n") == Array("42".utf8))
            #expect(try await kv.kvGet("gone") == nil)
            #expect(try await kv.kvGet("short") == nil)
            #expect(try await kv.kvGet("long") == [2])
        }
    }

    @Test func aCompactedFileRestoresTheSameState() async throws {
        let dir = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/titan.aof"
        var sizeBeforeStop = 0
        try await Self.withMaster(directory: dir, compactAtBytes: 16 << 10) { (kv: TitanClient) async throws in
            // 2,000 writes to 10 keys: the file would hold every one of them without rewrites.
            for i in 0 ..< 2_000 { try await kv.kvSet("key-\(i % 10)", Array("value \(i) ".utf8) + Array(repeating: 7, count: 50)) }
            _ = try await kv.submit(JobSpec(command: ["true"]))  // a pending job (no workers) is state too
            try await kv.kvSadd("set", "member")
            sizeBeforeStop = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        }
        #expect(sizeBeforeStop < 64 << 10, "the file holds \(sizeBeforeStop) bytes: it was never rewritten")
        try await Self.withMaster(directory: dir, compactAtBytes: 16 << 10) { (kv: TitanClient) async throws in
            for k in 0 ..< 10 {
                let last = 1_990 + k
                #expect(try await kv.kvGet("key-\(k)") == Array("value \(last) ".utf8) + Array(repeating: 7, count: 50))
            }
            #expect(try await kv.kvSmembers("set") == ["member"])
            #expect(try await kv.status("job-1").state == .pending)
            #expect(try await kv.submit(JobSpec(command: ["true"])) == "job-2")
        }
    }

    @Test func theCLIReadsAndWritesValues() async throws {
        let master = try await NodeProcess(["--role", "master", "--port", "0"])
        let env = ["TITAN_MASTER": "127.0.0.1:\(try #require(master.port))"]
        #expect(try await Tools.run("titan", ["kv", "set", "greeting", "hello"], environment: env).status == 0)
        #expect(try await Tools.run("titan", ["kv", "get", "greeting"], environment: env).stdout == "hello")
        let missing = try await Tools.run("titan", ["kv", "get", "nope"], environment: env)
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("nope: not set"))
        #expect(try await Tools.run("titan", ["kv", "sadd", "s", "a"], environment: env).stdout == "1\n")
        #expect(try await Tools.run("titan", ["kv", "sadd", "s", "a"], environment: env).stdout == "0\n")
        #expect(try await Tools.run("titan", ["kv", "smembers", "s", "--json"], environment: env).stdout == "[\n  \"a\"\n]\n")
        #expect(try await Tools.run("titan", ["kv", "incr", "c", "--by", "5"], environment: env).stdout == "5\n")
        let wrong = try await Tools.run("titan", ["kv", "incr", "greeting"], environment: env)
        #expect(wrong.status != 0)
        #expect(wrong.stderr.contains("greeting"), "\(wrong.stderr)")
        #expect(await master.terminate() == 0)
    }
}
