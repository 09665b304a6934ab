import Foundation
import Logging
import Testing
import TitanLoop
import TitanProtocol
import TitanStore
@testable import TitanMaster

/// A master whose disk filled up refuses work, and accepts it again by itself once there is
/// room, with a file that holds everything it acknowledged.
@Suite("Journal: recovery after a full disk")
struct JournalRecoveryTests {
    @Test("refused while the disk is full, accepted again without a restart, nothing acknowledged lost")
    func resumesByItself() async throws {
        let dir = scratchDirectory("recover")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let loop = EventLoop()
        var config = MasterConfig()
        config.port = 0
        config.dataDirectory = dir
        config.fsync = .no  // the write itself fails, not a periodic fsync
        let logs = LogCapture()
        var master = try await MasterNode.start(config: config, loop: loop, logger: logs.logger)
        var client = try await TitanClientStub.connect("127.0.0.1:\(master.port)")
        var acknowledged: [String] = []
        func submit(_ word: String) async throws -> Message {
            let reply = try await client.request(.submit(JobSpec(command: ["echo", word]), follow: false))
            if case .submitted(let id) = reply { acknowledged.append(id) }
            return reply
        }
        #expect(try await submit("before") == .submitted(jobId: "job-1"))
        #expect(try await client.request(.kv(.set(key: "before", value: [1], ttlMs: 0))) == .kvResult(.integer(1)))

        // The disk fills up.
        try await master.scheduler.redirectJournalForTesting(to: "/dev/full")
        guard case .error(.unavailable, let lost) = try await submit("unrecorded") else {
            Issue.record("a submission that could not be recorded was acknowledged")
            return
        }
        #expect(lost.contains("not recorded"), "\(lost)")
        #expect(logs.contains("cannot write the append-only file"))
        // A retry runs and fails while the disk is still full; work is still refused after it.
        try await eventually("a failed retry") { logs.contains("still not writable") }
        let refusal = try await submit("refused")
        // (A submission's refusal comes with the validation errors' code, invalidRequest.)
        guard case .error(_, let refused) = refusal else {
            Issue.record("work accepted while the disk is full: \(refusal)")
            return
        }
        #expect(refused.contains("accepts no new work"), "\(refused)")
        guard case .error(.unavailable, _) = try await client.request(.kv(.set(key: "refused", value: [2], ttlMs: 0))) else {
            Issue.record("a KV write accepted while the disk is full")
            return
        }

        // Space is freed: work is accepted again, no restart.
        await master.scheduler.endJournalRedirectForTesting()
        try await eventually(seconds: 10, "work accepted again") {
            if case .submitted = try await submit("after") { return true }
            return false
        }
        #expect(logs.contains("the append-only file is writable again; accepting work"), "\(logs.all)")
        for i in 1...3 { _ = try await submit("later\(i)") }
        #expect(try await client.request(.kv(.set(key: "after", value: [3], ttlMs: 0))) == .kvResult(.integer(1)))
        #expect(acknowledged.count == 5, "\(acknowledged)")

        // Killed now: the file is what a crash leaves (fsync no: written, maybe not synced).
        let path = dir + "/titan.aof"
        let crashImage = try Data(contentsOf: URL(fileURLWithPath: path))
        await client.close()
        await master.stop()
        try crashImage.write(to: URL(fileURLWithPath: path))

        master = try await MasterNode.start(config: config, loop: loop, logger: logs.logger)
        client = try await TitanClientStub.connect("127.0.0.1:\(master.port)")
        for id in acknowledged {
            guard case .status(let info) = try await client.request(.getStatus(jobId: id)) else {
                Issue.record("\(id) was acknowledged but is lost after the restart")
                continue
            }
            #expect(info.state == .pending)
        }
        #expect(try await client.request(.kv(.get(key: "before"))) == .kvResult(.value([1])))
        #expect(try await client.request(.kv(.get(key: "after"))) == .kvResult(.value([3])))
        #expect(try await client.request(.kv(.get(key: "refused"))) == .kvResult(.value(nil)))
        await client.close()
        await master.stop()
        #expect(await loop.shutdown() == 0)
    }
}
