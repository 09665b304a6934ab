import Foundation
import Testing
import TitanAuth
import TitanProtocol

/// The challenge-response, without sockets: both ends agree, and nothing but the secret's holder
/// (and the master that issued it) gets through.
@Suite struct AuthExchangeTests {
    @Test func aTokenRoundTripsAsTextAndNeverPrintsItsSecret() throws {
        let token = AuthToken.generate(id: "job:dag-1/a.b@3")
        #expect(try AuthToken(parsing: " " + token.text + "\n") == token)
        #expect(!token.description.contains(token.text.suffix(64)))
        for bad in ["", "titan.", "titan.x", "titan.x.abc", "titan..\(String(repeating: "0", count: 64))",
                    "bearer.x.\(String(repeating: "0", count: 64))", "titan.x.\(String(repeating: "g", count: 64))"] {
            #expect(throws: AuthError.self) { try AuthToken(parsing: bad) }
        }
    }

    @Test func theHolderProvesItAndTheMasterProvesItselfBack() {
        let token = AuthToken.generate(id: "t1")
        let verifier = TokenVerifier(secret: token.secret)
        let clientNonce = AuthExchange.nonce(), serverNonce = AuthExchange.nonce()
        let proof = AuthExchange.clientProof(token: token, clientNonce: clientNonce, serverNonce: serverNonce)
        #expect(AuthExchange.verify(proof: proof, verifier: verifier, tokenId: "t1", clientNonce: clientNonce, serverNonce: serverNonce))
        // The proof never contains the secret, and differs per connection.
        #expect(proof != token.secret)
        let again = AuthExchange.clientProof(token: token, clientNonce: clientNonce, serverNonce: AuthExchange.nonce())
        #expect(again != proof)
        let signature = AuthExchange.serverSignature(verifier: verifier, tokenId: "t1", clientNonce: clientNonce, serverNonce: serverNonce)
        #expect(AuthExchange.verifyServer(signature: signature, token: token, clientNonce: clientNonce, serverNonce: serverNonce))
    }

    @Test func aWrongSecretAReplayedProofOrAnImpostorMasterFail() {
        let token = AuthToken.generate(id: "t1")
        let other = AuthToken(id: "t1", secret: AuthToken.generate(id: "x").secret)
        let verifier = TokenVerifier(secret: token.secret)
        let clientNonce = AuthExchange.nonce(), serverNonce = AuthExchange.nonce()
        let wrong = AuthExchange.clientProof(token: other, clientNonce: clientNonce, serverNonce: serverNonce)
        #expect(!AuthExchange.verify(proof: wrong, verifier: verifier, tokenId: "t1", clientNonce: clientNonce, serverNonce: serverNonce))
        // A proof recorded on one connection is worthless on the next (another server nonce).
        let recorded = AuthExchange.clientProof(token: token, clientNonce: clientNonce, serverNonce: serverNonce)
        #expect(!AuthExchange.verify(proof: recorded, verifier: verifier, tokenId: "t1", clientNonce: clientNonce,
                                     serverNonce: AuthExchange.nonce()))
        // Nor for another token id.
        #expect(!AuthExchange.verify(proof: recorded, verifier: verifier, tokenId: "t2", clientNonce: clientNonce, serverNonce: serverNonce))
        // What the master stores cannot stand in for the secret.
        let forged = AuthToken(id: "t1", secret: verifier.storedKey)
        #expect(!AuthExchange.verify(proof: AuthExchange.clientProof(token: forged, clientNonce: clientNonce, serverNonce: serverNonce),
                                     verifier: verifier, tokenId: "t1", clientNonce: clientNonce, serverNonce: serverNonce))
        // A master that does not know the token cannot sign.
        let impostor = AuthExchange.serverSignature(verifier: TokenVerifier(secret: other.secret), tokenId: "t1",
                                                    clientNonce: clientNonce, serverNonce: serverNonce)
        #expect(!AuthExchange.verifyServer(signature: impostor, token: token, clientNonce: clientNonce, serverNonce: serverNonce))
    }

    @Test func rolesBoundWhatAConnectionMaySend() {
        let submit = Message.submit(JobSpec(command: ["true"]), follow: false)
        let register = Message.register(Registration(workerId: "w", name: "w", capabilities: [], slots: 1, permanent: true))
        #expect(!Role.read.allows(submit))
        #expect(Role.read.allows(.getStatus(jobId: "x")))
        #expect(Role.read.allows(.kv(.get(key: "k"))))
        #expect(!Role.read.allows(.kv(.set(key: "k", value: [], ttlMs: 0))))
        #expect(Role.submit.allows(submit))
        #expect(!Role.submit.allows(register))
        #expect(!Role.submit.allows(.token(.list)))
        #expect(Role.worker.allows(register))
        #expect(!Role.worker.allows(submit))
        #expect(!Role.worker.allows(.getStatus(jobId: "x")))
        #expect(Role.job.allows(.extendDag(dagId: "dag-1", jobs: [])))
        #expect(!Role.job.allows(.cancel(jobId: "job-1")))
        #expect(!Role.job.allows(register))
        #expect(Role.admin.allows(.token(.create(role: "read", name: "", ttlMs: 0))))
    }

    @Test func tokenFilesAreFoundInOrderAndWrittenPrivately() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("titan-auth-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let local = AuthToken.generate(id: "local"), fromFile = AuthToken.generate(id: "file"), fromEnv = AuthToken.generate(id: "env")
        let environment = ["XDG_CONFIG_HOME": dir]
        #expect(try TokenSource.find(environment: environment) == nil)
        try TokenSource.write(local, to: TokenSource.localTokenPath(environment: environment))
        try TokenSource.write(fromFile, to: dir + "/given.token")
        let mode = try FileManager.default.attributesOfItem(atPath: dir + "/given.token")[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(try TokenSource.find(environment: environment) == local)
        #expect(try TokenSource.find(environment: environment.merging(["TITAN_TOKEN_FILE": dir + "/given.token"]) { $1 }) == fromFile)
        #expect(try TokenSource.find(environment: environment.merging(["TITAN_TOKEN": fromEnv.text]) { $1 }) == fromEnv)
        #expect(try TokenSource.find(tokenFile: dir + "/given.token", environment: environment.merging(["TITAN_TOKEN": fromEnv.text]) { $1 }) == fromFile)
        #expect(throws: AuthError.self) { try TokenSource.find(tokenFile: dir + "/missing", environment: environment) }
    }
}
