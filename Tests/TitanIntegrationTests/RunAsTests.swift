import Foundation
import Testing
import TitanAuth
import TitanRuntime

/// `titan-node --role worker --run-as USER`: real processes. Changing a job's uid needs root,
/// so the tests that do are skipped (saying so) elsewhere.
@Suite(.serialized) struct RunAsTests {
    static let isRoot = geteuid() == 0

    /// `nobody`'s ids as this host's password database has them.
    static func nobody() throws -> (uid: UInt32, gid: UInt32) {
        let entry = try #require(getpwnam("nobody"), "this host has no user 'nobody'")
        return (entry.pointee.pw_uid, entry.pointee.pw_gid)
    }

    @Test(.enabled(if: isRoot, "needs root: only root can run jobs as another user"))
    func jobsRunAsTheUserInDirectoriesItOwnsAndCannotTouchTheWorkers() async throws {
        let nobody = try Self.nobody()
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("titan-runas-\(UUID().uuidString)").path
        let work = base + "/work"
        let secrets = base + "/secrets"
        try FileManager.default.createDirectory(atPath: secrets, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: base) }
        // /tmp-like parents stay traversable; the token file itself is the worker's (0600).
        _ = chmod(base, 0o755)
        _ = chmod(secrets, 0o755)

        let master = try await NodeProcess(["--role", "master", "--port", "0"])
        defer { master.signal(SIGKILL) }
        let port = try #require(master.port, "announce line: \(master.firstLine)")
        let env = ["TITAN_MASTER": "127.0.0.1:\(port)"]
        // The worker's credential, in a file of its own (the master wrote the local one).
        let tokenFile = secrets + "/worker-token"
        try FileManager.default.copyItem(atPath: TokenSource.localTokenPath(), toPath: tokenFile)
        _ = chmod(tokenFile, 0o600)

        let worker = try await NodeProcess(["--role", "worker", "--master", "127.0.0.1:\(port)", "--id", "runas",
                                            "--data-dir", work, "--run-as", "nobody", "--token-file", tokenFile])
        defer { worker.signal(SIGKILL) }
        try await waitUntil { (try? await Tools.run("titan", ["workers", "--json"], environment: env))?.stdout.contains("\"runas\"") == true }
        #expect(!worker.child.stderr.contains("no --run-as"), "the root warning is for workers without --run-as")

        let ids = try await Tools.run("titan", ["run", "--", "sh", "-c", "id -u; id -g; echo \"$HOME $USER $LOGNAME\""], environment: env)
        #expect(ids.status == 0, "\(ids.stderr)")
        let home = String(cString: getpwnam("nobody").pointee.pw_dir)
        #expect(ids.stdout == "\(nobody.uid)\n\(nobody.gid)\n\(home) nobody nobody\n")

        // Its working directory is its own (owner, mode) and writable by it.
        let own = try await Tools.run("titan", ["run", "--", "sh", "-c", "stat -c '%u:%g %a' . && echo data > mine && cat mine && pwd"],
                                      environment: env)
        #expect(own.status == 0, "\(own.stderr)")
        let lines = own.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == "\(nobody.uid):\(nobody.gid) 700", "\(own.stdout)")
        #expect(lines.dropFirst().first == "data")
        let jobDirectory = try #require(lines.last)
        #expect(jobDirectory.hasPrefix(work + "/jobs/"), "\(jobDirectory)")
        let attributes = try FileManager.default.attributesOfItem(atPath: jobDirectory + "/mine")
        #expect((attributes[.ownerAccountID] as? NSNumber)?.uint32Value == nobody.uid, "the job's files are the user's")

        // A shipped script (an artifact, put in place by the worker) runs as the user and may
        // write beside itself.
        let scripts = base + "/scripts"
        try FileManager.default.createDirectory(atPath: scripts, withIntermediateDirectories: true)
        try Data("id -u; touch out && echo wrote\n".utf8).write(to: URL(fileURLWithPath: scripts + "/s.sh"))
        let shipped = try await Tools.run("titan", ["run", scripts + "/s.sh"], environment: env)
        #expect(shipped.status == 0, "\(shipped.stderr)")
        #expect(shipped.stdout == "\(nobody.uid)\nwrote\n")

        // A DAG's directory is the user's too: a parent leaves a file there for its child.
        let yaml = scripts + "/dag.yaml"
        try """
        name: handoff
        jobs:
          - id: parent
            command: "id -u > \\"$TITAN_DAG_DIR/handoff\\""
          - id: child
            command: "cat \\"$TITAN_DAG_DIR/handoff\\""
            depends_on: parent
        """.write(toFile: yaml, atomically: true, encoding: .utf8)
        let dag = try await Tools.run("titan", ["submit", yaml, "--wait"], environment: env)
        #expect(dag.status == 0, "\(dag.stdout) \(dag.stderr)")
        let dags = try FileManager.default.contentsOfDirectory(atPath: work + "/dags")
        #expect(dags.count == 1, "\(dags)")
        if let name = dags.first {
            let dagDirectory = try FileManager.default.attributesOfItem(atPath: work + "/dags/" + name)
            #expect((dagDirectory[.ownerAccountID] as? NSNumber)?.uint32Value == nobody.uid)
            #expect((dagDirectory[.posixPermissions] as? NSNumber)?.intValue == 0o700)
            let handoff = try String(contentsOfFile: work + "/dags/" + name + "/handoff", encoding: .utf8)
            #expect(handoff == "\(nobody.uid)\n")
        }

        // A service runs as the user too, in a directory of its own.
        let deployed = try await Tools.run("titan", ["deploy", "--name", "whoami", "--restart", "never", "--",
                                                     "sh", "-c", "id -u > who; exec sleep 60"], environment: env)
        #expect(deployed.status == 0, "\(deployed.stderr)")
        let serviceDirectory = work + "/services/whoami"
        try await waitUntil { (try? String(contentsOfFile: serviceDirectory + "/who", encoding: .utf8)) == "\(nobody.uid)\n" }
        let serviceAttributes = try FileManager.default.attributesOfItem(atPath: serviceDirectory)
        #expect((serviceAttributes[.ownerAccountID] as? NSNumber)?.uint32Value == nobody.uid)
        #expect((serviceAttributes[.posixPermissions] as? NSNumber)?.intValue == 0o700)
        #expect(try await Tools.run("titan", ["stop", "whoami"], environment: env).status == 0)

        // The worker's internals and its token are closed to the job: every attempt must fail.
        for (what, script) in [
            ("write running.pids", "echo 1 >> '\(work)/running.pids'"),
            ("write into the work directory", "touch '\(work)/planted'"),
            ("write into the artifact cache", "mkdir -p '\(work)/artifacts/x' && touch '\(work)/artifacts/x/y'"),
            ("list the work directory", "ls '\(work)'"),
            ("read the worker's token", "cat '\(tokenFile)'"),
        ] {
            let attempt = try await Tools.run("titan", ["run", "--", "sh", "-c", script], environment: env)
            #expect(attempt.status != 0, "the job could \(what): \(attempt.stdout)")
            #expect(attempt.stderr.contains("Permission denied"), "\(what): \(attempt.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: work + "/planted"))
        let pids = (try? String(contentsOfFile: work + "/running.pids", encoding: .utf8)) ?? ""
        #expect(!pids.contains("\n1\n"))

        #expect(await worker.terminate() == 0)
        #expect(await master.terminate() == 0)
    }

    @Test func anUnknownUserIsAClearStartError() async throws {
        let worker = try await NodeProcess(["--role", "worker", "--master", "127.0.0.1:1", "--run-as", "no-such-titan-user"])
        defer { worker.signal(SIGKILL) }
        #expect(await worker.waitExit() != 0)
        #expect(worker.child.stderr.contains("--run-as: no user 'no-such-titan-user' on this host"), "\(worker.child.stderr)")
    }

    @Test func aWorkerThatIsNotRootCannotRunAsSomeoneElse() throws {
        // Resolved as an unprivileged process would: uid 12345 asking for root.
        #expect(throws: RunAsError.notRoot(user: "root", effectiveUid: 12_345)) {
            try RunAsUser.resolve("root", effectiveUid: 12_345)
        }
        let error = RunAsError.notRoot(user: "root", effectiveUid: 12_345)
        #expect(error.description.contains("runs as uid 12345, not root"))
        // As itself it needs no change of ids.
        let me = try #require(getpwuid(geteuid()))
        let user = try RunAsUser.resolve(String(cString: me.pointee.pw_name))
        #expect(!user.changesIds)
        #expect(user.wrap(["true"]) == ["true"])
    }

    @Test(.enabled(if: isRoot, "needs root: the warning is for a worker running as root"))
    func aRootWorkerWithoutRunAsWarnsOnce() async throws {
        let master = try await NodeProcess(["--role", "master", "--port", "0"])
        defer { master.signal(SIGKILL) }
        let port = try #require(master.port, "announce line: \(master.firstLine)")
        let worker = try await NodeProcess(["--role", "worker", "--master", "127.0.0.1:\(port)", "--id", "rootw"])
        defer { worker.signal(SIGKILL) }
        let warning = "this worker runs as root and has no --run-as USER"
        try await waitUntil { worker.child.stderr.contains(warning) }
        #expect(await worker.terminate() == 0)
        #expect(worker.child.stderr.components(separatedBy: warning).count == 2, "warned once: \(worker.child.stderr)")
        #expect(await master.terminate() == 0)
    }
}
