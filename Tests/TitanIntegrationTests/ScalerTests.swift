import Foundation
import Testing

/// Elastic capacity with real processes: a master that starts ephemeral workers for a pool whose
/// jobs queue, and retires them when idle; and a provisioning hook.
@Suite(.serialized) struct ScalerTests {
    @Test func aBurstStartsEphemeralWorkersThatTakeTheWorkAndRetireWhenIdle() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("titan-burst-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let master = try await NodeProcess(["--role", "master", "--port", "0", "--data-dir", dir + "/master",
                                            "--scale", "GENERAL:0:2:2",
                                            "--scale-idle-ms", "300", "--scale-cooldown-ms", "100", "--dead-after-ms", "1000",
                                            "--suspect-after-ms", "500", "--heartbeat-ms", "100"])
        let env = ["TITAN_MASTER": "127.0.0.1:\(try #require(master.port))"]
        // A burst: six jobs queued at once, no worker yet.
        try "name: burst\njobs:\n".appending((1...6).map { "  - {id: j\($0), command: [sleep, \"0.5\"]}\n" }.joined())
            .write(toFile: dir + "/burst.yaml", atomically: true, encoding: .utf8)
        let run = try await Tools.run("titan", ["submit", dir + "/burst.yaml", "--wait", "--json"], environment: env, timeout: 60)
        #expect(run.status == 0, "\(run.stderr)")
        let dag = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        let workers = Set(((dag["jobs"] as? [[String: Any]]) ?? []).compactMap { $0["workerId"] as? String })
        // The pool grew to its maximum of two ephemeral workers, which ran everything.
        #expect(workers == ["scale-general-1", "scale-general-2"], "\(workers)")
        // Idle, they are retired: drained, stopped, gone.
        try await waitUntil(seconds: 30) {
            !(try await Tools.run("titan", ["workers", "--json"], environment: env).stdout.contains("scale-general"))
        }
        // Their directories go with them.
        try await waitUntil(seconds: 30) {
            !FileManager.default.fileExists(atPath: dir + "/master/scaled/scale-general-1")
                && !FileManager.default.fileExists(atPath: dir + "/master/scaled/scale-general-2")
        }
        #expect(await master.terminate() == 0)
    }

    @Test func aHookIsToldToGrowAPool() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("titan-hook-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let master = try await NodeProcess(["--role", "master", "--port", "0", "--scale", "GPU:0:3", "--scale-spawn", "none",
                                            "--scale-hook", "echo >> \(dir)/calls", "--scale-cooldown-ms", "60000"])
        let env = ["TITAN_MASTER": "127.0.0.1:\(try #require(master.port))"]
        let run = try await Tools.run("titan", ["run", "--detach", "--cap", "GPU", "--", "true"], environment: env)
        #expect(run.status == 0)
        try await waitUntil(seconds: 20) {
            ((try? String(contentsOfFile: dir + "/calls", encoding: .utf8)) ?? "") == "up GPU 1\n"
        }
        #expect(await master.terminate() == 0)
    }
}
