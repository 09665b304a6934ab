import Foundation
import Logging
import Synchronization
import Testing
import TitanProtocol
@testable import TitanMaster

@Suite struct LogStoreTests {
    static func directory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("titan-logstore-\(UUID().uuidString)").path
    }

    /// A wall clock the test moves.
    final class Clock: Sendable {
        let ms = Mutex<Int64>(1_700_000_000_000)
        func set(_ value: Int64) { ms.withLock { $0 = value } }
        var now: Int64 { ms.withLock { $0 } }
    }

    static func page(_ store: LogStore, _ jobId: String, _ query: LogPageQuery) async -> Result<LogPageResult, LogStoreError> {
        await withCheckedContinuation { c in
            store.send(.page(jobId: jobId, query) { c.resume(returning: $0) })
        }
    }

    /// Every page from `query`'s start to the end; checks each is within the limit.
    static func readAll(_ store: LogStore, _ jobId: String, _ first: LogPageQuery) async throws -> (chunks: [LogChunk], pages: Int) {
        var query = first
        var chunks: [LogChunk] = []
        var pages = 0
        while true {
            let page = try await Self.page(store, jobId, query).get()
            pages += 1
            #expect(page.chunks.reduce(0) { $0 + $1.bytes.count } <= query.limit)
            chunks += page.chunks
            if page.atEnd { return (chunks, pages) }
            #expect(!page.chunks.isEmpty, "a page before the end made no progress")
            query = LogPageQuery(cursor: page.next, limit: query.limit)
        }
    }

    static func text(_ chunks: [LogChunk]) -> String { String(decoding: chunks.flatMap(\.bytes), as: UTF8.self) }

    static func numbered(_ range: ClosedRange<Int>) -> String { range.map { "line \($0)\n" }.joined() }

    @Test func outputIsStoredPerJobAndReadBackInOrder() async throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try LogStore(directory: dir, logger: Logger(label: "test"))
        store.send(.append(jobId: "dag-1/a b", .stdout, Array("one\n".utf8)))
        store.send(.append(jobId: "dag-1/a b", .stderr, [0, 255, 10]))
        store.send(.append(jobId: "job-2", .stdout, Array("other\n".utf8)))
        let read = try await Self.readAll(store, "dag-1/a b", LogPageQuery(limit: 1 << 20))
        #expect(read.chunks == [LogChunk(stream: .stdout, bytes: Array("one\n".utf8)), LogChunk(stream: .stderr, bytes: [0, 255, 10])])
        #expect(LogStore.fileName(for: "dag-1/a b") == "dag-1%2Fa%20b.log")
        let none = try await Self.page(store, "job-nothing", LogPageQuery(limit: 100)).get()
        #expect(!none.exists && none.chunks.isEmpty && none.atEnd)
        await store.stop()
        #expect(FileManager.default.fileExists(atPath: dir + "/dag-1%2Fa%20b.log"))
    }

    /// Pages stay within their limit, split records where they must, and resume exactly.
    @Test func pagesAreBoundedAndResumeWhereTheLastEnded() async throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try LogStore(directory: dir, logger: Logger(label: "test"))
        var expected: [UInt8] = []
        var streams: [OutputChannel] = []
        for i in 0..<400 {
            let bytes = Array(String(repeating: "\(i) ", count: i * 7 % 300 + 1).utf8) + [10]
            let stream: OutputChannel = i % 3 == 0 ? .stderr : .stdout
            store.send(.append(jobId: "j", stream, bytes))
            expected += bytes
            streams += Array(repeating: stream, count: bytes.count)
        }
        // One append over the 1 MiB record size.
        let big = (0..<(2_500_000)).map { UInt8(truncatingIfNeeded: $0 % 251) }
        store.send(.append(jobId: "j", .stdout, big))
        expected += big
        streams += Array(repeating: .stdout, count: big.count)
        for limit in [4_099, 65_536, 1 << 20] {
            let read = try await Self.readAll(store, "j", LogPageQuery(limit: limit))
            #expect(read.chunks.flatMap(\.bytes) == expected, "limit \(limit)")
            #expect(read.chunks.flatMap { Array(repeating: $0.stream, count: $0.bytes.count) } == streams)
            #expect(read.pages >= expected.count / limit)
        }
        // A cursor that is not a position of this log is refused, naming it.
        let first = try await Self.page(store, "j", LogPageQuery(limit: 10)).get()
        let record = LogPosition(cursor: first.next).record
        for bad in [LogPosition(record: record + 1).cursor, LogPosition(record: record, intra: 1 << 23).cursor,
                    LogPosition(record: 1 << 39).cursor] {
            guard case .failure(let error) = await Self.page(store, "j", LogPageQuery(cursor: bad, limit: 10)) else {
                Issue.record("cursor \(bad) accepted")
                continue
            }
            #expect(error.badRequest && error.problem.contains("cursor \(bad)"))
        }
        await store.stop()
    }

    @Test func tailStartsWhereTheLastLinesBegin() async throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try LogStore(directory: dir, logger: Logger(label: "test"))
        // Past several index entries (one per 256 KiB), lines split across chunks.
        let all = Self.numbered(1...60_000)
        let bytes = Array(all.utf8)
        var i = 0
        while i < bytes.count {
            let n = min(bytes.count - i, 1_000 + i % 4_093)
            store.send(.append(jobId: "t", .stdout, Array(bytes[i..<i + n])))
            i += n
        }
        for n: UInt32 in [1, 2, 100, 59_999] {
            let read = try await Self.readAll(store, "t", LogPageQuery(limit: 1 << 20, tailLines: n))
            #expect(Self.text(read.chunks) == Self.numbered((60_001 - Int(n))...60_000), "tail \(n)")
        }
        #expect(Self.text(try await Self.readAll(store, "t", LogPageQuery(limit: 1 << 20, tailLines: 70_000)).chunks) == all)
        // An unfinished last line counts as a line.
        store.send(.append(jobId: "u", .stdout, Array("a\nb\nc".utf8)))
        #expect(Self.text(try await Self.readAll(store, "u", LogPageQuery(limit: 100, tailLines: 2)).chunks) == "b\nc")
        // The last bytes: what getLogs shows, and how much it leaves out.
        let last = try await Self.page(store, "t", LogPageQuery(limit: 1 << 20, lastBytes: 1_000)).get()
        #expect(last.chunks.flatMap(\.bytes) == Array(bytes.suffix(1_000)))
        #expect(last.before == UInt64(bytes.count - 1_000))
        await store.stop()
    }

    /// Time marks: at most one per second; `sinceMs` starts at the first second that ends after it.
    @Test func sinceSkipsOutputOlderThanItsSecond() async throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let clock = Clock()
        let t0 = clock.now
        let store = try LogStore(directory: dir, logger: Logger(label: "test"), clock: { clock.now })
        let steps: [(Int64, String)] = [(0, "a\n"), (500, "b\n"), (5_000, "c\n"), (9_000, "d\n"), (9_999, "e\n")]
        for (at, text) in steps {
            // The writer dates a chunk when it writes it: wait for each to be on disk before moving the clock.
            clock.set(t0 + at)
            store.send(.append(jobId: "s", .stdout, Array(text.utf8)))
            _ = await Self.page(store, "s", LogPageQuery(limit: 1))
        }
        func since(_ ms: Int64) async throws -> String {
            Self.text(try await Self.readAll(store, "s", LogPageQuery(limit: 1 << 20, sinceMs: t0 + ms)).chunks)
        }
        #expect(try await since(-10_000) == "a\nb\nc\nd\ne\n")
        #expect(try await since(1_000) == "c\nd\ne\n")
        #expect(try await since(4_500) == "c\nd\ne\n")
        #expect(try await since(9_000) == "d\ne\n")
        #expect(try await since(9_500) == "d\ne\n")  // within d's second
        #expect(try await since(10_001) == "")
        // Marks: one per second with output (a, c, d): 3 marks of 13 bytes.
        let size = (try FileManager.default.attributesOfItem(atPath: dir + "/s.log")[.size] as? Int) ?? 0
        #expect(size == steps.reduce(0) { $0 + 5 + $1.1.utf8.count } + 3 * 13)
        await store.stop()
    }

    /// A log written before time marks and indexes (records of `stream, length, bytes` only) is
    /// read as it is, and gets an index when its job writes more.
    @Test func aLogInTheOldFormatIsReadAndAppendedTo() async throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var old: [UInt8] = []
        for i in 1...5_000 {
            let line = Array("old \(i)\n".utf8)
            old += [i % 2 == 0 ? 2 : 1, 0, 0, 0, UInt8(line.count)] + line
        }
        #expect(FileManager.default.createFile(atPath: dir + "/job-7.log", contents: Data(old)))
        let store = try LogStore(directory: dir, logger: Logger(label: "test"))
        let expectedOld = (1...5_000).map { "old \($0)\n" }.joined()
        let read = try await Self.readAll(store, "job-7", LogPageQuery(limit: 4_096))
        #expect(Self.text(read.chunks) == expectedOld)
        #expect(read.chunks[0] == LogChunk(stream: .stdout, bytes: Array("old 1\n".utf8)))
        #expect(Self.text(try await Self.readAll(store, "job-7", LogPageQuery(limit: 4_096, tailLines: 3)).chunks)
                == "old 4998\nold 4999\nold 5000\n")
        // No times in it: all of it is shown.
        #expect(Self.text(try await Self.readAll(store, "job-7", LogPageQuery(limit: 1 << 20, sinceMs: 1)).chunks) == expectedOld)
        store.send(.append(jobId: "job-7", .stdout, Array("new\n".utf8)))
        #expect(Self.text(try await Self.readAll(store, "job-7", LogPageQuery(limit: 1 << 20)).chunks) == expectedOld + "new\n")
        #expect(Self.text(try await Self.readAll(store, "job-7", LogPageQuery(limit: 1 << 20, tailLines: 2)).chunks) == "old 5000\nnew\n")
        #expect(FileManager.default.fileExists(atPath: dir + "/job-7.log.idx"))
        await store.stop()
    }

    /// A master that died mid-write left half a record: readers stop before it, and the next
    /// write (by a new master) cuts it off first. A lost index only costs reading from the start.
    @Test func aTornLastRecordAndALostIndexAreSurvived() async throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var store = try LogStore(directory: dir, logger: Logger(label: "test"))
        for i in 1...20_000 { store.send(.append(jobId: "k", .stdout, Array("k \(i)\n".utf8))) }
        await store.stop()
        let path = dir + "/k.log"
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: [1, 0, 0, 0, 50] + Array("torn".utf8))
        try handle.close()
        store = try LogStore(directory: dir, logger: Logger(label: "test"))
        let expected = (1...20_000).map { "k \($0)\n" }.joined()
        #expect(Self.text(try await Self.readAll(store, "k", LogPageQuery(limit: 10_000)).chunks) == expected)
        store.send(.append(jobId: "k", .stderr, Array("after\n".utf8)))
        #expect(Self.text(try await Self.readAll(store, "k", LogPageQuery(limit: 10_000)).chunks) == expected + "after\n")
        await store.stop()
        try FileManager.default.removeItem(atPath: path + ".idx")
        store = try LogStore(directory: dir, logger: Logger(label: "test"))
        #expect(Self.text(try await Self.readAll(store, "k", LogPageQuery(limit: 1 << 20, tailLines: 2)).chunks) == "k 20000\nafter\n")
        #expect(Self.text(try await Self.readAll(store, "k", LogPageQuery(limit: 7_000)).chunks) == expected + "after\n")
        store.send(.remove(jobId: "k"))
        await store.stop()
        #expect(!FileManager.default.fileExists(atPath: path) && !FileManager.default.fileExists(atPath: path + ".idx"))
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

@Suite struct LogBufferTests {
    static func text(_ chunks: [LogChunk]) -> String { String(decoding: chunks.flatMap(\.bytes), as: UTF8.self) }

    /// Memory cursors count dropped bytes: a page after a drop says what was lost.
    @Test func pagesCountDroppedBytes() {
        var buffer = LogBuffer(limitBytes: 21, complete: true)
        #expect(buffer.holdsAll)
        for i in 0..<10 { buffer.append(.stdout, Array("line \(i)\n".utf8), atMs: Int64(i) * 1_000) }
        #expect(!buffer.holdsAll)
        #expect(buffer.startPosition == 49 && buffer.endPosition == 70)
        let first = buffer.page(from: 0, limit: 5)
        #expect(first.skipped == 49 && Self.text(first.chunks) == "line " && first.next == 54)
        let rest = buffer.page(from: first.next, limit: 100)
        #expect(rest.skipped == 0 && Self.text(rest.chunks) == "7\nline 8\nline 9\n" && rest.next == 70)
        #expect(buffer.page(from: 70, limit: 100).chunks.isEmpty)
        #expect(Self.text(buffer.page(from: 0, limit: 100, tailLines: 2).chunks) == "line 8\nline 9\n")
        #expect(Self.text(buffer.page(from: 0, limit: 100, sinceMs: 9_000).chunks) == "line 9\n")
        #expect(buffer.page(from: 0, limit: 100, sinceMs: 10_000).chunks.isEmpty)
        #expect(!LogBuffer(limitBytes: 20).holdsAll)
    }
}
