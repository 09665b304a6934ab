import Foundation
import Testing

/// What a new user meets first with the `titan` CLI (issue 13): help, why a job waits, SIGTERM,
/// a DAG's logs, archive entries, a bad working directory, stopped services across a restart,
/// retired workers.
@Suite(.serialized) struct CLIUserTests {
    private func scratch(_ name: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("titan-\(name)-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test func runHelpPrintsHelpAndTheCommandKeepsItsOwnFlags() async throws {
        // No master at all: help must not try to submit anything.
        for flag in ["--help", "-h"] {
            let help = try await Tools.run("titan", ["run", flag], environment: ["TITAN_MASTER": "127.0.0.1:1"])
            #expect(help.status == 0, "\(help.stderr)")
            #expect(help.stdout.contains("USAGE: titan run"), "\(help.stdout)")
            #expect(help.stdout.contains("--request-timeout"))
        }
        let master = try await NodeProcess(["--role", "master", "--port", "0"])
        defer { master.signal(SIGKILL) }  // a no-op once it exited
        let env = ["TITAN_MASTER": "127.0.0.1:\(try #require(master.port))"]
        let worker = try await NodeProcess(["--role", "worker", "--master", env["TITAN_MASTER"]!, "--id", "w1"])
        defer { worker.signal(SIGKILL) }  // a no-op once it exited
        // After `--`, --help belongs to the command.
        let passed = try await Tools.run("titan", ["run", "--", "sh", "-c", "echo \"$@\"", "x", "--help", "-h"], environment: env)
        #expect(passed.status == 0, "\(passed.stderr)")
        #expect(passed.stdout == "--help -h\n")
        #expect(try await Tools.run("titan", ["jobs"], environment: env).stdout.components(separatedBy: "job-").count == 2)

        // A working directory that does not exist is named as such.
        let cwd = try await Tools.run("titan", ["run", "--cwd", "/nonexistent/dir", "--", "pwd"], environment: env)
        #expect(cwd.status == 127)
        #expect(cwd.stderr.contains("the working directory '/nonexistent/dir' does not exist"), "\(cwd.stderr)")
        #expect(await worker.terminate() == 0)
        #expect(await master.terminate() == 0)
    }

    @Test func runSaysWhyItWaitsAndSIGTERMCancels() async throws {
        let master = try await NodeProcess(["--role", "master", "--port", "0"])
        defer { master.signal(SIGKILL) }  // a no-op once it exited
        let env = ["TITAN_MASTER": "127.0.0.1:\(try #require(master.port))"]
        let run = try await Spawned.start([Tools.path("titan"), "run", "--cap", "GPU", "--", "echo", "placed"], environment: env)
        defer { run.signal(SIGKILL) }  // a no-op once it exited
        try await waitUntil(seconds: 20) { run.stderr.contains("titan: job job-1 pending: no workers registered") }
        // The reason changes: it is said again.
        let general = try await NodeProcess(["--role", "worker", "--master", env["TITAN_MASTER"]!, "--id", "w1"])
        defer { general.signal(SIGKILL) }  // a no-op once it exited
        try await waitUntil(seconds: 20) { run.stderr.contains("titan: job job-1 pending: no worker with GPU") }
        let gpu = try await NodeProcess(["--role", "worker", "--master", env["TITAN_MASTER"]!, "--id", "g1", "--cap", "GPU"])
        defer { gpu.signal(SIGKILL) }  // a no-op once it exited
        #expect(await run.waitExit(timeout: 20) == 0)
        #expect(run.stdout == "placed\n")
        #expect(run.stderr.contains("titan: job job-1 started on g1"), "\(run.stderr)")

        // SIGTERM (a CI runner stopping a step) cancels the job, as Ctrl-C does.
        let sleeper = try await Spawned.start([Tools.path("titan"), "run", "--", "sleep", "60"], environment: env)
        defer { sleeper.signal(SIGKILL) }  // a no-op once it exited
        try await waitUntil(seconds: 20) {
            (try? await Tools.run("titan", ["status", "job-2"], environment: env))?.stdout.contains("RUNNING") == true
        }
        sleeper.signal(SIGTERM)
        #expect(await sleeper.waitExit(timeout: 20) == 130)
        #expect(sleeper.stderr.contains("job job-2 cancelled"), "\(sleeper.stderr)")
        #expect(try await Tools.run("titan", ["status", "job-2"], environment: env).stdout.contains("CANCELLED"))
        // --detach: nothing to cancel; the job runs on after the command returns.
        let detached = try await Tools.run("titan", ["run", "--detach", "--", "true"], environment: env)
        #expect(detached.status == 0 && detached.stdout == "job-3\n")
        #expect(await gpu.terminate() == 0)
        #expect(await general.terminate() == 0)
        #expect(await master.terminate() == 0)
    }

    @Test func aDagsLogsArePrefixedAndFollowingEndsWithTheDag() async throws {
        let dir = try scratch("dag-logs")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let master = try await NodeProcess(["--role", "master", "--port", "0"])
        defer { master.signal(SIGKILL) }  // a no-op once it exited
        let env = ["TITAN_MASTER": "127.0.0.1:\(try #require(master.port))"]
        let worker = try await NodeProcess(["--role", "worker", "--master", env["TITAN_MASTER"]!, "--id", "w1"])
        defer { worker.signal(SIGKILL) }  // a no-op once it exited
        try """
            name: two
            jobs:
              - id: first
                command: ["sh", "-c", "echo one; echo oops >&2; printf 'no newline'"]
              - id: second
                command: ["sh", "-c", "echo two; echo three"]
                depends_on: first
            """.write(toFile: dir + "/two.yaml", atomically: true, encoding: .utf8)
        let submitted = try await Tools.run("titan", ["submit", dir + "/two.yaml", "--wait"], environment: env, timeout: 60)
        #expect(submitted.status == 0, "\(submitted.stderr)")
        let expected = "[first] one\n[first] no newline\n[second] two\n[second] three\n"
        let logs = try await Tools.run("titan", ["logs", "dag-1"], environment: env)
        #expect(logs.status == 0, "\(logs.stderr)")
        #expect(logs.stdout == expected)
        #expect(logs.stderr == "[first] oops\n")
        // A finished DAG: -f prints it all and ends.
        let followedDone = try await Tools.run("titan", ["logs", "-f", "dag-1"], environment: env)
        #expect(followedDone.status == 0)
        #expect(followedDone.stdout == expected)

        // A running one: -f follows each job as it prints, and ends when the DAG does.
        try """
            name: slow
            jobs:
              - id: a
                command: ["sh", "-c", "echo a1; sleep 1; echo a2"]
              - id: b
                command: ["sh", "-c", "echo b1"]
                depends_on: a
            """.write(toFile: dir + "/slow.yaml", atomically: true, encoding: .utf8)
        #expect(try await Tools.run("titan", ["submit", dir + "/slow.yaml"], environment: env).status == 0)
        let followed = try await Tools.run("titan", ["logs", "-f", "dag-2", "--request-timeout", "10"], environment: env, timeout: 60)
        #expect(followed.status == 0, "\(followed.stderr)")
        #expect(followed.stdout == "[a] a1\n[a] a2\n[b] b1\n")
        #expect(try await Tools.run("titan", ["status", "dag-2"], environment: env).stdout.contains("COMPLETED"))
        #expect(await worker.terminate() == 0)
        #expect(await master.terminate() == 0)
    }

    @Test func runAnEntryOfAnUploadedFolder() async throws {
        let dir = try scratch("archive-run")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/proj/src", withIntermediateDirectories: true)
        try "import sys\nprint('main', sys.argv[1:], open('data.txt').read().strip())\n"
            .write(toFile: dir + "/proj/src/main.py", atomically: true, encoding: .utf8)
        try "from the project\n".write(toFile: dir + "/proj/data.txt", atomically: true, encoding: .utf8)
        let master = try await NodeProcess(["--role", "master", "--port", "0"])
        defer { master.signal(SIGKILL) }  // a no-op once it exited
        let env = ["TITAN_MASTER": "127.0.0.1:\(try #require(master.port))"]
        let worker = try await NodeProcess(["--role", "worker", "--master", env["TITAN_MASTER"]!, "--id", "w1"])
        defer { worker.signal(SIGKILL) }  // a no-op once it exited
        let missing = try await Tools.run("titan", ["run", "proj.zip/src/main.py"], environment: env)
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("no archive 'proj.zip' on the master: upload its folder first (titan upload ./proj)"),
                "\(missing.stderr)")
        let upload = try await Tools.run("titan", ["upload", dir + "/proj"], environment: env)
        #expect(upload.status == 0, "\(upload.stderr)")
        let run = try await Tools.run("titan", ["run", "proj.zip/src/main.py", "a", "--b"], environment: env, timeout: 60)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout == "main ['a', '--b'] from the project\n")
        #expect(await worker.terminate() == 0)
        #expect(await master.terminate() == 0)
    }

    @Test func stoppedServicesAreStillListedAfterARestart() async throws {
        let dir = try scratch("stopped-services")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var master = try await NodeProcess(["--role", "master", "--port", "0", "--data-dir", dir])
        defer { master.signal(SIGKILL) }  // a no-op once it exited
        var env = ["TITAN_MASTER": "127.0.0.1:\(try #require(master.port))"]
        // No worker: the services wait, and stop at once.
        for name in ["web", "api"] {
            #expect(try await Tools.run("titan", ["deploy", "--name", name, "--", "sleep", "60"], environment: env).status == 0)
        }
        #expect(try await Tools.run("titan", ["stop", "web"], environment: env).status == 0)
        let before = try await Tools.run("titan", ["services"], environment: env).stdout
        #expect(before.contains("STOPPED") && before.contains("PENDING"), "\(before)")
        #expect(await master.terminate() == 0)

        master = try await NodeProcess(["--role", "master", "--port", "0", "--data-dir", dir])
        env = ["TITAN_MASTER": "127.0.0.1:\(try #require(master.port))"]
        let after = try await Tools.run("titan", ["services", "--json"], environment: env).stdout
        let list = try #require(try JSONSerialization.jsonObject(with: Data(after.utf8)) as? [[String: Any]], "\(after)")
        let states = Dictionary(uniqueKeysWithValues: list.compactMap { service -> (String, String)? in
            guard let spec = service["spec"] as? [String: Any], let name = spec["name"] as? String,
                  let state = service["state"] as? String else { return nil }
            return (name, state)
        })
        #expect(states["web"] == "STOPPED", "\(after)")
        #expect(states["api"] == "PENDING", "\(after)")
        // Deployed again, it is live again.
        #expect(try await Tools.run("titan", ["deploy", "--name", "web", "--", "sleep", "60"], environment: env).status == 0)
        #expect(!(try await Tools.run("titan", ["services"], environment: env).stdout.contains("STOPPED")))
        #expect(await master.terminate() == 0)
    }

    @Test func aRetiredWorkerIsLoggedAsRetiredNotDead() async throws {
        let dir = try scratch("retired")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let master = try await NodeProcess(["--role", "master", "--port", "0", "--data-dir", dir,
                                            "--scale", "GENERAL:0:1", "--scale-idle-ms", "300", "--scale-cooldown-ms", "100",
                                            "--suspect-after-ms", "500", "--dead-after-ms", "1000", "--heartbeat-ms", "100"],
                                           logLevel: "info")
        defer { master.signal(SIGKILL) }  // a no-op once it exited
        let env = ["TITAN_MASTER": "127.0.0.1:\(try #require(master.port))"]
        let run = try await Tools.run("titan", ["run", "--", "echo", "hi"], environment: env, timeout: 60)
        #expect(run.status == 0, "\(run.stderr)")
        try await waitUntil(seconds: 30) { master.child.stderr.contains("worker retired") }
        let log = master.child.stderr
        #expect(log.contains("scale-general-1"))
        #expect(!log.contains("worker suspect") && !log.contains("worker dead"), "\(log)")
        #expect(!(try await Tools.run("titan", ["workers"], environment: env).stdout.contains("scale-general-1")))
        #expect(await master.terminate() == 0)
    }
}
