import Foundation
import Testing
import TitanClient
import TitanProtocol

/// Crashes with real processes on 127.0.0.1: a master killed with SIGKILL and restarted from its
/// append-only file, a worker killed mid-job.
@Suite(.serialized) struct DurabilityTests {
    static func temporaryDirectory(_ name: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("titan-\(name)-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Connects, retrying while the master is (re)starting.
    static func connect(_ address: String) async throws -> TitanClient {
        let deadline = ContinuousClock.now + .seconds(20)
        while true {
            do {
                return try await TitanClient.connect(to: address)
            } catch {
                if ContinuousClock.now > deadline { throw error }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
    }

    static func lines(_ path: String) -> [String] {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    @Test func aDagSurvivesTheMasterBeingKilledAgainAndAgain() async throws {
        let data = try Self.temporaryDirectory("durable-master")
        let work = try Self.temporaryDirectory("durable-work")
        defer {
            try? FileManager.default.removeItem(atPath: data)
            try? FileManager.default.removeItem(atPath: work)
        }
        let ran = work + "/ran.txt"
        var master = try await NodeProcess(["--role", "master", "--port", "0", "--data-dir", data])
        let port = try #require(master.port)
        let address = "127.0.0.1:\(port)"
        var workers: [NodeProcess] = []
        for i in 1...2 {
            workers.append(try await NodeProcess(["--role", "worker", "--master", address, "--id", "w\(i)", "--slots", "4",
                                                  "--data-dir", work + "/w\(i)"]))
        }
        var client = try await Self.connect(address)
        try await waitUntil { try await client.workers().count == 2 }

        // 50 chains of 40 jobs (2,000), each appending its id to one file; a failing job with
        // descendants that must never run; a slow job cancelled early, with a child.
        let record = ["sh", "-c", "echo $TITAN_JOB_ID >> \(ran)"]
        var jobs: [DagJobSpec] = []
        // Halfway, an approval gate holds the DAG until after the first kill, so that kill always
        // lands while the DAG runs, however fast the machine.
        jobs.append(DagJobSpec(id: "hold", spec: JobSpec(command: ["true"], gate: GateSpec(message: "go on", timeoutMs: 0))))
        for layer in 0 ..< 40 {
            for chain in 0 ..< 50 {
                jobs.append(DagJobSpec(id: "j\(layer)-\(chain)", spec: JobSpec(command: record),
                                       dependsOn: layer == 0 ? [] : ["j\(layer - 1)-\(chain)"] + (layer == 20 ? ["hold"] : [])))
            }
        }
        jobs.append(DagJobSpec(id: "fail", spec: JobSpec(command: ["sh", "-c", "exit 3"])))
        for i in 1...5 {
            jobs.append(DagJobSpec(id: "never\(i)", spec: JobSpec(command: record), dependsOn: [i == 1 ? "fail" : "never\(i - 1)"]))
        }
        jobs.append(DagJobSpec(id: "slow", spec: JobSpec(command: ["sleep", "60"], priority: 10)))
        jobs.append(DagJobSpec(id: "slow-child", spec: JobSpec(command: record), dependsOn: ["slow"]))
        let (dagId, _) = try await client.submitDag(DagSpec(name: "durable", jobs: jobs))
        try await waitUntil { try await client.status("\(dagId)/slow").state == .running }
        try await client.cancel("\(dagId)/slow")
        await client.close()

        var progressAtKills: [Int] = []
        for kill in 1...3 {
            // A random moment while the DAG runs: after a random number of further jobs. (Capped:
            // 1,000 jobs run before the gate, 2,000 in all.)
            let target = min(Self.lines(ran).count + Int.random(in: 50...300), kill == 1 ? 900 : 1_900)
            try await waitUntil(seconds: 60) { Self.lines(ran).count >= target }
            master.signal(SIGKILL)
            _ = await master.waitExit()
            progressAtKills.append(Self.lines(ran).count)
            master = try await NodeProcess(["--role", "master", "--port", "\(port)", "--data-dir", data])
            if kill == 1 {
                // The gate survived the kill: approve it on the restarted master.
                let approver = try await Self.connect(address)
                try await approver.decide("\(dagId)/hold", approved: true)
                await approver.close()
            }
        }
        #expect(progressAtKills[0] > 0 && progressAtKills[0] < 2_000, "jobs done at each kill: \(progressAtKills) of 2000")

        client = try await Self.connect(address)
        var info = try await client.dag(dagId)
        let deadline = ContinuousClock.now + .seconds(90)
        while !info.state.isFinal && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
            info = try await client.dag(dagId)
        }
        #expect(info.state == .failed)
        let states = Dictionary(uniqueKeysWithValues: info.jobs.map { (String($0.id.dropFirst(dagId.count + 1)), $0.state) })
        #expect(states.filter { $0.key.hasPrefix("j") && $0.value == .completed }.count == 2_000)
        #expect(states["fail"] == .failed)
        #expect((1...5).allSatisfy { states["never\($0)"] == .skipped })
        #expect(states["slow"] == .cancelled)
        #expect(states["slow-child"] == .skipped)

        // Every job ran exactly once; nothing below the failure or the cancel ran.
        let lines = Self.lines(ran)
        var seen: [String: Int] = [:]
        for line in lines { seen[line, default: 0] += 1 }
        #expect(lines.count == 2_000, "\(lines.count) runs recorded")
        #expect(seen.values.allSatisfy { $0 == 1 }, "ran twice: \(seen.filter { $0.value > 1 }.keys.sorted().prefix(10))")
        #expect(!lines.contains { $0.contains("never") || $0.contains("slow") })
        await client.close()
        for worker in workers { #expect(await worker.terminate() == 0) }
        #expect(await master.terminate() == 0)
    }

    @Test func aJobOnAKilledWorkerRunsAgainElsewhereAndIsRecordedOnce() async throws {
        let data = try Self.temporaryDirectory("durable-master")
        let work = try Self.temporaryDirectory("durable-work")
        defer {
            try? FileManager.default.removeItem(atPath: data)
            try? FileManager.default.removeItem(atPath: work)
        }
        let master = try await NodeProcess(["--role", "master", "--port", "0", "--data-dir", data,
                                            "--suspect-after-ms", "500", "--dead-after-ms", "1000", "--heartbeat-ms", "100"])
        let address = "127.0.0.1:\(try #require(master.port))"
        var workers: [String: NodeProcess] = [:]
        for id in ["a", "b"] {
            workers[id] = try await NodeProcess(["--role", "worker", "--master", address, "--id", id, "--slots", "1",
                                                 "--data-dir", work + "/" + id])
        }
        let client = try await Self.connect(address)
        try await waitUntil { try await client.workers().count == 2 }
        let trace = work + "/trace.txt"
        // The first attempt hangs; a second one finishes at once.
        let id = try await client.submit(JobSpec(command: ["sh", "-c",
            "echo \"$TITAN_WORKER_ID $TITAN_ATTEMPT\" >> \(trace); [ \"$TITAN_ATTEMPT\" = 1 ] && sleep 60; true"]))
        try await waitUntil { try await client.status(id).state == .running && Self.lines(trace).count == 1 }
        let first = try await client.status(id).workerId
        let victim = try #require(workers[first])
        // Its PID registry reaches the disk off the loop: wait until it lists the job's process.
        let registry = work + "/" + first + "/running.pids"
        try await waitUntil { !Self.lines(registry).isEmpty }
        let orphans = Self.lines(registry).compactMap { Int32($0.prefix { $0.isNumber }) }
        #expect(!orphans.isEmpty && orphans.allSatisfy(processIsAlive))
        victim.signal(SIGKILL)
        _ = await victim.waitExit()
        let done = try await client.wait(id)
        let other = first == "a" ? "b" : "a"
        #expect(done.state == .completed)
        #expect(done.attempts == 2)
        #expect(done.workerId == other)
        #expect(Self.lines(trace) == ["\(first) 1", "\(other) 2"])
        // The killed worker comes back (same id and directory): it kills the job it left behind.
        let revived = try await NodeProcess(["--role", "worker", "--master", address, "--id", first, "--slots", "1",
                                             "--data-dir", work + "/" + first])
        try await waitUntil { try await client.workers().first { $0.id == first }?.health == "ALIVE" }
        try await waitUntil { !orphans.contains(where: processIsAlive) }
        #expect(try await client.status(id).attempts == 2)
        await client.close()
        #expect(await revived.terminate() == 0)
        #expect(await workers[other]!.terminate() == 0)
        #expect(await master.terminate() == 0)
    }
}
