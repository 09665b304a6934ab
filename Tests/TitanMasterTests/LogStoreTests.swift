import Foundation
import Logging
import Testing
import TitanProtocol
@testable import TitanMaster

@Suite struct LogStoreTests {
    static func directory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("titan-logstore-\(UUID().uuidString)").path
    }

    @Test func outputIsStoredPerJobAndReadBackInOrder() async throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try LogStore(directory: dir, logger: Logger(label: "test"))
        store.send(.append(jobId: "dag-1/a b", .stdout, Array("one\n".utf8)))
        store.send(.append(jobId: "dag-1/a b", .stderr, [0, 255, 10]))
        store.send(.append(jobId: "job-2", .stdout, Array("other\n".utf8)))
        let chunks = await withCheckedContinuation { c in
            store.send(.read(jobId: "dag-1/a b") { c.resume(returning: (try? $0.get()) ?? []) })
        }
        #expect(chunks == [LogChunk(stream: .stdout, bytes: Array("one\n".utf8)), LogChunk(stream: .stderr, bytes: [0, 255, 10])])
        #expect(LogStore.fileName(for: "dag-1/a b") == "dag-1%2Fa%20b.log")
        await store.stop()
        #expect(FileManager.default.fileExists(atPath: dir + "/dag-1%2Fa%20b.log"))
    }

    /// With the writer gone (stopped), nothing drains: the backlog cap is reached for certain.
    @Test func outputPastTheBacklogCapIsDroppedAndCounted() async throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try LogStore(directory: dir, logger: Logger(label: "test"), maxQueuedBytes: 25)
        await store.stop()
        for _ in 0..<3 { store.send(.append(jobId: "j", .stdout, Array(repeating: 65, count: 10))) }
        #expect(store.droppedBytes == 10)
        store.send(.append(jobId: "j", .stdout, Array(repeating: 65, count: 10)))
        #expect(store.droppedBytes == 20)
    }

    @Test func anUnwritableDirectoryIsRefusedWithItsPath() {
        #expect(throws: LogStoreError.self) { try LogStore(directory: "/proc/titan-nope/logs", logger: Logger(label: "test")) }
    }
}
