import Foundation
import Testing
import TitanClient
import TitanProtocol

/// A worker frozen (SIGSTOP) past the dead timeout, its job re-run elsewhere, then resumed: the
/// attempt the master revoked is killed as soon as the worker hears from the master, and only the
/// re-run's result is recorded.
@Suite(.serialized) struct FrozenWorkerTests {
    @Test func aResumedWorkerKillsTheAttemptTheMasterRevokedBeforeItFinishes() async throws {
        let work = try DurabilityTests.temporaryDirectory("frozen")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let master = try await NodeProcess(["--role", "master", "--port", "0", "--heartbeat-ms", "100",
                                            "--suspect-after-ms", "300", "--dead-after-ms", "700"])
        defer { master.signal(SIGKILL) }
        let address = "127.0.0.1:\(try #require(master.port))"
        let first = try await NodeProcess(["--role", "worker", "--master", address, "--id", "frozen-1", "--slots", "1",
                                           "--data-dir", work + "/w1"])
        defer {
            first.signal(SIGCONT)
            first.signal(SIGKILL)
        }
        let client = try await DurabilityTests.connect(address)
        try await waitUntil { try await client.workers().count == 1 }

        // Each attempt that runs to its end leaves its number in `done`.
        let done = work + "/done"
        // 8 s: room for the freeze, the re-run and the kill on a heavily loaded machine.
        let jobId = try await client.submit(JobSpec(command: ["sh", "-c", "sleep 8; echo $TITAN_ATTEMPT >> \(done)"]))
        try await waitUntil { try await client.status(jobId).state == .running }
        let started = ContinuousClock.now
        first.signal(SIGSTOP)
        let second = try await NodeProcess(["--role", "worker", "--master", address, "--id", "frozen-2", "--slots", "1",
                                            "--data-dir", work + "/w2"])
        defer { second.signal(SIGKILL) }
        // Declared dead, its attempt re-runs on the other worker.
        try await waitUntil { let s = try await client.status(jobId); return s.attempts == 2 && s.workerId == "frozen-2" }
        // Resumed well before the first attempt's 8 s are up: it must not get to write.
        #expect(ContinuousClock.now - started < .seconds(5), "too slow to tell: the revoked attempt may have finished")
        first.signal(SIGCONT)

        try await waitUntil(seconds: 20) { try await client.status(jobId).state.isFinal }
        let status = try await client.status(jobId)
        #expect(status.state == .completed)
        #expect(status.attempts == 2)
        // The first attempt's time is long past: only the re-run wrote.
        #expect(DurabilityTests.lines(done) == ["2"])
        await client.close()
    }
}
