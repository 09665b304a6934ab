import Foundation
import Logging
import Testing
import TitanLoop
import TitanProtocol
import TitanStore
@testable import TitanMaster

/// A real journal (written by a master: jobs and KV keys) damaged in the middle: the master
/// refuses to start and says how to repair; with `repairJournal` it keeps everything else.
@Suite("Journal: repair of damage in the middle")
struct JournalRepairTests {
    enum Damage: String, CaseIterable, CustomStringConvertible {
        case flippedByte, garbageInserted, zeroedRecord, truncatedLength

        var description: String { rawValue }

        /// Damages the record at `range` of `bytes`; whether that record is lost.
        func apply(to bytes: inout [UInt8], record range: Range<Int>) -> Bool {
            switch self {
            case .flippedByte:
                bytes[range.lowerBound + 8 + (range.count - 8) / 2] ^= 0x40
            case .garbageInserted:
                bytes.insert(contentsOf: (0..<50).map { UInt8(truncatingIfNeeded: $0 &* 29 &+ 3) }, at: range.lowerBound)
                return false
            case .zeroedRecord:
                for i in range { bytes[i] = 0 }
            case .truncatedLength:
                let half = UInt32(range.count - 8) / 2
                withUnsafeBytes(of: half.bigEndian) { bytes.replaceSubrange(range.lowerBound..<(range.lowerBound + 4), with: $0) }
            }
            return true
        }
    }

    /// Record extents of a journal file.
    static func records(_ bytes: [UInt8]) -> [Range<Int>] {
        var offset = RecordFormat.fileHeaderSize
        var ranges: [Range<Int>] = []
        while offset + 8 <= bytes.count {
            let length = bytes[offset..<(offset + 4)].reduce(0) { $0 << 8 | Int($1) }
            ranges.append(offset..<(offset + 8 + length))
            offset += 8 + length
        }
        return ranges
    }

    static func start(_ dir: String, repair: Bool, loop: EventLoop, logger: Logger) async throws(MasterStartError) -> MasterNode {
        var config = MasterConfig()
        config.port = 0
        config.dataDirectory = dir
        config.repairJournal = repair
        return try await MasterNode.start(config: config, loop: loop, logger: logger)
    }

    @Test("a damaged journal stops the start with offset, record and --repair-journal; the repair keeps the rest", arguments: Damage.allCases)
    func repairKeepsEverythingElse(damage: Damage) async throws {
        let dir = scratchDirectory("repair")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let loop = EventLoop()
        var logger = Logger(label: "test")
        logger.logLevel = .critical

        // Five jobs (job-3 the victim) and five KV keys, interleaved.
        var master = try await Self.start(dir, repair: false, loop: loop, logger: logger)
        var client = try await TitanClientStub.connect("127.0.0.1:\(master.port)")
        for i in 1...5 {
            let word = i == 3 ? "victim" : "job\(i)"
            #expect(try await client.request(.submit(JobSpec(command: ["echo", word]), follow: false)) == .submitted(jobId: "job-\(i)"))
            #expect(try await client.request(.kv(.set(key: "k\(i)", value: Array("v\(i)".utf8), ttlMs: 0))) == .kvResult(.integer(1)))
        }
        await client.close()
        await master.stop()

        let path = dir + "/titan.aof"
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        let ranges = Self.records(bytes)
        let index = try #require(ranges.firstIndex { bytes[$0].contains(subsequence: Array("victim".utf8)) })
        let victim = ranges[index]
        let lost = damage.apply(to: &bytes, record: victim)
        try Data(bytes).write(to: URL(fileURLWithPath: path))

        // Without the repair: refused, saying where, which record, and how to repair.
        do {
            _ = try await Self.start(dir, repair: false, loop: loop, logger: logger)
            Issue.record("started on a journal damaged in the middle")
        } catch {
            guard case .journalDamaged = error else {
                Issue.record("unexpected error: \(error)")
                throw error
            }
            let message = "\(error)"
            #expect(message.contains("record #\(index) at byte offset \(victim.lowerBound)"), "\(message)")
            #expect(message.contains("--repair-journal"), "\(message)")
        }
        #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: path))) == bytes, "a refused start leaves the file alone")

        // With it: the master starts; everything but the damaged record is back.
        master = try await Self.start(dir, repair: true, loop: loop, logger: logger)
        let report = try #require(master.journalRepair)
        #expect(report.changed)
        let first = try #require(report.dropped.first)
        #expect(first.offset == Int64(victim.lowerBound))
        #expect(first.length == (lost ? Int64(victim.count) : 50))
        #expect(report.description.contains("offset \(victim.lowerBound), \(first.length) bytes"), "\(report)")
        let copy = try #require(report.damagedCopy)
        #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: copy))) == bytes)

        client = try await TitanClientStub.connect("127.0.0.1:\(master.port)")
        for i in 1...5 {
            let status = try await client.request(.getStatus(jobId: "job-\(i)"))
            if i == 3 && lost {
                guard case .error(.notFound, _) = status else {
                    Issue.record("job-3 was in the damaged record but is back: \(status)")
                    continue
                }
            } else {
                guard case .status(let info) = status else {
                    Issue.record("job-\(i) lost: \(status)")
                    continue
                }
                #expect(info.spec.command == ["echo", i == 3 ? "victim" : "job\(i)"])
            }
            #expect(try await client.request(.kv(.get(key: "k\(i)"))) == .kvResult(.value(Array("v\(i)".utf8))))
        }
        // A new job does not reuse a number.
        guard case .submitted(let id) = try await client.request(.submit(JobSpec(command: ["true"]), follow: false)) else {
            Issue.record("the repaired master refuses work")
            return
        }
        #expect(id == "job-6")
        await client.close()
        await master.stop()
        #expect(await loop.shutdown() == 0)
    }
}

extension ArraySlice where Element: Equatable {
    func contains(subsequence: [Element]) -> Bool {
        guard subsequence.count <= count else { return false }
        return indices.dropLast(subsequence.count - 1).contains { self[$0..<($0 + subsequence.count)].elementsEqual(subsequence) }
    }
}
