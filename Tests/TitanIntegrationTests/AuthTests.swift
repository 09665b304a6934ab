import Foundation
import Testing
import TitanAuth
import TitanClient
import TitanProtocol
import TitanRuntime

/// Every connection proves a token before anything else is accepted, and its role bounds what it
/// may send; revocation takes effect on live connections; jobs get a token of their own.
@Suite struct AuthTests {
    static func create(_ admin: TitanClient, role: String, name: String = "") async throws -> AuthToken {
        guard case .tokenResult(.created(_, let text)) = try await admin.request(.token(.create(role: role, name: name, ttlMs: 0))) else {
            throw AuthError.refused("no token created")
        }
        return try AuthToken(parsing: text)
    }

    static func refusal(_ body: () async throws -> Void) async -> String {
        do {
            try await body()
            return ""
        } catch {
            return "\(error)"
        }
    }

    @Test func aConnectionWithoutAValidTokenGetsOneClearErrorAndIsClosed() async throws {
        let cluster = try await EmbeddedCluster.start(workers: 0)
        let address = cluster.masterAddress
        // No token: the first request is refused, naming what to do.
        let bare = try await TitanClient.connect(to: address, credentials: .none)
        let none = await Self.refusal { _ = try await bare.status("job-1") }
        #expect(none.contains("authenticate first"), "\(none)")
        await bare.close()
        // An unknown token, and a known id with the wrong secret.
        let unknown = await Self.refusal {
            _ = try await TitanClient.connect(to: address, credentials: .token(AuthToken.generate(id: "nobody")))
        }
        #expect(unknown.contains("token 'nobody' is unknown, revoked or expired"), "\(unknown)")
        let admin = try await TitanClient.connect(to: address)
        #expect(await admin.role == .admin)
        let real = try await Self.create(admin, role: "read")
        let wrong = await Self.refusal {
            _ = try await TitanClient.connect(to: address, credentials: .token(AuthToken(id: real.id, secret: AuthToken.generate(id: "x").secret)))
        }
        #expect(wrong.contains("wrong secret for token '\(real.id)'"), "\(wrong)")
        // The raw socket sees the close after the one error.
        let socket = try RawSocket(port: cluster.master.port)
        socket.send(NativeCodec.encode(Envelope(requestId: 1, message: .listJobs(limit: 1))))
        guard case .error(_, let text) = try #require(try socket.readEnvelope()).message else {
            Issue.record("no error before the close")
            return
        }
        #expect(text.contains("authenticate first"))
        #expect(await socket.eof())
        await admin.close()
        #expect(await cluster.stop() == 0)
    }

    @Test func rolesBoundWhatEachTokenMayDo() async throws {
        let cluster = try await EmbeddedCluster.start(workers: 1)
        let address = cluster.masterAddress
        let admin = try await TitanClient.connect(to: address)
        let read = try await TitanClient.connect(to: address, credentials: .token(try await Self.create(admin, role: "read")))
        let submit = try await TitanClient.connect(to: address, credentials: .token(try await Self.create(admin, role: "submit")))
        let workerToken = try await Self.create(admin, role: "worker")
        let worker = try await TitanClient.connect(to: address, credentials: .token(workerToken))
        let roles = (await read.role, await submit.role, await worker.role)
        #expect(roles.0 == .read && roles.1 == .submit && roles.2 == .worker)

        let jobId = try await submit.submit(JobSpec(command: ["true"]))
        #expect(try await read.status(jobId).id == jobId)
        let readSubmits = await Self.refusal { _ = try await read.submit(JobSpec(command: ["true"])) }
        #expect(readSubmits.contains("a read token may not send submit"), "\(readSubmits)")
        let readWrites = await Self.refusal { try await read.kvSet("k", [1]) }
        #expect(readWrites.contains("may not send kv"), "\(readWrites)")
        let workerSubmits = await Self.refusal { _ = try await worker.submit(JobSpec(command: ["true"])) }
        #expect(workerSubmits.contains("a worker token may not send submit"), "\(workerSubmits)")
        let submitTokens = await Self.refusal { _ = try await submit.request(.token(.list)) }
        #expect(submitTokens.contains("may not send token"), "\(submitTokens)")
        // A submit token cannot register a worker.
        let registration = Registration(workerId: "sneaky", name: "x", capabilities: ["GENERAL"], slots: 1, permanent: true,
                                        instance: "instance-sneaky")
        let registers = await Self.refusal { _ = try await submit.request(.register(registration)) }
        #expect(registers.contains("a submit token may not send register"), "\(registers)")
        #expect(try await admin.workers().allSatisfy { $0.id != "sneaky" })
        for client in [admin, read, submit, worker] { await client.close() }
        #expect(await cluster.stop() == 0)
    }

    @Test func aRevokedTokenClosesItsLiveConnectionsAtOnce() async throws {
        let cluster = try await EmbeddedCluster.start(workers: 0)
        let admin = try await TitanClient.connect(to: cluster.masterAddress)
        let token = try await Self.create(admin, role: "submit", name: "ci")
        let ci = try await TitanClient.connect(to: cluster.masterAddress, credentials: .token(token))
        try await ci.ping()
        guard case .tokenResult(.list(let listed)) = try await admin.request(.token(.list)) else {
            Issue.record("no token list")
            return
        }
        #expect(listed.contains { $0.id == token.id && $0.role == "submit" && $0.name == "ci" })
        _ = try await admin.request(.token(.revoke(id: token.id)))
        let after = await Self.refusal { try await ci.ping() }
        #expect(after.contains("token '\(token.id)' was revoked") || after.contains("closed"), "\(after)")
        let again = await Self.refusal { _ = try await TitanClient.connect(to: cluster.masterAddress, credentials: .token(token)) }
        #expect(again.contains("unknown, revoked or expired"), "\(again)")
        await ci.close()
        await admin.close()
        #expect(await cluster.stop() == 0)
    }

    @Test func aJobGetsItsOwnScopedTokenNeverTheWorkers() async throws {
        let cluster = try await EmbeddedCluster.start(workers: 1)
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        let titan = Tools.path("titan")
        // The job uses the CLI with the token it was given: KV works, cancelling others does not.
        let script = """
            echo "token-id=${TITAN_TOKEN%.*}"
            \(titan) kv set from-job yes && echo kv-ok
            \(titan) cancel job-999 2>&1 | grep -q 'a job token may not send cancel' && echo cancel-refused
            """
        let (jobId, updates) = try await client.submitAndFollow(JobSpec(command: ["sh", "-c", script]))
        var output = ""
        for await update in updates {
            if case .output(_, let bytes) = update { output += String(decoding: bytes, as: UTF8.self) }
        }
        #expect(try await client.status(jobId).state == .completed, "\(output)")
        #expect(output.contains("token-id=titan.job:\(jobId)@1"), "\(output)")
        #expect(output.contains("kv-ok") && output.contains("cancel-refused"), "\(output)")
        #expect(try await client.kvGet("from-job") == Array("yes".utf8))
        // Once the attempt is over, its token is worth nothing.
        let token = try AuthToken(parsing: output.split(separator: "\n").first { $0.hasPrefix("token-id=") }.map { _ in
            "titan.job:\(jobId)@1." + String(repeating: "0", count: 64)
        } ?? "")
        let stale = await Self.refusal { _ = try await TitanClient.connect(to: cluster.masterAddress, credentials: .token(token)) }
        #expect(stale.contains("unknown, revoked or expired"), "\(stale)")
        await client.close()
        #expect(await cluster.stop() == 0)
    }

    @Test func badTokenFlagsGetAClearError() async throws {
        let cluster = try await EmbeddedCluster.start(workers: 0)
        let env = ["TITAN_MASTER": cluster.masterAddress]
        for (arguments, expected) in [
            (["token", "create", "--role", "read", "--ttl", "soon"], "--ttl: 'soon' is not a duration"),
            (["token", "create", "--role", "root"], "field 'role': 'root' is not one of"),
            (["token", "create", "--role", "read", "--name", "a b"], "field 'name': token name 'a b' contains ' '"),
            (["token", "revoke", "nope"], "no token 'nope'"),
            (["jobs", "--token", "titan.x.123"], "malformed token"),
            (["jobs", "--token-file", "/nonexistent/token"], "cannot read the token file '/nonexistent/token'"),
        ] {
            let run = try await Tools.run("titan", arguments, environment: env)
            #expect(run.status != 0, "\(arguments)")
            #expect(run.stderr.contains(expected), "\(arguments): \(run.stderr)")
        }
        let worker = try await Tools.run("titan-node", ["--role", "worker", "--master", cluster.masterAddress,
                                                        "--token-file", "/nonexistent/token"])
        #expect(worker.status != 0 && worker.stderr.contains("cannot read the token file"), "\(worker.stderr)")
        let master = try await Tools.run("titan-node", ["--role", "master", "--port", "0", "--token", "x"])
        #expect(master.status != 0 && master.stderr.contains("--token is a worker option"), "\(master.stderr)")
        #expect(await cluster.stop() == 0)
    }

    @Test func aMasterWithoutAuthenticationRefusesToListenBeyondLoopback() async throws {
        let run = try await Tools.run("titan-node", ["--role", "master", "--bind", "0.0.0.0", "--port", "0", "--no-auth",
                                                     "--data-dir", FileManager.default.temporaryDirectory
                                                        .appendingPathComponent("titan-noauth-\(UUID().uuidString)").path])
        #expect(run.status != 0)
        #expect(run.stderr.contains("without authentication"), "\(run.stderr)")
    }
}
