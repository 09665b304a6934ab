import Foundation
import Testing
@_spi(Testing) @testable import TitanStore

/// A log whose writes failed (a full disk, simulated with /dev/full) comes back by rewriting
/// itself from a snapshot once there is room again.
@Suite struct AppendLogRecoveryTests {
    @Test func aFailedLogRecoversFromASnapshotOnceTheDiskHasRoom() throws {
        let scratch = Scratch()
        let path = scratch.path()
        let log = try AppendLog(path: path, policy: .always)
        #expect(waitFor { log.append(payload(1), completion: $0) }?.isSuccess == true)
        try log.redirectWritesForTesting(to: "/dev/full")
        let failed = waitFor { log.append(payload(2), completion: $0) }
        guard case .io(_, "write", ENOSPC)? = failed?.failure else {
            Issue.record("expected ENOSPC, got \(String(describing: failed))")
            return
        }
        #expect(log.hasFailed)
        guard case .unavailable? = waitFor({ log.append(payload(3), completion: $0) })?.failure else {
            Issue.record("a failed log accepted an append")
            return
        }

        // Still full: the recovery fails and the log stays failed.
        let snapshot = [payload(1), payload(2)]
        #expect(waitFor { log.recover(snapshot: snapshot, completion: $0) }?.failure != nil)
        #expect(log.hasFailed)
        #expect(waitFor { log.append(payload(4), completion: $0) }?.isSuccess == false)

        // Room again: the recovery rewrites the file. Appends made right after the request
        // queue behind it instead of being refused, and land after the snapshot.
        log.endRedirectForTesting()
        let waiter = Waiter<Result<Void, StoreError>>()
        log.recover(snapshot: snapshot, completion: waiter.callback())
        log.append(payload(5), completion: waiter.callback())
        log.appendBatch([payload(6), payload(7)], completion: waiter.callback())
        #expect(waiter.wait())
        #expect(waiter.results.allSatisfy { $0.isSuccess }, "\(waiter.results)")
        #expect(!log.hasFailed)
        #expect(waitFor { log.close(completion: $0) }?.isSuccess == true)
        #expect(try replayAll(path).records == snapshot + [payload(5), payload(6), payload(7)])
        #expect(!FileManager.default.fileExists(atPath: path + ".rewrite"))
    }
}
