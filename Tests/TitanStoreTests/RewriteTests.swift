import Foundation
import Testing
@testable import TitanStore

@Suite struct RewriteTests {
    @Test func snapshotThenLaterAppendsLandInTheNewFile() throws {
        let scratch = Scratch()
        let path = scratch.path()
        let log = try AppendLog(path: path, policy: .always)
        let waiter = Waiter<Result<Void, StoreError>>()
        for i in 0..<100 { log.append(payload(i), completion: waiter.callback()) }
        let snapshot = [Array("snap-a".utf8), Array("snap-b".utf8)]
        log.rewrite(snapshot: snapshot, completion: waiter.callback())
        // Submitted after the rewrite request, possibly before it runs: must follow the snapshot.
        for i in 100..<150 { log.append(payload(i), completion: waiter.callback()) }
        #expect(waiter.wait())
        #expect(waiter.results.allSatisfy { $0.isSuccess })
        #expect(waitFor { log.close(completion: $0) }?.isSuccess == true)

        let (records, report) = try replayAll(path)
        #expect(records == snapshot + (100..<150).map { payload($0) })
        #expect(log.fileSize == report.fileSize)
        #expect(!FileManager.default.fileExists(atPath: path + ".rewrite"))
    }

    @Test func staleRewriteFileIsRemovedAtOpen() throws {
        let scratch = Scratch()
        let path = scratch.path()
        try writeLog(path, [payload(0)])
        writeFile(path + ".rewrite", RecordFormat.fileHeader + RecordFormat.encode([9, 9]))
        let log = try AppendLog(path: path, policy: .no)
        #expect(!FileManager.default.fileExists(atPath: path + ".rewrite"))
        #expect(waitFor { log.close(completion: $0) }?.isSuccess == true)
        #expect(try replayAll(path).records == [payload(0)])
    }

    @Test func crashBeforeRenameLeavesTheOldFileIntact() throws {
        let scratch = Scratch()
        let path = scratch.path()
        let before = (0..<10).map { payload($0) }
        try writeLog(path, before)
        let original = fileBytes(path)

        let log = try AppendLog(path: path, policy: .always, hooks: .init(crashBeforeRename: true))
        #expect(waitFor { log.rewrite(snapshot: [[1], [2]], completion: $0) }?.isSuccess == false)
        #expect(FileManager.default.fileExists(atPath: path + ".rewrite"), "the crash left the new file behind")
        #expect(fileBytes(path) == original)
        #expect(waitFor { log.append([3], completion: $0) }?.isSuccess == false, "a crashed log accepts nothing")

        // Restart: replay sees the old records, open discards the half-done compaction.
        #expect(try replayAll(path, repair: true).records == before)
        try writeLog(path, [[4]])
        #expect(!FileManager.default.fileExists(atPath: path + ".rewrite"))
        #expect(try replayAll(path).records == before + [[4]])
    }

    @Test func failedProducerKeepsTheOldFile() throws {
        let scratch = Scratch()
        let path = scratch.path()
        let log = try AppendLog(path: path, policy: .always)
        #expect(waitFor { log.append([1], completion: $0) }?.isSuccess == true)
        let result = waitFor { done in
            log.rewrite(producer: { (sink) throws(StoreError) in
                try sink.append([7])
                try sink.append([])  // invalid: aborts the rewrite
            }, completion: done)
        }
        guard case .invalidRecord? = result?.failure else {
            Issue.record("expected .invalidRecord, got \(String(describing: result))")
            return
        }
        #expect(!FileManager.default.fileExists(atPath: path + ".rewrite"))
        #expect(waitFor { log.append([2], completion: $0) }?.isSuccess == true, "the log carries on")
        #expect(waitFor { log.close(completion: $0) }?.isSuccess == true)
        #expect(try replayAll(path).records == [[1], [2]])
    }

    @Test func compactingKVStateReplaysToTheSameState() throws {
        let scratch = Scratch()
        let path = scratch.path()
        let log = try AppendLog(path: path, policy: .no)
        var state = KVState()
        let waiter = Waiter<Result<Void, StoreError>>()
        func journal(_ mutation: KVMutation) throws {
            try state.apply(mutation)
            log.append(mutation.encoded(), completion: waiter.callback())
        }
        for i in 0..<200 {
            try journal(.set(key: "job:\(i % 20)", value: payload(i), expiresAtMs: i % 3 == 0 ? 5_000 : nil))
            try journal(.sadd(key: "agents", member: "agent-\(i % 7)"))
        }
        try journal(.del(key: "job:3"))
        try journal(.srem(key: "agents", member: "agent-2"))
        let (_, incr) = try state.incr("counter", by: 41, nowMs: 0)
        log.append(incr.encoded(), completion: waiter.callback())
        let sizeBefore = waitFor { log.sync(completion: $0) }.map { _ in log.fileSize }

        let frozen = state
        log.rewrite(producer: { (sink) throws(StoreError) in
            for mutation in frozen.snapshotMutations() { try sink.append(mutation.encoded()) }
        }, completion: waiter.callback())
        try journal(.sadd(key: "agents", member: "late"))
        #expect(waiter.wait())
        #expect(waiter.results.allSatisfy { $0.isSuccess })
        #expect(waitFor { log.close(completion: $0) }?.isSuccess == true)
        #expect(log.fileSize < sizeBefore!, "compaction shrank the file")

        var replayed = KVState()
        _ = try AOFReader.replay(path: path) { (bytes) throws(StoreError) in
            try replayed.apply(KVMutation(decoding: bytes))
        }
        #expect(replayed == state)
        #expect(try replayed.get("counter", nowMs: 0) == Array("41".utf8))
    }
}
