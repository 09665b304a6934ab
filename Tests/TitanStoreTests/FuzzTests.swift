import Foundation
import Testing
import TitanTestSupport
@testable import TitanStore

/// Fuzz targets for what TitanStore reads back: KV mutations, and whole append-only files
/// replayed (torn tails, corruption, repair) against an independent in-memory model of the
/// format. Budget and seed: `TITAN_FUZZ_SECONDS` / `TITAN_FUZZ_SEED`.
@Suite("Fuzzing the store's readers")
struct FuzzTests {
    static let mutations: [KVMutation] = [
        .set(key: "k", value: [0, 0xFF, 0x7C], expiresAtMs: nil),
        .set(key: "ü|key", value: [], expiresAtMs: Int64.min),
        .set(key: "", value: Array("12".utf8), expiresAtMs: 1_700_000_000_000),
        .del(key: "k"), .sadd(key: "s", member: "m"), .sadd(key: "k", member: ""), .srem(key: "s", member: "m"),
        .expire(key: "s", atMs: 5), .expire(key: "k", atMs: nil),
    ]

    @Test("KVMutation: a typed error, or the exact bytes it was decoded from")
    func kvMutation() {
        let report = Fuzzer.run("kv-mutation", corpus: Self.mutations.map { $0.encoded() }) { fuzzCase in
            let mutation: KVMutation
            do throws(StoreError) {
                mutation = try KVMutation(decoding: fuzzCase.bytes)
            } catch {
                guard case .malformedMutation(let offset, let reason) = error else { throw FuzzViolation("unexpected \(error)") }
                try fuzzCheck((0 ... fuzzCase.bytes.count).contains(offset) && !reason.isEmpty, "\(error)")
                return false
            }
            // The encoding is canonical: whatever decodes came from exactly these bytes.
            try fuzzCheck(mutation.encoded() == fuzzCase.bytes, "\(mutation) re-encodes differently")
            var state = KVState()
            state.set("k", value: [1], nowMs: 0)
            _ = try state.sadd("s", member: "m", nowMs: 0)
            do throws(StoreError) {
                try state.apply(mutation)
            } catch {
                guard case .wrongType = error else { throw FuzzViolation("applying \(mutation): \(error)") }
            }
            return true
        }
        #expect(report.failure == nil, "\(report)")
        #expect(report.seedsAccepted == Self.mutations.count, "\(report)")
    }

    @Test("AOFReader: replay agrees with a model of the format; repair leaves a clean file; corruption is left alone")
    func aofReplay() throws {
        let scratch = Scratch()
        let path = scratch.path()
        let payloads = Self.mutations.map { $0.encoded() } + [[1], Array(repeating: 0xAB, count: 300)]
        var corpus = [RecordFormat.fileHeader + payloads.flatMap { RecordFormat.encode($0) }]
        corpus.append(corpus[0] + [0, 0, 0, 0, 0, 0, 0, 0, 0, 0])  // zero fill
        corpus.append(Array(corpus[0].dropLast(5)))  // torn payload
        corpus.append(RecordFormat.fileHeader)
        corpus.append(Array(RecordFormat.fileHeader.prefix(5)))
        let report = Fuzzer.run("aof-replay", corpus: corpus) { fuzzCase in
            var bytes = fuzzCase.bytes
            // Half the time, give every well-framed record its right checksum so that mutations
            // of lengths and payloads get past the CRC.
            if Bool.random(using: &fuzzCase.rng) { Self.fixChecksums(&bytes) }
            // Sometimes put a record in front that ends just short of the reader's 4 MiB chunk,
            // so that the records after it straddle a read.
            if bytes.count >= RecordFormat.fileHeaderSize, Int.random(in: 0 ..< 16, using: &fuzzCase.rng) == 0 {
                let overhang = Int.random(in: 0 ..< 48, using: &fuzzCase.rng)
                let size = AOFReader.chunkSize - RecordFormat.fileHeaderSize - RecordFormat.recordHeaderSize - overhang
                bytes.insert(contentsOf: RecordFormat.encode(Array(repeating: 7, count: size)), at: RecordFormat.fileHeaderSize)
            }
            writeFile(path, bytes)
            let expected = Self.model(bytes)
            var records: [[UInt8]] = []
            let outcome = Result { () throws(StoreError) -> ReplayReport in
                try AOFReader.replay(path: path) { records.append($0) }
            }
            try Self.check(outcome, records: records, against: expected, bytes: bytes)
            // Repair: a torn tail is cut and the file then replays cleanly; anything else leaves
            // the file exactly as it was.
            let repaired = Result { () throws(StoreError) -> ReplayReport in try AOFReader.replay(path: path, repair: true) { _ in } }
            if case .success(let report) = repaired, report.tornTail != nil {
                try fuzzCheck(report.repaired && fileBytes(path) == Array(bytes.prefix(Int(report.validLength))),
                              "repair did not cut the file to \(report.validLength) bytes")
                var again: [[UInt8]] = []
                let second = try AOFReader.replay(path: path) { again.append($0) }
                try fuzzCheck(second.tornTail == nil && again == records, "the repaired file replays differently: \(second)")
            } else {
                try fuzzCheck(fileBytes(path) == bytes, "the file changed without a torn tail to repair")
            }
            return expected.damage == nil
        }
        #expect(report.failure == nil, "\(report)")
        #expect(report.seedsAccepted >= 2, "\(report)")
    }

    /// A record header at the end of a file of more than one read chunk that announces more than
    /// the file holds is a torn tail (and is found without growing the read buffer to its size).
    @Test("a length past the end of a multi-chunk file is a torn tail")
    func lengthPastTheEndOfALargeFile() throws {
        let scratch = Scratch()
        let big = RecordFormat.encode(Array(repeating: 1, count: AOFReader.chunkSize))
        for length in [UInt32(RecordFormat.maxPayloadSize), 100, 9] {
            var bytes = RecordFormat.fileHeader + big
            RecordFormat.appendBigEndian(length, to: &bytes)
            bytes += [0, 0, 0, 0, 1, 2, 3]
            writeFile(scratch.path(), bytes)
            let (records, report) = try replayAll(scratch.path())
            #expect(records.count == 1)
            #expect(report.tornTail == TornTail(offset: Int64(12 + big.count), bytesDropped: 11, reason: .incompletePayload))
        }
    }

    @Test("a KV length claiming 4 GiB fails at once, allocating nothing near it")
    func hugeKVClaims() throws {
        let start = try #require(peakVirtualMemory())
        for bytes in [[1, 0xFF, 0xFF, 0xFF, 0xFF], [1, 0, 0, 0, 1, 0x6B, 0xFF, 0xFF, 0xFF, 0xFF], [3, 0, 0, 0, 0, 0x7F, 0xFF, 0xFF, 0xFF]] as [[UInt8]] {
            #expect {
                try KVMutation(decoding: bytes)
            } throws: { error in
                guard case .malformedMutation(_, let reason)? = error as? StoreError else { return false }
                return reason.contains("needs")
            }
        }
        #expect(try #require(peakVirtualMemory()) - start < peakMemoryGrowthLimit)
    }

    // MARK: - The model

    struct Expected {
        /// Nil: the file header is bad (`badHeader` expected).
        var records: [[UInt8]]?
        var validLength = 0
        var damage: TornTail.Reason?
        /// With damage: whether an intact record starts after it (then it is corruption).
        var intactAfter = false
    }

    /// What replay should find in `bytes`, computed on the bytes directly.
    static func model(_ bytes: [UInt8]) -> Expected {
        let header = RecordFormat.fileHeader
        if bytes.isEmpty { return Expected(records: []) }
        if bytes.count < header.count {
            guard bytes.elementsEqual(header.prefix(bytes.count)) || bytes.allSatisfy({ $0 == 0 }) else { return Expected() }
            return Expected(records: [], validLength: 0, damage: .incompleteFileHeader)
        }
        guard bytes.prefix(header.count).elementsEqual(header) else { return Expected() }
        var records: [[UInt8]] = []
        var offset = header.count
        while offset < bytes.count {
            guard bytes.count - offset >= 8 else {
                return Expected(records: records, validLength: offset, damage: .incompleteRecordHeader)
            }
            let length = Int(u32(bytes, offset))
            if length == 0 || length > RecordFormat.maxPayloadSize {
                return damaged(records, offset, .invalidLength(UInt32(length)), bytes)
            }
            guard bytes.count - offset - 8 >= length else {
                return Expected(records: records, validLength: offset, damage: .incompletePayload,
                                intactAfter: intactRecord(after: offset, in: bytes))
            }
            let payload = Array(bytes[offset + 8 ..< offset + 8 + length])
            guard CRC32C.checksum(payload) == u32(bytes, offset + 4) else {
                return damaged(records, offset, .checksumMismatch, bytes)
            }
            records.append(payload)
            offset += 8 + length
        }
        return Expected(records: records, validLength: offset)
    }

    static func damaged(_ records: [[UInt8]], _ offset: Int, _ reason: TornTail.Reason, _ bytes: [UInt8]) -> Expected {
        Expected(records: records, validLength: offset, damage: reason, intactAfter: intactRecord(after: offset, in: bytes))
    }

    /// Whether a record with a valid length and a matching checksum starts after `offset`.
    static func intactRecord(after offset: Int, in bytes: [UInt8]) -> Bool {
        var i = offset + 1
        while i + 8 <= bytes.count {
            let length = Int(u32(bytes, i))
            if length != 0, length <= RecordFormat.maxPayloadSize, i + 8 + length <= bytes.count,
               CRC32C.checksum(bytes[i + 8 ..< i + 8 + length]) == u32(bytes, i + 4) {
                return true
            }
            i += 1
        }
        return false
    }

    static func check(_ outcome: Result<ReplayReport, StoreError>, records: [[UInt8]], against expected: Expected,
                      bytes: [UInt8]) throws {
        let size = bytes.count
        func allZero(_ from: Int) -> Bool { bytes[from...].allSatisfy { $0 == 0 } }
        guard let expectedRecords = expected.records else {
            guard case .failure(.badHeader) = outcome else { throw FuzzViolation("a bad file header gave \(outcome)") }
            return
        }
        try fuzzCheck(records == expectedRecords, "\(records.count) records replayed, the model finds \(expectedRecords.count)")
        switch (outcome, expected.damage) {
        case (.success(let report), nil):
            try fuzzCheck(report.tornTail == nil && report.validLength == Int64(size) && report.recordCount == records.count,
                          "an intact file gave \(report)")
        case (.success(let report), let damage?):
            try fuzzCheck(!expected.intactAfter, "an intact record follows the damage, yet: \(report)")
            // A tail of nothing but zeros is reported as such (preallocated space, not a crash).
            let zeros = damage != .incompleteFileHeader && allZero(expected.validLength)
            try fuzzCheck(report.tornTail?.reason == (zeros ? .zeroFilled : damage),
                          "torn tail \(String(describing: report.tornTail)), model: \(damage)")
            try fuzzCheck(report.validLength == Int64(expected.validLength)
                          && report.tornTail?.bytesDropped == Int64(size - expected.validLength), "torn tail at the wrong place: \(report)")
        case (.failure(.corrupt(_, let offset, let index, _)), _?):
            try fuzzCheck(expected.intactAfter && offset == Int64(expected.validLength) && index == expectedRecords.count,
                          "corruption reported at \(offset) (#\(index)); model: \(expected)")
        case (.failure(let error), _):
            throw FuzzViolation("replay failed: \(error); model: \(expected)")
        }
    }

    /// Rewrites the checksum of every record that fits, walking the file as the reader does.
    static func fixChecksums(_ bytes: inout [UInt8]) {
        var offset = RecordFormat.fileHeaderSize
        while offset + 8 <= bytes.count {
            let length = Int(u32(bytes, offset))
            guard length > 0, offset + 8 + length <= bytes.count else { return }
            let crc = CRC32C.checksum(bytes[offset + 8 ..< offset + 8 + length])
            var encoded: [UInt8] = []
            RecordFormat.appendBigEndian(crc, to: &encoded)
            bytes.replaceSubrange(offset + 4 ..< offset + 8, with: encoded)
            offset += 8 + length
        }
    }

    static func u32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3])
    }
}
