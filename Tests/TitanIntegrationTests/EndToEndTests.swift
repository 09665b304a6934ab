import Foundation
import Testing
import TitanClient
import TitanLoop
import TitanProtocol
import TitanRuntime

/// A master and workers in-process on real loopback sockets, real child processes.
@Suite struct EndToEndTests {
    @Test func runsACommandAndStreamsItsOutput() async throws {
        let cluster = try await EmbeddedCluster.start(workers: 2)
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        let (id, updates) = try await client.submitAndFollow(JobSpec(command: ["/bin/sh", "-c", "echo hello; echo oops >&2"]))
        var stdout: [UInt8] = [], stderr: [UInt8] = []
        var states: [JobState] = []
        var final: JobEvent?
        for await update in updates {
            switch update {
            case .output(.stdout, let b): stdout += b
            case .output(.stderr, let b): stderr += b
            case .event(let e):
                states.append(e.state)
                if e.state.isFinal { final = e }
            }
        }
        #expect(String(decoding: stdout, as: UTF8.self) == "hello\n")
        #expect(String(decoding: stderr, as: UTF8.self) == "oops\n")
        #expect(states == [.running, .completed])
        #expect(final?.result?.exitCode == 0)
        let info = try await client.status(id)
        #expect(info.state == .completed)
        #expect(info.attempts == 1)
        #expect(info.workerId.hasPrefix("worker-"))
        let logs = try await client.logs(id)
        #expect(logs.count == 2)
        await client.close()
        #expect(await cluster.stop() == 0)
    }

    @Test func exitCodeAndSignalAreReported() async throws {
        let cluster = try await EmbeddedCluster.start(workers: 1)
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        let failing = try await client.submit(JobSpec(command: ["sh", "-c", "exit 3"]))
        let killed = try await client.submit(JobSpec(command: ["sh", "-c", "kill -9 $$"]))
        let a = try await client.wait(failing)
        let b = try await client.wait(killed)
        #expect(a.state == .failed)
        #expect(a.result?.exitCode == 3)
        #expect(b.state == .failed)
        #expect(b.result?.signal == 9)
        #expect(b.result?.exitCode == nil)
        await client.close()
        #expect(await cluster.stop() == 0)
    }

    @Test func aProgramThatCannotStartFailsWithTheReason() async throws {
        let cluster = try await EmbeddedCluster.start(workers: 1)
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        let missing = try await client.wait(try await client.submit(JobSpec(command: ["/no/such/program"])))
        #expect(missing.state == .failed)
        #expect(missing.result?.error?.contains("No such file or directory") == true)
        let dir = try await client.wait(try await client.submit(JobSpec(command: ["/tmp"])))
        #expect(dir.state == .failed)
        #expect(dir.result?.error?.contains("cannot start '/tmp'") == true)
        await client.close()
        #expect(await cluster.stop() == 0)
    }

    @Test func routingIsStrictAndPendingJobsSayWhy() async throws {
        var general = WorkerConfig()
        general.workerId = "cpu-1"
        general.slots = 1
        let cluster = try await EmbeddedCluster.start(workers: [general])
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        let gpuJob = try await client.submit(JobSpec(command: ["true"], requirements: ["GPU"]))
        // A job nobody can run never blocks one somebody can.
        let cpuJob = try await client.wait(try await client.submit(JobSpec(command: ["true"])))
        #expect(cpuJob.state == .completed)
        let pending = try await client.status(gpuJob)
        #expect(pending.state == .pending)
        #expect(pending.pendingReason == "no worker with GPU")
        try await client.cancel(gpuJob)
        #expect(try await client.status(gpuJob).state == .cancelled)
        await #expect(throws: TitanClientError.self) { try await client.cancel(gpuJob) }
        await client.close()
        #expect(await cluster.stop() == 0)
    }

    @Test func cancelKillsTheWholeProcessGroup() async throws {
        let cluster = try await EmbeddedCluster.start(workers: 1)
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        // A grandchild that would outlive its parent if only the leader were killed.
        let (id, updates) = try await client.submitAndFollow(JobSpec(command: [
            "sh", "-c", "sleep 30 & echo grandchild=$!; wait",
        ]))
        var grandchild: Int32?
        var it = updates.makeAsyncIterator()
        while grandchild == nil, let u = await it.next() {
            if case .output(_, let b) = u, let line = String(decoding: b, as: UTF8.self).split(separator: "\n").first,
               line.hasPrefix("grandchild=") {
                grandchild = Int32(line.dropFirst("grandchild=".count))
            }
        }
        let pid = try #require(grandchild)
        #expect(processIsAlive(pid))
        try await client.cancel(id)
        #expect(try await client.status(id).state == .cancelled)
        try await waitUntil { !processIsAlive(pid) }
        // The worker reports the killed attempt and its slot frees.
        try await waitUntil { try await client.workers().first?.running == 0 }
        await client.close()
        #expect(await cluster.stop() == 0)
    }

    @Test func priorityOrdersTheQueue() async throws {
        var one = WorkerConfig()
        one.workerId = "solo"
        one.slots = 1
        let cluster = try await EmbeddedCluster.start(workers: [one])
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        let gate = FileManager.default.temporaryDirectory.appendingPathComponent("titan-gate-\(UUID().uuidString)")
        // Occupy the only slot until the gate file exists.
        let blocker = try await client.submit(JobSpec(command: ["sh", "-c", "while [ ! -e \(gate.path) ]; do sleep 0.01; done"]))
        try await waitUntil { try await client.status(blocker).state == .running }
        let low = try await client.submit(JobSpec(command: ["true"], priority: 1))
        let high = try await client.submit(JobSpec(command: ["true"], priority: 5))
        #expect(FileManager.default.createFile(atPath: gate.path, contents: nil))
        let lowInfo = try await client.wait(low)
        let highInfo = try await client.wait(high)
        #expect(highInfo.result!.startedAtMs <= lowInfo.result!.startedAtMs)
        try? FileManager.default.removeItem(at: gate)
        await client.close()
        #expect(await cluster.stop() == 0)
    }

    @Test func workersAreListed() async throws {
        var gpu = WorkerConfig()
        gpu.workerId = "gpu-1"
        gpu.capabilities = ["GPU", "HIGH_MEM"]
        gpu.slots = 2
        var cpu = WorkerConfig()
        cpu.workerId = "cpu-1"
        let cluster = try await EmbeddedCluster.start(workers: [gpu, cpu])
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        let workers = try await client.workers()
        #expect(workers.map(\.id) == ["cpu-1", "gpu-1"])
        #expect(workers[1].capabilities == ["GPU", "HIGH_MEM"])
        #expect(workers[1].slots == 2)
        await client.close()
        #expect(await cluster.stop() == 0)
    }
}

/// Polls `condition` until true, failing after `seconds` (generous: the whole suite shares two
/// cores, and a passing test never waits it out).
func waitUntil(seconds: Double = 30, _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(seconds)
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(5))
    }
    Issue.record("condition not met within \(seconds) s")
    throw CancellationError()
}

/// True while `pid` exists and is not a zombie.
func processIsAlive(_ pid: Int32) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return false }
    let state = stat[stat.index(close, offsetBy: 2)]
    return state != "Z" && state != "X"
}

@Suite struct JobOutputTests {
    /// Memory keeps each job's recent tail; the master's disk keeps all of it.
    @Test func outputBeyondTheMemoryTailIsServedFromDisk() async throws {
        let cluster = try await EmbeddedCluster.start(workers: 1)
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        let id = try await client.submit(JobSpec(command: ["seq", "1", "200000"]))
        #expect(try await client.wait(id).state == .completed)
        let text = String(decoding: try await client.logs(id).flatMap(\.bytes), as: UTF8.self)
        let expected = (1...200_000).map(String.init).joined(separator: "\n") + "\n"
        #expect(text.utf8.count > 256 << 10)
        #expect(text == expected)
        await client.close()
        #expect(await cluster.stop() == 0)
    }
}

extension JobOutputTests {
    /// Following a job whose earlier output no longer fits the memory tail replays it from disk,
    /// then goes on live: every line once, in order.
    @Test func followingReplaysEarlierOutputFromDiskThenGoesLive() async throws {
        let cluster = try await EmbeddedCluster.start(workers: 1)
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("titan-follow-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let id = try await client.submit(JobSpec(command: ["sh", "-c",
            "seq 1 100000; touch \(dir)/printed; while [ ! -e \(dir)/go ]; do sleep 0.01; done; echo end"]))
        try await waitUntil { FileManager.default.fileExists(atPath: "\(dir)/printed") }
        // Let the master take in what was printed before following.
        try await waitUntil { try await client.logs(id).reduce(0) { $0 + $1.bytes.count } >= 588_895 }
        let updates = try await client.follow(id, logs: true)
        #expect(FileManager.default.createFile(atPath: "\(dir)/go", contents: nil))
        var text = ""
        var final: JobState?
        for await update in updates {
            switch update {
            case .output(_, let bytes): text += String(decoding: bytes, as: UTF8.self)
            case .event(let e): if e.state.isFinal { final = e.state }
            }
        }
        #expect(final == .completed)
        let expected = (1...100_000).map(String.init).joined(separator: "\n") + "\nend\n"
        #expect(text.count == expected.count)
        #expect(text == expected)
        await client.close()
        #expect(await cluster.stop() == 0)
    }
}

@Suite struct JobIsolationTests {
    @Test func aJobInheritsOnlyStdinStdoutAndStderr() async throws {
        let cluster = try await EmbeddedCluster.start(workers: 1)
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        let id = try await client.submit(JobSpec(command: ["sh", "-c", "for f in /proc/$$/fd/*; do echo ${f##*/}; done"]))
        #expect(try await client.wait(id).state == .completed)
        let text = String(decoding: try await client.logs(id).flatMap(\.bytes), as: UTF8.self)
        // 0, 1, 2, and the directory the shell's glob itself opens (3); never the worker's
        // sockets or other jobs' pipes.
        let fds = text.split(separator: "\n").compactMap { Int($0) }
        #expect(Set(fds).isSuperset(of: [0, 1, 2]))
        #expect(fds.allSatisfy { $0 <= 3 }, "inherited: \(fds)")
        await client.close()
        #expect(await cluster.stop() == 0)
    }

    /// The node ignores SIGPIPE; its jobs must not: `yes | head -1` ends only because `yes` dies
    /// of SIGPIPE (ignored, it would spin on EPIPE and print errors).
    @Test func aJobGetsTheDefaultSIGPIPE() async throws {
        let cluster = try await EmbeddedCluster.start(workers: 1)
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        let id = try await client.submit(JobSpec(command: ["sh", "-c", "yes | head -n 1"]))
        #expect(try await client.wait(id).result?.exitCode == 0)
        let chunks = try await client.logs(id)
        #expect(String(decoding: chunks.filter { $0.stream == .stdout }.flatMap(\.bytes), as: UTF8.self) == "y\n")
        #expect(chunks.allSatisfy { $0.stream == .stdout })
        await client.close()
        #expect(await cluster.stop() == 0)
    }

    @Test func aJobGetsItsIdentityInTheEnvironment() async throws {
        let cluster = try await EmbeddedCluster.start(workers: 1)
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        let id = try await client.submit(JobSpec(command: ["sh", "-c", "echo $TITAN_JOB_ID $TITAN_ATTEMPT $TITAN_WORKER_ID $TITAN_MASTER $EXTRA"],
                                                 environment: ["EXTRA": "x y"]))
        #expect(try await client.wait(id).state == .completed)
        let text = String(decoding: try await client.logs(id).flatMap(\.bytes), as: UTF8.self)
        #expect(text == "\(id) 1 worker-1 \(cluster.masterAddress) x y\n")
        await client.close()
        #expect(await cluster.stop() == 0)
    }
}
