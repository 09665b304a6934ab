import Foundation
import Testing
import TitanClient
import TitanProtocol

/// `titan` and `titan-node` as a user runs them: real processes on 127.0.0.1.
@Suite(.serialized) struct CLITests {
    @Test func runStatusWorkersAndGracefulShutdown() async throws {
        let master = try await NodeProcess(["--role", "master", "--port", "0"])
        let port = try #require(master.port, "announce line: \(master.firstLine)")
        let env = ["TITAN_MASTER": "127.0.0.1:\(port)"]
        let worker = try await NodeProcess(["--role", "worker", "--master", "127.0.0.1:\(port)", "--id", "w1",
                                            "--cap", "gpu,general", "--slots", "2"])
        try await waitUntil { (try? await Tools.run("titan", ["workers", "--json"], environment: env))?.stdout.contains("\"w1\"") == true }

        let failing = try await Tools.run("titan", ["run", "--", "sh", "-c", "echo out; echo err >&2; exit 3"], environment: env)
        #expect(failing.status == 3)
        #expect(failing.stdout == "out\n")
        #expect(failing.stderr == "err\n")

        let json = try await Tools.run("titan", ["run", "--json", "--cap", "GPU", "--", "echo", "x"], environment: env)
        #expect(json.status == 0)
        #expect(json.stdout.contains("\"state\" : \"COMPLETED\""))
        #expect(json.stdout.contains("\"workerId\" : \"w1\""))

        // A local script is shipped: it runs from the job's own directory on the worker.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("titan-run-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data("echo \"$0 $1 in $(basename \"$PWD\")\"\n".utf8).write(to: URL(fileURLWithPath: dir + "/greet.sh"))
        let shipped = try await Tools.run("titan", ["run", dir + "/greet.sh", "hi"], environment: env)
        #expect(shipped.status == 0, "\(shipped.stderr)")
        #expect(shipped.stdout.hasPrefix("greet.sh hi in job-"), "\(shipped.stdout)")

        let timedOut = try await Tools.run("titan", ["run", "--timeout", "0.2", "--", "sleep", "30"], environment: env)
        #expect(timedOut.status == 124)
        #expect(timedOut.stderr.contains("timed out"))

        let retried = try await Tools.run("titan", ["run", "--retries", "2", "--retry-delay", "0.01", "--", "sh", "-c", "echo try; exit 4"],
                                          environment: env)
        #expect(retried.status == 4)
        #expect(retried.stdout == "try\ntry\ntry\n")

        let missing = try await Tools.run("titan", ["run", "--", "/no/such/tool"], environment: env)
        #expect(missing.status == 127)
        #expect(missing.stderr.contains("No such file or directory"))

        let status = try await Tools.run("titan", ["status", "job-1"], environment: env)  // the exit-3 job
        #expect(status.status == 0)
        #expect(status.stdout.contains("FAILED"))
        #expect(status.stdout.contains("exit 3"))

        let logs = try await Tools.run("titan", ["logs", "job-1"], environment: env)
        #expect(logs.stdout == "out\n")
        #expect(logs.stderr == "err\n")

        let workers = try await Tools.run("titan", ["workers"], environment: env)
        #expect(workers.stdout.contains("GPU,GENERAL"))

        // logs -f attaches to a running job, replays what it printed, follows it to the end.
        let slow = try await Tools.run("titan", ["run", "--detach", "--", "sh", "-c", "echo a; sleep 0.3; echo b"], environment: env)
        let followed = try await Tools.run("titan", ["logs", "-f", slow.stdout.trimmingCharacters(in: .whitespacesAndNewlines)], environment: env)
        #expect(followed.status == 0)
        #expect(followed.stdout == "a\nb\n")

        let detached = try await Tools.run("titan", ["run", "--detach", "--", "sleep", "30"], environment: env)
        let sleeper = detached.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        try await waitUntil { (try? await Tools.run("titan", ["status", sleeper], environment: env))?.stdout.contains("RUNNING") == true }

        // SIGTERM: the worker kills its job's process group and exits 0; so does the master.
        #expect(await worker.terminate() == 0)
        #expect(await master.terminate() == 0)
    }

    @Test func deployServicesAndStop() async throws {
        let master = try await NodeProcess(["--role", "master", "--port", "0"])
        let env = ["TITAN_MASTER": "127.0.0.1:\(try #require(master.port))"]
        // It advertises a name for its services (a label: nothing is sent there).
        let worker = try await NodeProcess(["--role", "worker", "--master", env["TITAN_MASTER"]!, "--id", "w1",
                                            "--advertise", "svc.example.internal"])
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("titan-deploy-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A local script, shipped; it serves HTTP on the port it is given.
        try Data("""
            import http.server, os
            http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), http.server.SimpleHTTPRequestHandler).serve_forever()
            """.utf8).write(to: URL(fileURLWithPath: dir + "/web.py"))
        let deployed = try await Tools.run("titan", ["deploy", dir + "/web.py", "--port", "auto", "--health", "http:/"], environment: env)
        #expect(deployed.status == 0, "\(deployed.stderr)")
        #expect(deployed.stdout.hasPrefix("web "), "\(deployed.stdout)")
        try await waitUntil(seconds: 20) {
            try await Tools.run("titan", ["services"], environment: env).stdout.contains("HEALTHY")
        }
        let listed = try await Tools.run("titan", ["services", "--json"], environment: env).stdout
        let services = try #require(try JSONSerialization.jsonObject(with: Data(listed.utf8)) as? [[String: Any]])
        #expect(services.first?["workerId"] as? String == "w1", "\(listed)")
        #expect((services.first?["port"] as? Int ?? 0) >= 20_000, "\(listed)")
        #expect((services.first?["spec"] as? [String: Any])?["health"] as? String == "http:/", "\(listed)")
        #expect(services.first?["host"] as? String == "svc.example.internal", "\(listed)")
        #expect(try await Tools.run("titan", ["services"], environment: env).stdout.contains("svc.example.internal:\(services.first?["port"] as? Int ?? 0)"))
        let workers = try await Tools.run("titan", ["workers", "--json"], environment: env).stdout
        #expect(workers.contains("\"address\" : \"svc.example.internal\"") || workers.contains("\"address\":\"svc.example.internal\""), "\(workers)")
        #expect(try await Tools.run("titan", ["deploy", "--restart", "sometimes", "--", "sleep", "1"], environment: env).status != 0)
        // Its output (the HTTP server logs each request to stderr; the health checks are requests).
        try await waitUntil { try await Tools.run("titan", ["logs", "web"], environment: env).stderr.contains("GET / HTTP/1.0") }
        #expect(try await Tools.run("titan", ["stop", "web"], environment: env).status == 0)
        try await waitUntil { try await Tools.run("titan", ["services"], environment: env).stdout.contains("STOPPED") }
        #expect(try await Tools.run("titan", ["stop", "nope"], environment: env).status != 0)
        #expect(await worker.terminate() == 0)
        #expect(await master.terminate() == 0)
    }

    @Test func badUsageAndUnreachableMastersGiveClearErrors() async throws {
        let nothing = try await Tools.run("titan", ["run"])
        #expect(nothing.status != 0)
        #expect(nothing.stderr.contains("nothing to run"))

        let badAddress = try await Tools.run("titan", ["workers", "--master", "nonsense"])
        #expect(badAddress.status != 0)
        #expect(badAddress.stderr.contains("HOST:PORT"))

        let unreachable = try await Tools.run("titan", ["workers", "--master", "127.0.0.1:1"])
        #expect(unreachable.status == 1)
        #expect(unreachable.stderr.contains("cannot connect to master at 127.0.0.1:1"))

        let wrongRole = try await Tools.run("titan-node", ["--role", "master", "--cap", "GPU"])
        #expect(wrongRole.status != 0)
        #expect(wrongRole.stderr.contains("--cap is a worker option"))

        let badTimeout = try await Tools.run("titan", ["run", "--timeout", "-1", "--", "true"])
        #expect(badTimeout.status != 0)
        #expect(badTimeout.stderr.contains("--timeout"))

        let badDelay = try await Tools.run("titan", ["run", "--delay", "nan", "--", "true"])
        #expect(badDelay.status != 0)
        #expect(badDelay.stderr.contains("--delay"))

        let badDataDir = try await Tools.run("titan-node", ["--role", "master", "--port", "0", "--data-dir", "/proc/titan-cannot-be-here"])
        #expect(badDataDir.status != 0)
        #expect(badDataDir.stderr.contains("--data-dir"), "\(badDataDir.stderr)")

        let badEnv = try await Tools.run("titan", ["run", "--env", "NOVALUE", "--", "true"])
        #expect(badEnv.status != 0)
        #expect(badEnv.stderr.contains("NAME=VALUE"))

        // Flags added with durability, services and scaling.
        for (tool, arguments, fragment) in [
            ("titan-node", ["--role", "master", "--port", "0", "--scale", "GPU:x"], "--scale: expected POOL:MIN:MAX"),
            ("titan-node", ["--role", "master", "--port", "0", "--scale", "GPU:3:1"], "--scale: expected POOL:MIN:MAX"),
            ("titan-node", ["--role", "worker", "--scale", "GPU:0:1"], "--scale is a master option"),
            ("titan-node", ["--role", "master", "--fsync", "sometimes"], "--fsync"),
            ("titan-node", ["--role", "master", "--advertise", "10.0.0.1"], "--advertise is a worker option"),
            ("titan-node", ["--role", "worker", "--advertise", "a b"], "--advertise: 'a b' is not a host name or address"),
            ("titan", ["deploy", "--replicas", "0", "--", "true"], "--replicas: needs at least 1"),
            ("titan", ["deploy", "--port", "99999", "--", "true"], "--port: '99999' is not a port or auto"),
            ("titan", ["deploy"], "nothing to deploy"),
            ("titan", ["kv", "set", "k", "v", "--ttl", "-1"], "--ttl"),
            ("titan-node", ["--role", "worker", "--probe-timeout-ms", "0"], "--probe-timeout-ms: 0 is not between 1 and 600000"),
            ("titan-node", ["--role", "worker", "--start-deadline-ms", "99999999999"], "--start-deadline-ms: 99999999999 is more than a day"),
            ("titan-node", ["--role", "master", "--start-deadline-ms", "100"], "--start-deadline-ms is a worker option"),
            // TLS flags.
            ("titan", ["workers", "--tls-ca", "ca.pem", "--tls-cert", "node.pem"], "--tls-cert and --tls-key go together"),
            ("titan", ["workers", "--tls-cert", "n.pem", "--tls-key", "n.key"], "need --tls-ca"),
            ("titan", ["workers", "--tls-ca", ""], "--tls-ca: empty"),
            ("titan", ["workers", "--tls-ca", "/no/such/ca.pem"], "/no/such/ca.pem: No such file or directory"),
            ("titan-node", ["--role", "master", "--tls-ca", "ca.pem"], "--tls-ca needs --tls-cert and --tls-key"),
            ("titan-node", ["--role", "master", "--tls-cert", "n.pem"], "--tls-cert and --tls-key go together"),
            ("titan-node", ["--role", "master", "--tls-server-name", "m"], "--tls-server-name is a worker option"),
            ("titan-node", ["--role", "master", "--port", "0", "--tls-cert", "/no/n.pem", "--tls-key", "/no/n.key"],
             "/no/n.pem: No such file or directory"),
            ("titan-node", ["--role", "worker", "--tls-cert", "n.pem", "--tls-key", "n.key"], "need --tls-ca"),
        ] {
            let bad = try await Tools.run(tool, arguments, environment: ["TITAN_MASTER": "127.0.0.1:1"])
            #expect(bad.status != 0, "\(arguments)")
            #expect(bad.stderr.contains(fragment), "\(arguments): \(bad.stderr)")
        }
    }

    @Test func aWorkerRestartedAfterACrashKillsTheJobsItsPredecessorLeft() async throws {
        let master = try await NodeProcess(["--role", "master", "--port", "0"])
        let port = try #require(master.port)
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("titan-crash-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: work) }
        let worker = try await NodeProcess(["--role", "worker", "--master", "127.0.0.1:\(port)", "--id", "crashy",
                                            "--data-dir", work])
        let client = try await TitanClient.connect(to: "127.0.0.1:\(port)")
        let (_, updates) = try await client.submitAndFollow(JobSpec(command: ["sh", "-c", "echo pid=$$; exec sleep 300"]))
        var pid: Int32?
        for await update in updates {
            if case .output(_, let bytes) = update, let text = Optional(String(decoding: bytes, as: UTF8.self)),
               let r = text.range(of: "pid=") {
                pid = Int32(text[r.upperBound...].prefix { $0.isNumber })
                break
            }
        }
        let jobPid = try #require(pid)
        // The registry reaches the disk off the loop: wait until it lists the job.
        try await waitUntil { (try? String(contentsOfFile: work + "/running.pids", encoding: .utf8))?.contains("\(jobPid) ") == true }
        worker.signal(SIGKILL)
        _ = await worker.waitExit()
        #expect(processIsAlive(jobPid))  // orphaned: nobody killed it
        let successor = try await NodeProcess(["--role", "worker", "--master", "127.0.0.1:\(port)", "--id", "crashy",
                                               "--data-dir", work])
        try await waitUntil { !processIsAlive(jobPid) }
        await client.close()
        #expect(await successor.terminate() == 0)
        #expect(await master.terminate() == 0)
    }

    @Test func aFrozenWorkerIsDeclaredDeadAndItsJobRunsElsewhere() async throws {
        let master = try await NodeProcess(["--role", "master", "--port", "0", "--suspect-after-ms", "200",
                                            "--dead-after-ms", "400", "--heartbeat-ms", "50"])
        let port = try #require(master.port)
        let env = ["TITAN_MASTER": "127.0.0.1:\(port)"]
        let a = try await NodeProcess(["--role", "worker", "--master", "127.0.0.1:\(port)", "--id", "a", "--slots", "1"])
        try await waitUntil { (try? await Tools.run("titan", ["workers", "--json"], environment: env))?.stdout.contains("\"a\"") == true }
        let client = try await TitanClient.connect(to: "127.0.0.1:\(port)")
        // Long on "a", instant anywhere else.
        let id = try await client.submit(JobSpec(command: ["sh", "-c", "[ \"$TITAN_WORKER_ID\" = a ] && exec sleep 30; exit 0"]))
        try await waitUntil { try await client.status(id).state == .running }
        let b = try await NodeProcess(["--role", "worker", "--master", "127.0.0.1:\(port)", "--id", "b", "--slots", "1"])
        a.signal(SIGSTOP)  // "a" goes silent without a word
        let done = try await client.wait(id)
        #expect(done.state == .completed)
        #expect(done.workerId == "b")
        #expect(done.attempts == 2)
        #expect(try await client.workers().map(\.id) == ["b"])
        await client.close()
        a.signal(SIGCONT)
        #expect(await a.terminate() == 0)
        #expect(await b.terminate() == 0)
        #expect(await master.terminate() == 0)
    }
}
