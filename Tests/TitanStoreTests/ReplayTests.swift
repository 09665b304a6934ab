import Glibc
import Testing
@testable import TitanStore

/// Start offset of each record in a file holding `payloads`, plus the end of the last.
private func recordOffsets(_ payloads: [[UInt8]]) -> [Int] {
    var offsets = [RecordFormat.fileHeaderSize]
    for p in payloads { offsets.append(offsets.last! + 8 + p.count) }
    return offsets
}

@Suite struct ReplayTests {
    let payloads = (0..<5).map { payload($0) }

    @Test func missingFileIsEmptyState() throws {
        let scratch = Scratch()
        let (records, report) = try replayAll(scratch.path(), repair: true)
        #expect(records.isEmpty)
        #expect(!report.fileExisted)
        #expect(report.tornTail == nil)
    }

    @Test(arguments: [FsyncPolicy.always, .everysec, .no])
    func replaysExactlyWhatAppendLogWrote(policy: FsyncPolicy) throws {
        let scratch = Scratch()
        let written = (0..<500).map { payload($0) } + [[0, 0xFF, 0xC3, 0x28, 0]]  // binary, invalid UTF-8
        try writeLog(scratch.path(), written, policy: policy)
        let (records, report) = try replayAll(scratch.path())
        #expect(records == written)
        #expect(report.recordCount == written.count)
        #expect(report.tornTail == nil)
        #expect(report.validLength == report.fileSize)
    }

    @Test func unsafeReplayHandsOutTheSameBytes() throws {
        let scratch = Scratch()
        try writeLog(scratch.path(), payloads)
        var seen: [[UInt8]] = []
        let report = try AOFReader.replayUnsafe(path: scratch.path()) { seen.append(Array($0)) }
        #expect(seen == payloads)
        #expect(report.recordCount == payloads.count)
    }

    @Test func recordsLargerThanTheReadChunkReplay() throws {
        let scratch = Scratch()
        let big = [payload(1), payload(2, size: AOFReader.chunkSize + 12_345), payload(3)]
        try writeLog(scratch.path(), big)
        #expect(try replayAll(scratch.path()).records == big)
    }

    @Test func truncationAnywhereInTheLastRecordIsATornTail() throws {
        let scratch = Scratch()
        let path = scratch.path()
        let offsets = recordOffsets(payloads)
        let lastStart = offsets[payloads.count - 1], end = offsets[payloads.count]
        try writeLog(path, payloads)
        let original = fileBytes(path)
        for cut in (lastStart + 1)..<end {
            writeFile(path, Array(original[0..<cut]))
            let (records, report) = try replayAll(path, repair: true)
            #expect(records == Array(payloads.dropLast()), "cut at \(cut)")
            // The length field's leading bytes are zero, so a very short remnant is all zeros.
            let reason: TornTail.Reason = original[lastStart..<cut].allSatisfy { $0 == 0 } ? .zeroFilled
                : cut - lastStart < 8 ? .incompleteRecordHeader : .incompletePayload
            #expect(report.tornTail == TornTail(offset: Int64(lastStart), bytesDropped: Int64(cut - lastStart), reason: reason), "cut at \(cut)")
            #expect(report.repaired)
            #expect(fileBytes(path).count == lastStart, "file truncated to the last good record")

            // The repaired file takes appends and replays cleanly.
            try writeLog(path, [Array("after-\(cut)".utf8)])
            let again = try replayAll(path)
            #expect(again.records == Array(payloads.dropLast()) + [Array("after-\(cut)".utf8)])
            #expect(again.report.tornTail == nil)
        }
    }

    @Test func truncationInsideTheFileHeaderLeavesAnEmptyLog() throws {
        let scratch = Scratch()
        let path = scratch.path()
        try writeLog(path, payloads)
        let original = fileBytes(path)
        for cut in 1..<RecordFormat.fileHeaderSize {
            writeFile(path, Array(original[0..<cut]))
            let (records, report) = try replayAll(path, repair: true)
            #expect(records.isEmpty)
            #expect(report.tornTail == TornTail(offset: 0, bytesDropped: Int64(cut), reason: .incompleteFileHeader))
            #expect(fileBytes(path).isEmpty)
            try writeLog(path, [[42]])
            #expect(try replayAll(path).records == [[42]])
        }
    }

    @Test func withoutRepairTheTailIsReportedButKept() throws {
        let scratch = Scratch()
        let path = scratch.path()
        try writeLog(path, payloads)
        let torn = Array(fileBytes(path).dropLast(3))
        writeFile(path, torn)
        let (records, report) = try replayAll(path, repair: false)
        #expect(records.count == payloads.count - 1)
        #expect(report.tornTail?.reason == .incompletePayload)
        #expect(!report.repaired)
        #expect(fileBytes(path) == torn)
    }

    @Test func flippedByteInAMiddleRecordIsCorruption() throws {
        let scratch = Scratch()
        let path = scratch.path()
        try writeLog(path, payloads)
        let offsets = recordOffsets(payloads)
        var bytes = fileBytes(path)
        bytes[offsets[2] + 8 + 3] ^= 0x40
        writeFile(path, bytes)
        var seen = 0
        let error = #expect(throws: StoreError.self) {
            _ = try AOFReader.replay(path: path, repair: true) { _ in seen += 1 }
        }
        guard case let .corrupt(errorPath, offset, index, reason)? = error else {
            Issue.record("expected .corrupt, got \(String(describing: error))")
            return
        }
        #expect(errorPath == path)
        #expect(offset == Int64(offsets[2]))
        #expect(index == 2)
        #expect(reason.contains("checksum mismatch"))
        #expect(error!.description.contains(path) && error!.description.contains("offset \(offsets[2])"))
        #expect(seen == 2)
        #expect(fileBytes(path) == bytes, "a corrupt file is never modified")
    }

    @Test func damagedLengthFieldInTheMiddleIsCorruptionNotATail() throws {
        // A length pointing past EOF looks like an incomplete last record; the intact records
        // after it prove otherwise.
        let scratch = Scratch()
        let path = scratch.path()
        try writeLog(path, payloads)
        let offsets = recordOffsets(payloads)
        var bytes = fileBytes(path)
        bytes[offsets[1] + 1] = 0x10  // length += 1 MiB
        writeFile(path, bytes)
        #expect(throws: StoreError.self) { try replayAll(path, repair: true) }
        #expect(fileBytes(path) == bytes)
    }

    @Test func flippedByteInTheLastRecordIsATornTail() throws {
        let scratch = Scratch()
        let path = scratch.path()
        try writeLog(path, payloads)
        let offsets = recordOffsets(payloads)
        var bytes = fileBytes(path)
        bytes[bytes.count - 2] ^= 0x01
        writeFile(path, bytes)
        let (records, report) = try replayAll(path, repair: true)
        #expect(records == Array(payloads.dropLast()))
        #expect(report.tornTail?.reason == .checksumMismatch)
        #expect(report.tornTail?.offset == Int64(offsets[payloads.count - 1]))
        #expect(fileBytes(path).count == offsets[payloads.count - 1])
    }

    @Test func zeroFilledTailIsATornTail() throws {
        let scratch = Scratch()
        let path = scratch.path()
        try writeLog(path, payloads)
        let good = fileBytes(path)
        writeFile(path, good + [UInt8](repeating: 0, count: 1 << 20))
        let (records, report) = try replayAll(path, repair: true)
        #expect(records == payloads)
        #expect(report.tornTail == TornTail(offset: Int64(good.count), bytesDropped: 1 << 20, reason: .zeroFilled))
        #expect(fileBytes(path) == good)
    }

    @Test func wrongMagicNamesThePath() throws {
        let scratch = Scratch()
        let path = scratch.path()
        writeFile(path, Array("NOTTITAN".utf8) + [0, 0, 0, 1] + RecordFormat.encode([1, 2, 3]))
        let error = #expect(throws: StoreError.self) { try replayAll(path, repair: true) }
        guard case .badHeader(path, _)? = error else {
            Issue.record("expected .badHeader naming \(path), got \(String(describing: error))")
            return
        }
        #expect(error!.description.contains(path))
        #expect(throws: StoreError.self) { try AppendLog(path: path, policy: .no) }
    }

    @Test func unsupportedVersionIsRejected() throws {
        let scratch = Scratch()
        let path = scratch.path()
        writeFile(path, RecordFormat.magic + [0, 0, 0, 2])
        let error = #expect(throws: StoreError.self) { try replayAll(path) }
        #expect(error?.description.contains("version 2") == true)
    }

    @Test func replayStopsWhenTheBodyThrows() throws {
        let scratch = Scratch()
        try writeLog(scratch.path(), payloads)
        var seen = 0
        #expect(throws: StoreError.malformedMutation(offset: 0, reason: "stop")) {
            _ = try AOFReader.replay(path: scratch.path()) { (_) throws(StoreError) in
                seen += 1
                if seen == 2 { throw .malformedMutation(offset: 0, reason: "stop") }
            }
        }
        #expect(seen == 2)
    }
}
