import Foundation
import Testing
import TitanTestSupport

/// `titan submit` with the pipelines in Samples/ and with broken ones, as a user runs it.
@Suite(.serialized) struct PipelineCLITests {
    static var samples: String { FileManager.default.currentDirectoryPath + "/Samples" }

    @Test func theSamplePipelinesRunToCompletion() async throws {
        let master = try await NodeProcess(["--role", "master", "--port", "0"])
        let port = try #require(master.port)
        let env = ["TITAN_MASTER": "127.0.0.1:\(port)"]
        let cpu = try await NodeProcess(["--role", "worker", "--master", "127.0.0.1:\(port)", "--id", "cpu-1"])
        let gpu = try await NodeProcess(["--role", "worker", "--master", "127.0.0.1:\(port)", "--id", "gpu-1", "--cap", "GPU"])
        try await waitUntil {
            let out = try? await Tools.run("titan", ["workers", "--json"], environment: env)
            return out?.stdout.contains("\"cpu-1\"") == true && out?.stdout.contains("\"gpu-1\"") == true
        }
        let expected: [(file: String, job: String, output: String)] = [
            ("diamond", "report", "words: 9 lines: 3\n"),
            ("fan-out-fan-in", "reduce", "total 80200\n"),
            ("gpu-step", "evaluate", "model trained by gpu-1\n"),
            ("retry", "publish", "published after 2 attempts\n"),
            ("wordcount-project/pipeline", "top", "top: the=4, fox=3, dog=2\n"),
            ("service-step", "read", "hello from fill\n"),
        ]
        for (i, sample) in expected.enumerated() {
            let run = try await Tools.run("titan", ["submit", "\(Self.samples)/\(sample.file).yaml", "--wait"], environment: env)
            #expect(run.status == 0, "\(sample.file): \(run.stderr)")
            #expect(run.stdout.contains("state      COMPLETED"), "\(run.stdout)")
            let logs = try await Tools.run("titan", ["logs", "dag-\(i + 1)/\(sample.job)"], environment: env)
            #expect(logs.stdout == sample.output, "\(sample.file)")
        }
        let gpuJob = try await Tools.run("titan", ["status", "dag-3/train"], environment: env)
        #expect(gpuJob.stdout.contains("worker     gpu-1"))
        // The service step's service ended with its DAG.
        try await waitUntil {
            try await Tools.run("titan", ["services"], environment: env).stdout.split(separator: "\n")
                .contains { $0.hasPrefix("dag-6.cache ") && $0.contains(" STOPPED ") }
        }
        let dags = try await Tools.run("titan", ["dags"], environment: env)
        #expect(dags.stdout.contains("fan-out-fan-in"))
        #expect(await cpu.terminate() == 0)
        #expect(await gpu.terminate() == 0)
        #expect(await master.terminate() == 0)
    }

    /// Our equivalents of the original Titan's example pipelines (OriginalTitanExamples: same
    /// keys and shapes), submitted unchanged with `titan submit`: each runs, and means what it
    /// meant there (arguments, fan-in, GPU routing, delay, affinity, services on their port, an
    /// approval gate).
    @Test func theOriginalTitansExamplePipelinesRunUnchanged() async throws {
        let master = try await NodeProcess(["--role", "master", "--port", "0"])
        defer { master.signal(SIGTERM) }  // also if the test stops early (a worker ends its jobs)
        let port = try #require(master.port)
        let env = ["TITAN_MASTER": "127.0.0.1:\(port)"]
        let cpu = try await NodeProcess(["--role", "worker", "--master", "127.0.0.1:\(port)", "--id", "cpu-1", "--slots", "4"])
        defer { cpu.signal(SIGTERM) }  // also if the test stops early (a worker ends its jobs)
        let gpu = try await NodeProcess(["--role", "worker", "--master", "127.0.0.1:\(port)", "--id", "gpu-1", "--cap", "GPU"])
        defer { gpu.signal(SIGTERM) }  // also if the test stops early (a worker ends its jobs)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("titan-original-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let servicePort = try Self.freePort()
        try OriginalTitanExamples.write(in: dir, servicePort: servicePort)
        try await waitUntil {
            let out = try? await Tools.run("titan", ["workers", "--json"], environment: env)
            return out?.stdout.contains("\"cpu-1\"") == true && out?.stdout.contains("\"gpu-1\"") == true
        }
        func submit(_ file: String, wait: Bool = true) async throws -> Tools.Output {
            let run = try await Tools.run("titan", ["submit", "\(dir)/\(file)"] + (wait ? ["--wait"] : []), environment: env,
                                          timeout: 60)
            #expect(run.status == 0, "\(file): \(run.stderr)")
            #expect(!run.stderr.contains("note:"), "\(file): \(run.stderr)")
            if wait { #expect(run.stdout.contains("state      COMPLETED"), "\(file): \(run.stdout)") }
            return run
        }
        func logs(_ job: String) async throws -> String {
            try await Tools.run("titan", ["logs", job], environment: env).stdout
        }
        func job(_ id: String) async throws -> [String: Any] {
            let out = try await Tools.run("titan", ["status", id, "--json"], environment: env).stdout
            return try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any], "\(out)")
        }
        func serviceLine(_ name: String) async throws -> String {
            try await Tools.run("titan", ["services"], environment: env).stdout.split(separator: "\n")
                .first { $0.hasPrefix(name + " ") }.map(String.init) ?? ""
        }

        _ = try await submit("diamond.yaml")
        #expect(try await logs("dag-1/root") == "init\n")
        #expect(try await logs("dag-1/left").hasPrefix("processed - on "))
        #expect(try await logs("dag-1/sink") == "init\n")

        _ = try await submit("fan.yaml")
        #expect(try await logs("dag-2/start") == "init GO\n")
        #expect(try await logs("dag-2/part-2").hasPrefix("processed CHUNK_2 on "))
        #expect(try await logs("dag-2/reduce") == "reduced ALL\n")

        _ = try await submit("routing.yaml")
        #expect(try await logs("dag-3/Train_Step") == "trained on gpu-1\n")
        #expect(try await job("dag-3/Prep_Step")["workerId"] as? String == "cpu-1")
        #expect(try await job("dag-3/Train_Step")["spec"].flatMap { ($0 as? [String: Any])?["priority"] } as? Int == 10)

        // A service on its fixed port, named after its job; it outlives its DAG, as there.
        _ = try await submit("service.yaml")
        #expect(try await Tools.run("titan", ["dags"], environment: env).stdout.contains("service"))
        try await waitUntil { try await serviceLine("Web_Backend").contains(" HEALTHY ") }
        #expect(try await serviceLine("Web_Backend").contains(":\(servicePort)"))
        try await waitUntil { (try? RawSocket(port: servicePort)) != nil }
        #expect(try await Tools.run("titan", ["stop", "Web_Backend"], environment: env).status == 0)
        try await waitUntil(seconds: 20) { try await serviceLine("Web_Backend").contains(" STOPPED ") }

        _ = try await submit("comprehensive.yaml")
        let first = try await job("dag-5/first"), second = try await job("dag-5/second"), third = try await job("dag-5/third")
        #expect(try await logs("dag-5/first") == "init --mode reset\n")
        #expect(try await logs("dag-5/second").hasPrefix("processed FETCH on "))
        #expect(first["spec"].flatMap { ($0 as? [String: Any])?["priority"] } as? Int == 10)
        // `delay: 2` is seconds: the job started at least 2 s after the DAG was submitted.
        let submitted = try #require(second["submittedAtMs"] as? Int)
        let started = try #require((second["result"] as? [String: Any])?["startedAtMs"] as? Int)
        #expect(started - submitted >= 2_000, "\(second)")
        // `affinity: true`: on the worker its parent ran on.
        #expect(third["workerId"] as? String == second["workerId"] as? String)
        try await waitUntil { try await serviceLine("fourth").contains(" HEALTHY ") }
        try await waitUntil { (try? RawSocket(port: servicePort)) != nil }
        #expect(try await Tools.run("titan", ["stop", "fourth"], environment: env).status == 0)

        // The gate after `prepare` waits; approved by the original's name for it.
        let gated = try await submit("gated.yaml", wait: false).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        try await waitUntil(seconds: 20) {
            try await Tools.run("titan", ["approvals"], environment: env).stdout.contains("\(gated)/hitl-gate-prepare  Data looks good?")
        }
        #expect(try await job("\(gated)/train")["state"] as? String == "PENDING")
        let approve = try await Tools.run("titan", ["approve", "DAG-hitl-gate-prepare"], environment: env)
        #expect(approve.stdout == "\(gated)/hitl-gate-prepare approved\n", "\(approve.stderr)")
        try await waitUntil(seconds: 20) { try await job(gated)["state"] as? String == "COMPLETED" }
        #expect(try await logs("\(gated)/train").hasPrefix("trained on "))
        #expect(await cpu.terminate() == 0)
        #expect(await gpu.terminate() == 0)
        #expect(await master.terminate() == 0)
    }

    /// A port nothing listens on now (the kernel's pick for a socket bound to port 0).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw POSIXError(.EADDRNOTAVAIL) }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    @Test func aGateWaitsForTitanApprove() async throws {
        let master = try await NodeProcess(["--role", "master", "--port", "0"])
        let env = ["TITAN_MASTER": "127.0.0.1:\(try #require(master.port))"]
        let worker = try await NodeProcess(["--role", "worker", "--master", env["TITAN_MASTER"]!, "--id", "w"])
        let run = try await Tools.run("titan", ["submit", "\(Self.samples)/approval.yaml"], environment: env)
        #expect(run.status == 0, "\(run.stderr)")
        let dagId = run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        try await waitUntil {
            try await Tools.run("titan", ["approvals"], environment: env).stdout.contains("\(dagId)/hitl-gate-train")
        }
        let listed = try await Tools.run("titan", ["approvals"], environment: env).stdout
        #expect(listed.contains("Publish the model"), "\(listed)")
        #expect(try await Tools.run("titan", ["approve", "nope"], environment: env).status != 0)
        let approve = try await Tools.run("titan", ["approve", "\(dagId)/hitl-gate-train"], environment: env)
        #expect(approve.stdout == "\(dagId)/hitl-gate-train approved\n", "\(approve.stderr)")
        try await waitUntil {
            try await Tools.run("titan", ["status", dagId], environment: env).stdout.contains("COMPLETED")
        }
        #expect(try await Tools.run("titan", ["logs", "\(dagId)/publish"], environment: env).stdout == "published\n")
        #expect(await worker.terminate() == 0)
        #expect(await master.terminate() == 0)
    }

    @Test func aFailingPipelineExitsNonZeroAndShowsWhatWasSkipped() async throws {
        let master = try await NodeProcess(["--role", "master", "--port", "0"])
        let port = try #require(master.port)
        let env = ["TITAN_MASTER": "127.0.0.1:\(port)"]
        let worker = try await NodeProcess(["--role", "worker", "--master", "127.0.0.1:\(port)", "--id", "w"])
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("titan-yaml-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let yaml = dir.appendingPathComponent("fails.yaml")
        try """
        name: fails
        jobs:
          - id: broken
            command: "exit 3"
          - id: after
            command: "echo never"
            depends_on: broken
        """.write(to: yaml, atomically: true, encoding: .utf8)
        let run = try await Tools.run("titan", ["submit", yaml.path, "--wait"], environment: env)
        #expect(run.status == 1)
        #expect(run.stdout.contains("state      FAILED"))
        #expect(run.stdout.contains("SKIPPED"))
        #expect(run.stdout.contains("upstream failed"))
        #expect(await worker.terminate() == 0)
        #expect(await master.terminate() == 0)
    }

    @Test func brokenPipelinesNameFileLineAndKeyAndSendNothing() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("titan-yaml-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let yaml = dir.appendingPathComponent("broken.yaml")
        try """
        name: broken
        jobs:
          - id: a
            command: "true"
            dependson: b
        """.write(to: yaml, atomically: true, encoding: .utf8)
        // No master is listening: the error must come from the file, before any connection.
        let run = try await Tools.run("titan", ["submit", yaml.path, "--master", "127.0.0.1:1"])
        #expect(run.status == 1)
        #expect(run.stderr.contains("broken.yaml:5:"), "\(run.stderr)")
        #expect(run.stderr.contains("dependson"))
        #expect(run.stderr.contains("depends_on"))

        let missing = try await Tools.run("titan", ["submit", dir.appendingPathComponent("nope.yaml").path])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("nope.yaml"))

        let cron = dir.appendingPathComponent("cron.yaml")
        try "name: c\nschedule: \"61 * * * *\"\njobs:\n  - id: a\n    command: \"true\"\n".write(to: cron, atomically: true, encoding: .utf8)
        let badCron = try await Tools.run("titan", ["submit", cron.path, "--master", "127.0.0.1:1"])
        #expect(badCron.status == 1)
        #expect(badCron.stderr.contains("cron.yaml:2:"), "\(badCron.stderr)")
        #expect(badCron.stderr.contains("minute"), "\(badCron.stderr)")

        let zone = dir.appendingPathComponent("zone.yaml")
        try "name: z\nschedule: \"@daily\"\ntimezone: Mars/Olympus\njobs:\n  - id: a\n    command: \"true\"\n".write(to: zone, atomically: true, encoding: .utf8)
        let badZone = try await Tools.run("titan", ["submit", zone.path, "--master", "127.0.0.1:1"])
        #expect(badZone.status == 1)
        #expect(badZone.stderr.contains("zone.yaml:3:"), "\(badZone.stderr)")
    }

    @Test func aScriptOutsideThePipelineFolderNeedsAllowOutsideFiles() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("titan-yaml-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("p"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try "echo secret\n".write(to: dir.appendingPathComponent("secret.sh"), atomically: true, encoding: .utf8)
        let yaml = dir.appendingPathComponent("p/outside.yaml")
        try "name: outside\njobs:\n  - id: a\n    file: ../secret.sh\n".write(to: yaml, atomically: true, encoding: .utf8)
        // No master is listening: the refusal must come from the file, before any connection.
        let refused = try await Tools.run("titan", ["submit", yaml.path, "--master", "127.0.0.1:1"])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("outside.yaml:4:11: jobs[0].file: "), "\(refused.stderr)")
        #expect(refused.stderr.contains("outside the pipeline's folder"), "\(refused.stderr)")
        #expect(refused.stderr.contains("--allow-outside-files"), "\(refused.stderr)")
        // With the flag the file is accepted: what fails now is reaching the master.
        let allowed = try await Tools.run("titan", ["submit", yaml.path, "--allow-outside-files", "--master", "127.0.0.1:1"])
        #expect(allowed.status != 0)
        #expect(!allowed.stderr.contains("outside.yaml"), "\(allowed.stderr)")
        #expect(allowed.stderr.contains("127.0.0.1:1"), "\(allowed.stderr)")
    }

    @Test func aScheduledPipelineIsRegisteredListedAndRemoved() async throws {
        let master = try await NodeProcess(["--role", "master", "--port", "0"])
        let port = try #require(master.port)
        let env = ["TITAN_MASTER": "127.0.0.1:\(port)"]
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("titan-yaml-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let yaml = dir.appendingPathComponent("nightly.yaml")
        try """
        name: nightly
        schedule: "30 2 * * *"
        timezone: Europe/Paris
        overlap: cancel-previous
        on_missed: run-once
        jobs:
          - id: a
            command: "true"
        """.write(to: yaml, atomically: true, encoding: .utf8)
        let submitted = try await Tools.run("titan", ["submit", yaml.path], environment: env)
        #expect(submitted.status == 0, "\(submitted.stderr)")
        #expect(submitted.stdout.hasPrefix("scheduled nightly (30 2 * * * Europe/Paris); next run "), "\(submitted.stdout)")
        let listed = try await Tools.run("titan", ["schedules", "--json"], environment: env)
        #expect(listed.stdout.contains("\"name\" : \"nightly\""))
        #expect(listed.stdout.contains("\"overlap\" : \"cancel-previous\""))
        #expect(listed.stdout.contains("\"missed\" : \"run-once\""))
        let table = try await Tools.run("titan", ["schedules"], environment: env)
        #expect(table.stdout.contains("Europe/Paris"))
        let sample = try await Tools.run("titan", ["submit", "\(Self.samples)/cron.yaml"], environment: env)
        #expect(sample.status == 0, "\(sample.stderr)")
        #expect(sample.stdout.hasPrefix("scheduled hourly-report (5 * * * * UTC)"), "\(sample.stdout)")
        let removed = try await Tools.run("titan", ["unschedule", "nightly"], environment: env)
        #expect(removed.status == 0)
        let again = try await Tools.run("titan", ["unschedule", "nightly"], environment: env)
        #expect(again.status == 1)
        #expect(again.stderr.contains("no schedule 'nightly'"))
        #expect(await master.terminate() == 0)
    }
}
