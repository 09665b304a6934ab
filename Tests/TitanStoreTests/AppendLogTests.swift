import Dispatch
import Glibc
import Testing
@_spi(Testing) @testable import TitanStore

@Suite struct AppendLogTests {
    @Test func createsTheFileWithAHeader() throws {
        let scratch = Scratch()
        let log = try AppendLog(path: scratch.path(), policy: .always)
        #expect(fileBytes(scratch.path()) == RecordFormat.fileHeader)
        #expect(log.fileSize == Int64(RecordFormat.fileHeaderSize))
        #expect(waitFor { log.close(completion: $0) }?.isSuccess == true)
    }

    @Test func groupCommitBatchesTwentyThousandAppends() throws {
        let scratch = Scratch()
        let log = try AppendLog(path: scratch.path(), policy: .always)
        let fsyncsAtOpen = log.fsyncCount
        let waiter = Waiter<(index: Int, ok: Bool)>()
        for i in 0..<20_000 {
            let done = waiter.callback()
            log.append(payload(i)) { done((i, $0.isSuccess)) }
        }
        #expect(waiter.wait())
        #expect(waiter.results.allSatisfy { $0.ok })
        #expect(waiter.results.map(\.index) == Array(0..<20_000), "completions run in submission order")
        let fsyncs = log.fsyncCount - fsyncsAtOpen
        #expect(fsyncs >= 1)
        #expect(fsyncs < 2_000, "group commit used \(fsyncs) fsyncs for 20,000 appends")
        #expect(waitFor { log.close(completion: $0) }?.isSuccess == true)
        let (records, report) = try replayAll(scratch.path())
        #expect(records == (0..<20_000).map { payload($0) })
        #expect(report.tornTail == nil)
        #expect(log.fileSize == report.fileSize)
    }

    @Test func concurrentAppendersKeepTheirOwnOrder() throws {
        let scratch = Scratch()
        let log = try AppendLog(path: scratch.path(), policy: .always)
        let waiter = Waiter<Result<Void, StoreError>>()
        let callbacks = (0..<4_000).map { _ in waiter.callback() }
        DispatchQueue.concurrentPerform(iterations: 4) { thread in
            for i in 0..<1_000 {
                log.append(Array("\(thread):\(i)".utf8), completion: callbacks[thread * 1_000 + i])
            }
        }
        #expect(waiter.wait())
        #expect(waiter.results.allSatisfy { $0.isSuccess })
        #expect(waitFor { log.close(completion: $0) }?.isSuccess == true)
        var next = [0, 0, 0, 0]
        _ = try AOFReader.replay(path: scratch.path()) { record in
            let parts = String(decoding: record, as: UTF8.self).split(separator: ":").map { Int($0)! }
            #expect(parts[1] == next[parts[0]])
            next[parts[0]] += 1
        }
        #expect(next == [1_000, 1_000, 1_000, 1_000])
    }

    @Test func everysecSyncsInTheBackgroundNotPerAppend() throws {
        let scratch = Scratch()
        let log = try AppendLog(path: scratch.path(), policy: .everysec)
        let base = log.fsyncCount
        let waiter = Waiter<Result<Void, StoreError>>()
        for i in 0..<1_000 { log.append(payload(i), completion: waiter.callback()) }
        #expect(waiter.wait())
        #expect(waiter.results.allSatisfy { $0.isSuccess })
        #expect(log.fsyncCount - base <= 1, "acknowledged after write(2), not fsync")
        #expect(eventually { log.fsyncCount > base }, "the background fsync ran within the deadline")
        #expect(log.fsyncCount - base <= 2)
        #expect(waitFor { log.close(completion: $0) }?.isSuccess == true)
    }

    @Test func noPolicySyncsOnlyOnExplicitSyncAndClose() throws {
        let scratch = Scratch()
        let log = try AppendLog(path: scratch.path(), policy: .no)
        let base = log.fsyncCount
        let waiter = Waiter<Result<Void, StoreError>>()
        for i in 0..<1_000 { log.append(payload(i), completion: waiter.callback()) }
        #expect(waiter.wait())
        #expect(log.fsyncCount == base)
        #expect(waitFor { log.sync(completion: $0) }?.isSuccess == true)
        #expect(log.fsyncCount == base + 1)
        log.append(payload(1_000)) { _ in }
        #expect(waitFor { log.close(completion: $0) }?.isSuccess == true)
        #expect(log.fsyncCount == base + 2, "close syncs the unsynced tail")
        #expect(try replayAll(scratch.path()).records.count == 1_001)
    }

    @Test func asyncAPIAppendsAndCloses() async throws {
        let scratch = Scratch()
        let log = try AppendLog(path: scratch.path(), policy: .always)
        try await log.append([1, 2, 3])
        try await log.sync()
        try await log.close()
        await #expect(throws: StoreError.closed(path: scratch.path())) { try await log.append([4]) }
        #expect(try replayAll(scratch.path()).records == [[1, 2, 3]])
    }

    @Test func reopeningAppendsAfterExistingRecords() throws {
        let scratch = Scratch()
        try writeLog(scratch.path(), [payload(0), payload(1)])
        let log = try writeLog(scratch.path(), [payload(2)], policy: .always)
        let (records, report) = try replayAll(scratch.path())
        #expect(records == [payload(0), payload(1), payload(2)])
        #expect(log.fileSize == report.fileSize)
    }

    @Test func writeFailureFailsTheAppendAndEveryLaterOne() throws {
        let scratch = Scratch()
        let path = scratch.path()
        let log = try AppendLog(path: path, policy: .always)
        #expect(waitFor { log.append(payload(0), completion: $0) }?.isSuccess == true)
        try log.redirectWritesForTesting(to: "/dev/full")

        let first = waitFor { log.append(payload(1), completion: $0) }?.failure
        #expect(first == .io(path: path, operation: "write", errno: ENOSPC))
        #expect(first?.description.contains("No space left on device") == true)
        #expect(first?.description.contains(path) == true)

        // Refused on the caller's thread, before anything is queued.
        let immediate = Waiter<Result<Void, StoreError>>()
        log.append(payload(2), completion: immediate.callback())
        #expect(immediate.results.first?.failure == .unavailable(path: path, cause: .io(path: path, operation: "write", errno: ENOSPC)))
        #expect(waitFor { log.sync(completion: $0) }?.isSuccess == false)
        #expect(waitFor { log.close(completion: $0) }?.isSuccess == false, "close reports that data is missing")
        #expect(try replayAll(path).records == [payload(0)])
    }

    @Test func invalidPayloadsAndClosedLogsAreRefused() throws {
        let scratch = Scratch()
        let log = try AppendLog(path: scratch.path(), policy: .no)
        guard case .invalidRecord? = waitFor({ log.append([], completion: $0) })?.failure else {
            Issue.record("an empty payload must be refused")
            return
        }
        #expect(waitFor { log.close(completion: $0) }?.isSuccess == true)
        #expect(waitFor { log.append([1], completion: $0) }?.failure == .closed(path: scratch.path()))
        #expect(waitFor { log.close(completion: $0) }?.failure == .closed(path: scratch.path()))
    }

    @Test(arguments: ["missing-directory/titan.aof", "a-file/titan.aof"])
    func openingInAnUnusableDirectoryNamesThePath(relative: String) throws {
        let scratch = Scratch()
        writeFile(scratch.path("a-file"), [1])
        let path = scratch.path(relative)
        let error = #expect(throws: StoreError.self) { try AppendLog(path: path, policy: .always) }
        guard case let .io(errorPath, operation, code)? = error else {
            Issue.record("expected .io, got \(String(describing: error))")
            return
        }
        #expect(errorPath == path)
        #expect(operation == "open")
        #expect(code == ENOENT || code == ENOTDIR)
        #expect(error!.description.contains(path))
    }

    @Test func openingARegularFileWithoutAHeaderFails() throws {
        let scratch = Scratch()
        writeFile(scratch.path(), Array("TITAN".utf8))
        #expect(throws: StoreError.self) { try AppendLog(path: scratch.path(), policy: .no) }
    }
}
