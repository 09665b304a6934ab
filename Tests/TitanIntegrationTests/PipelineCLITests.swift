import Foundation
import Testing

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
