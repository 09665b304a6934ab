import Foundation
import Testing
@testable import TitanStore

/// Where each record of a file holding `payloads` starts, plus the end of the last.
private func starts(_ payloads: [[UInt8]]) -> [Int] {
    var offsets = [RecordFormat.fileHeaderSize]
    for p in payloads { offsets.append(offsets.last! + RecordFormat.recordHeaderSize + p.count) }
    return offsets
}

/// Files of the scratch directory whose name starts with `prefix`.
private func files(in scratch: borrowing Scratch, prefix: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: scratch.directory)) ?? []).filter { $0.hasPrefix(prefix) }
}

@Suite struct AOFRepairTests {
    let payloads = (0..<12).map { payload($0, size: 40 + $0) }

    /// Writes the log, damages it with `damage`, repairs it and checks the result: the records
    /// kept, the file replaying cleanly to exactly them and taking appends, the copy of the damaged
    /// file byte for byte.
    private func repaired(_ damage: (inout [UInt8], [Int]) -> Void, validate: @escaping AOFRepair.Validator = { _ in nil },
                          expect kept: [[UInt8]], sourceLocation: SourceLocation = #_sourceLocation) throws -> RepairReport {
        let scratch = Scratch()
        let path = scratch.path()
        try writeLog(path, payloads)
        var bytes = fileBytes(path)
        damage(&bytes, starts(payloads))
        writeFile(path, bytes)
        #expect(throws: StoreError.self, sourceLocation: sourceLocation) { try replayAll(path) }

        let report = try AOFRepair.repair(path: path, validate: validate)
        #expect(report.changed, sourceLocation: sourceLocation)
        #expect(report.keptRecords == kept.count, sourceLocation: sourceLocation)
        let (records, replay) = try replayAll(path)
        #expect(records == kept, sourceLocation: sourceLocation)
        #expect(replay.tornTail == nil, sourceLocation: sourceLocation)
        #expect(Int64(fileBytes(path).count) == report.repairedSize, sourceLocation: sourceLocation)
        #expect(report.fileSize == Int64(bytes.count), sourceLocation: sourceLocation)
        #expect(report.repairedSize + report.bytesDropped == report.fileSize, sourceLocation: sourceLocation)
        let copy = try #require(report.damagedCopy, sourceLocation: sourceLocation)
        #expect(copy.hasPrefix(path + ".damaged-"), sourceLocation: sourceLocation)
        #expect(fileBytes(copy) == bytes, "the damaged file is kept as it was", sourceLocation: sourceLocation)
        #expect(files(in: scratch, prefix: "titan.aof.rewrite").isEmpty, sourceLocation: sourceLocation)
        // The repaired file is an ordinary log again.
        try writeLog(path, [Array("after".utf8)])
        #expect(try replayAll(path).records == kept + [Array("after".utf8)], sourceLocation: sourceLocation)
        return report
    }

    @Test func aFlippedByteInTheMiddleDropsExactlyThatRecord() throws {
        let report = try repaired({ bytes, at in bytes[at[5] + 8 + 20] ^= 0x10 },
                                  expect: payloads.enumerated().filter { $0.offset != 5 }.map(\.element))
        let at = starts(payloads)
        #expect(report.dropped == [DroppedRange(offset: Int64(at[5]), length: Int64(at[6] - at[5]), reason: .damaged(.checksumMismatch))])
        #expect(report.damagedRanges == 1 && report.rejectedRecords == 0)
        #expect(report.description.contains("offset \(at[5]), \(at[6] - at[5]) bytes"), "\(report)")
    }

    @Test func garbageInsertedBetweenRecordsIsDroppedAndNothingElse() throws {
        let garbage = (0..<77).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        let report = try repaired({ bytes, at in bytes.insert(contentsOf: garbage, at: at[4]) }, expect: payloads)
        let at = starts(payloads)
        #expect(report.dropped.map(\.offset) == [Int64(at[4])])
        #expect(report.dropped.map(\.length) == [77])
    }

    @Test func aZeroedBlockAcrossRecordsDropsTheRecordsItTouches() throws {
        let at = starts(payloads)
        // From the middle of record 3 to the middle of record 6.
        let report = try repaired({ bytes, at in
            for i in (at[3] + 20)..<(at[6] + 10) { bytes[i] = 0 }
        }, expect: Array(payloads[0..<3]) + Array(payloads[7...]))
        #expect(report.dropped == [DroppedRange(offset: Int64(at[3]), length: Int64(at[7] - at[3]), reason: .damaged(.checksumMismatch))])
    }

    @Test func aZeroedRecordIsReportedAsZeroFilled() throws {
        let at = starts(payloads)
        let report = try repaired({ bytes, at in
            for i in at[2]..<at[3] { bytes[i] = 0 }
        }, expect: payloads.enumerated().filter { $0.offset != 2 }.map(\.element))
        #expect(report.dropped == [DroppedRange(offset: Int64(at[2]), length: Int64(at[3] - at[2]), reason: .damaged(.zeroFilled))])
    }

    @Test(arguments: [1, 30, 300, 100_000_000])
    func aDamagedLengthFieldDropsOnlyItsRecord(length: UInt32) throws {
        // Shorter than the record, longer (into the next ones), past the end, above the limit.
        let report = try repaired({ bytes, at in
            withUnsafeBytes(of: length.bigEndian) { bytes.replaceSubrange(at[7]..<(at[7] + 4), with: $0) }
        }, expect: payloads.enumerated().filter { $0.offset != 7 }.map(\.element))
        let at = starts(payloads)
        #expect(report.dropped.map(\.offset) == [Int64(at[7])])
        #expect(report.dropped.map(\.length) == [Int64(at[8] - at[7])])
    }

    @Test func aRecordCutShortInTheMiddleOfTheFileDropsOnlyItsRemains() throws {
        let at = starts(payloads)
        let report = try repaired({ bytes, at in bytes.removeSubrange((at[6] + 15)..<at[7]) },
                                  expect: payloads.enumerated().filter { $0.offset != 6 }.map(\.element))
        #expect(report.dropped == [DroppedRange(offset: Int64(at[6]), length: 15, reason: .damaged(.checksumMismatch))])
    }

    @Test func anIntactRecordBetweenTwoDamagedOnesIsKept() throws {
        // Records 4 and 6 damaged: 5 is intact but its successor is not, so it is not confirmed.
        let report = try repaired({ bytes, at in
            bytes[at[4] + 30] ^= 1
            bytes[at[6] + 30] ^= 1
        }, expect: payloads.enumerated().filter { $0.offset != 4 && $0.offset != 6 }.map(\.element))
        #expect(report.dropped.count == 2)
    }

    @Test func aDamagedTailIsDroppedToo() throws {
        let report = try repaired({ bytes, at in
            bytes[at[3] + 9] ^= 0xFF
            bytes.removeLast(5)
        }, expect: Array(payloads[0..<3]) + Array(payloads[4..<11]))
        let at = starts(payloads)
        #expect(report.dropped.map(\.offset) == [Int64(at[3]), Int64(at[11])])
        #expect(report.dropped.last?.reason == .damaged(.incompletePayload))
    }

    @Test func recordsTheValidatorRefusesAreDroppedWhole() throws {
        let refused = Set([payloads[2], payloads[9]])
        let report = try repaired({ bytes, at in bytes[at[5] + 12] ^= 4 }, validate: { payload in
            refused.contains(Array(payload)) ? "refused for the test" : nil
        }, expect: payloads.enumerated().filter { ![2, 5, 9].contains($0.offset) }.map(\.element))
        let at = starts(payloads)
        #expect(report.dropped == [
            DroppedRange(offset: Int64(at[2]), length: Int64(at[3] - at[2]), reason: .rejected("refused for the test")),
            DroppedRange(offset: Int64(at[5]), length: Int64(at[6] - at[5]), reason: .damaged(.checksumMismatch)),
            DroppedRange(offset: Int64(at[9]), length: Int64(at[10] - at[9]), reason: .rejected("refused for the test")),
        ])
        #expect(report.rejectedRecords == 2 && report.damagedRanges == 1)
    }

    @Test func anIntactFileIsLeftAloneAndNotCopied() throws {
        let scratch = Scratch()
        let path = scratch.path()
        try writeLog(path, payloads)
        let before = fileBytes(path)
        let report = try AOFRepair.repair(path: path)
        #expect(!report.changed)
        #expect(report.keptRecords == payloads.count)
        #expect(report.damagedCopy == nil)
        #expect(fileBytes(path) == before)
        #expect(files(in: scratch, prefix: "titan.aof.damaged").isEmpty)
        #expect(try AOFRepair.repair(path: scratch.path("missing.aof")).fileExisted == false)
    }

    @Test func aFileThatIsNotALogIsRefusedAndLeftAsItWas() throws {
        let scratch = Scratch()
        let path = scratch.path()
        try writeLog(path, payloads)
        var bytes = fileBytes(path)
        bytes[2] ^= 0x20
        writeFile(path, bytes)
        #expect {
            try AOFRepair.repair(path: path)
        } throws: { error in
            guard case .badHeader(let where_, _) = error as? StoreError else { return false }
            return where_ == path
        }
        #expect(fileBytes(path) == bytes)
        #expect(files(in: scratch, prefix: "titan.aof.").isEmpty)
    }

    @Test func twoRepairsKeepBothCopies() throws {
        let scratch = Scratch()
        let path = scratch.path()
        try writeLog(path, payloads)
        var copies: [String] = []
        for round in 0..<2 {
            var bytes = fileBytes(path)
            bytes[RecordFormat.fileHeaderSize + 8 + round] ^= 1  // the first record, whichever it is now
            writeFile(path, bytes)
            copies.append(try #require(try AOFRepair.repair(path: path).damagedCopy))
        }
        #expect(Set(copies).count == 2)
        #expect(copies.allSatisfy { FileManager.default.fileExists(atPath: $0) })
        #expect(try replayAll(path).records == Array(payloads.dropFirst(2)))
    }
}
