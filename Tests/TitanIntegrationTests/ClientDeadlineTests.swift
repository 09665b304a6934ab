import Foundation
import Testing
import TitanAuth
import TitanClient
import TitanProtocol

/// The Swift client's deadlines: each step that gets no answer throws an error naming the
/// address and the step, and a followed stream notices a master that stopped answering.
@Suite(.serialized) struct ClientDeadlineTests {
    private let token = AuthToken(id: "nosuch", secret: [UInt8](repeating: 0, count: 32))

    private func expectTimeout(_ expected: TitanClientError, within seconds: Double,
                               _ body: () async throws -> Void) async {
        let start = ContinuousClock.now
        do {
            try await body()
            Issue.record("no error; expected \(expected)")
        } catch let error as TitanClientError {
            #expect(error == expected)
        } catch {
            Issue.record("\(error); expected \(expected)")
        }
        // A bound that only a hang passes (the 500 ms deadlines below take longer than 5 s when
        // the whole suite shares two cores): that the deadline applied is in the error's value.
        #expect(start.duration(to: .now) < .seconds(seconds), "\(expected): took \(start.duration(to: .now))")
    }

    @Test func silentGarbageAndUnreachablePeers() async throws {
        let silent = try FakePeer(.silent)
        defer { silent.close() }
        let timeouts = Timeouts(requestMs: 500)
        await expectTimeout(.timedOut(address: silent.address, step: .authentication, afterMs: 500), within: 20) {
            _ = try await TitanClient.connect(to: silent.address, credentials: .token(token), transport: .plaintext, timeouts: timeouts)
        }
        // Without a token, the first request is what gets no answer.
        let client = try await TitanClient.connect(to: silent.address, credentials: .none, transport: .plaintext, timeouts: timeouts)
        await expectTimeout(.timedOut(address: silent.address, step: .request("getStatus"), afterMs: 500), within: 20) {
            _ = try await client.status("job-1")
        }
        await expectTimeout(.timedOut(address: silent.address, step: .request("subscribe"), afterMs: 500), within: 20) {
            _ = try await client.follow("job-1")
        }
        await client.close()

        let garbage = try FakePeer(.garbage)
        defer { garbage.close() }
        await expectTimeout(.notTitan(address: garbage.address, detail: "it sent bytes that are not a Titan frame (unsupported protocol version 72)"),
                            within: 20) {
            _ = try await TitanClient.connect(to: garbage.address, credentials: .token(token), transport: .plaintext, timeouts: timeouts)
        }

        let full = try FakePeer(.full)
        defer { full.close() }
        await expectTimeout(.timedOut(address: full.address, step: .connect, afterMs: 500), within: 20) {
            _ = try await TitanClient.connect(to: full.address, credentials: .none, transport: .plaintext, timeouts: timeouts)
        }
        #expect(TitanClientError.timedOut(address: "h:1", step: .connect, afterMs: 1_500).description
                == "cannot connect to master at h:1: connect timed out after 1.5s")
    }

    @Test func theEnvironmentSetsTheRequestTimeout() throws {
        #expect(try Timeouts.fromEnvironment([:]) == .default)
        let two = try Timeouts.fromEnvironment(["TITAN_REQUEST_TIMEOUT": "2"])
        #expect(two.requestMs == 2_000 && two.connectMs == 2_000 && two.handshakeMs == 2_000)
        let long = try Timeouts.fromEnvironment(["TITAN_REQUEST_TIMEOUT": "300"])
        #expect(long.requestMs == 300_000 && long.connectMs == 10_000 && long.handshakeMs == 10_000)
        for bad in ["0", "-1", "nan", "soon", "100000"] {
            #expect(throws: TitanClientError.self) { try Timeouts.fromEnvironment(["TITAN_REQUEST_TIMEOUT": bad]) }
        }
    }

    /// A master that stops answering (SIGSTOP: its socket stays open, nothing comes back) ends a
    /// follow with the reason, instead of leaving it waiting forever.
    @Test func aFollowNoticesAMasterThatStoppedAnswering() async throws {
        let master = try await NodeProcess(["--role", "master", "--port", "0"])
        defer {
            master.signal(SIGCONT)
            master.signal(SIGKILL)  // a no-op once it exited
        }
        let address = "127.0.0.1:\(try #require(master.port))"
        let client = try await TitanClient.connect(to: address, timeouts: Timeouts(connectMs: 5_000, handshakeMs: 5_000,
                                                                                   requestMs: 1_000, keepaliveMs: 200))
        // No worker: the job stays pending, its stream open.
        let (_, updates) = try await client.submitAndFollow(JobSpec(command: ["true"]))
        master.signal(SIGSTOP)
        let start = ContinuousClock.now
        for await _ in updates {}
        #expect(start.duration(to: .now) < .seconds(30))  // only a hang passes this; the reason is checked below
        #expect(await client.closedReason == .timedOut(address: address, step: .keepalive, afterMs: 1_000))
        await client.close()
        master.signal(SIGCONT)
        #expect(await master.terminate() == 0)
    }
}
