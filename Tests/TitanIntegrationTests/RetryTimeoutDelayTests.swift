import Foundation
import Testing
import TitanClient
import TitanProtocol
import TitanRuntime

/// Per-job retries (with backoff), timeouts (killing the process group) and start delays.
@Suite struct RetryTimeoutDelayTests {
    @Test func aFailingJobIsRetriedUntilItSucceeds() async throws {
        let cluster = try await EmbeddedCluster.start(workers: 1)
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        let counter = FileManager.default.temporaryDirectory.appendingPathComponent("titan-retry-\(UUID().uuidString)").path
        // Fails on its first two runs, succeeds on the third.
        let spec = JobSpec(command: ["sh", "-c", "n=$(cat \(counter) 2>/dev/null || echo 0); n=$((n+1)); echo $n > \(counter); echo run $n; [ $n -ge 3 ]"],
                           retries: 5, retryDelayMs: 10)
        let (id, updates) = try await client.submitAndFollow(spec)
        var states: [JobState] = []
        var output = ""
        for await update in updates {
            switch update {
            case .event(let e): states.append(e.state)
            case .output(_, let bytes): output += String(decoding: bytes, as: UTF8.self)
            }
        }
        #expect(states == [.running, .pending, .running, .pending, .running, .completed])
        #expect(output == "run 1\nrun 2\nrun 3\n")
        let info = try await client.status(id)
        #expect(info.state == .completed)
        #expect(info.attempts == 3)
        try? FileManager.default.removeItem(atPath: counter)
        await client.close()
        #expect(await cluster.stop() == 0)
    }

    @Test func retriesRunOutAndTheLastFailureStands() async throws {
        let cluster = try await EmbeddedCluster.start(workers: 1)
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        let id = try await client.submit(JobSpec(command: ["sh", "-c", "exit 7"], retries: 2, retryDelayMs: 5))
        let info = try await client.wait(id)
        #expect(info.state == .failed)
        #expect(info.attempts == 3)
        #expect(info.result?.exitCode == 7)
        await client.close()
        #expect(await cluster.stop() == 0)
    }

    @Test func aJobWaitingToRetrySaysSoAndCanBeCancelled() async throws {
        let cluster = try await EmbeddedCluster.start(workers: 1)
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        let id = try await client.submit(JobSpec(command: ["false"], retries: 1, retryDelayMs: 60_000))
        try await waitUntil { try await client.status(id).pendingReason.hasPrefix("retry 1 of 1 in ") }
        let pending = try await client.status(id)
        #expect(pending.state == .pending)
        #expect(pending.notBeforeMs > pending.submittedAtMs)
        #expect(pending.result?.exitCode == 1)
        try await client.cancel(id)
        #expect(try await client.status(id).state == .cancelled)
        await client.close()
        #expect(await cluster.stop() == 0)
    }

    @Test func aTimeoutKillsTheWholeProcessGroup() async throws {
        let cluster = try await EmbeddedCluster.start(workers: 1)
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        let (id, updates) = try await client.submitAndFollow(JobSpec(
            command: ["sh", "-c", "sleep 30 & echo grandchild=$!; wait"], timeoutMs: 300))
        var grandchild: Int32?
        var final: JobEvent?
        for await update in updates {
            switch update {
            case .output(_, let b):
                let text = String(decoding: b, as: UTF8.self)
                if let r = text.range(of: "grandchild=") {
                    grandchild = Int32(text[r.upperBound...].prefix { $0.isNumber })
                }
            case .event(let e):
                if e.state.isFinal { final = e }
            }
        }
        #expect(final?.state == .failed)
        #expect(final?.result?.timedOut == true)
        #expect(final?.result?.signal == SIGTERM)
        let pid = try #require(grandchild)
        try await waitUntil { !processIsAlive(pid) }
        #expect(try await client.status(id).attempts == 1)
        await client.close()
        #expect(await cluster.stop() == 0)
    }

    @Test func aDelayedJobStartsNoEarlierThanItsDelay() async throws {
        let cluster = try await EmbeddedCluster.start(workers: 1)
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        // Long enough that the status below comes first even on a loaded machine.
        let id = try await client.submit(JobSpec(command: ["true"], delayMs: 3_000))
        let pending = try await client.status(id)
        #expect(pending.state == .pending)
        #expect(pending.pendingReason.hasPrefix("delayed: starts in "), "\(pending.pendingReason)")
        let done = try await client.wait(id)
        #expect(done.state == .completed)
        let started = try #require(done.result?.startedAtMs)
        #expect(started - done.submittedAtMs >= 2_995)
        await client.close()
        #expect(await cluster.stop() == 0)
    }

    @Test func aCancelledDelayedJobNeverRuns() async throws {
        let cluster = try await EmbeddedCluster.start(workers: 1)
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        // Delays long enough that the cancel lands first even on a loaded machine.
        let cancelled = try await client.submit(JobSpec(command: ["true"], delayMs: 3_000))
        try await client.cancel(cancelled)
        // A later sentinel: once it has run, the cancelled job's time has passed.
        let sentinel = try await client.wait(try await client.submit(JobSpec(command: ["true"], delayMs: 3_100)))
        #expect(sentinel.state == .completed)
        let info = try await client.status(cancelled)
        #expect(info.state == .cancelled)
        #expect(info.attempts == 0)
        await client.close()
        #expect(await cluster.stop() == 0)
    }
}
