import Testing
import TitanProtocol

/// `readLogs` and `logPage` (the round trips, truncations and split feeding are in the shared
/// samples): the errors name their fields.
@Suite("readLogs and logPage payloads")
struct LogMessageCodecTests {
    @Test("wire layout of readLogs")
    func readLogsLayout() {
        let bytes = payload(of: Envelope(requestId: 9, message: .readLogs(LogRead(jobId: "j", cursor: 0x0102, limit: 3,
                                                                                   tailLines: 4, sinceMs: -1))))
        #expect(bytes == [0, 0, 0, 9, 0, 0, 0, 1, 0x6A, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 3, 0, 0, 0, 4]
                + [UInt8](repeating: 0xFF, count: 8))
        #expect(NativeCodec.opcode(of: .readLogs(LogRead(jobId: ""))) == 0x6D)
        #expect(NativeCodec.opcode(of: .logPage(LogPage(jobId: "", chunks: [], next: 0, end: true))) == 0x6E)
    }

    @Test("each truncated field of readLogs is named",
          arguments: [(5, "jobId"), (8 + 3, "cursor"), (8 + 8 + 2, "limit"), (8 + 8 + 4 + 1, "tailLines"),
                      (8 + 8 + 4 + 4 + 7, "sinceMs")])
    func truncatedReadLogs(cut: Int, field: String) throws {
        let full = payload(of: Envelope(requestId: 1, message: .readLogs(LogRead(jobId: "", tailLines: 1))))
        let reason = try #require(malformedReason { () throws(ProtocolError) in try decode(opcode: 0x6D, Array(full.prefix(cut))) })
        #expect(reason.contains("'\(field)'") && reason.contains("truncated"), "\(reason)")
    }

    @Test("a bad logPage names the field")
    func badLogPage() throws {
        let badStream = handPayload { w in
            w.writeString("j")
            w.writeCount(2)
            w.writeU8(1)
            w.writeBytes([65])
            w.writeU8(7)
            w.writeBytes([])
            w.writeU64(0)
            w.writeBool(false)
            w.writeU64(0)
        }
        let r1 = try #require(malformedReason { () throws(ProtocolError) in try decode(opcode: 0x6E, badStream) })
        #expect(r1.contains("'chunks[1].stream'"), "\(r1)")

        var endTwo = payload(of: Envelope(requestId: 1, message: .logPage(LogPage(jobId: "j", chunks: [], next: 5, end: true))))
        endTwo[endTwo.count - 9] = 2
        let r2 = try #require(malformedReason { () throws(ProtocolError) in try decode(opcode: 0x6E, endTwo) })
        #expect(r2.contains("'end'") && r2.contains("bool"), "\(r2)")

        let absurd = handPayload { w in
            w.writeString("j")
            w.writeU32(4_000_000_000)
            w.writeU64(0)
        }
        let r3 = try #require(malformedReason { () throws(ProtocolError) in try decode(opcode: 0x6E, absurd) })
        #expect(r3.contains("'chunks'"), "\(r3)")

        let noSkipped = Array(payload(of: Envelope(requestId: 1, message: .logPage(LogPage(jobId: "j", chunks: [], next: 5,
                                                                                             end: true)))).dropLast(3))
        let r4 = try #require(malformedReason { () throws(ProtocolError) in try decode(opcode: 0x6E, noSkipped) })
        #expect(r4.contains("'skipped'"), "\(r4)")
        #expect(throws: ProtocolError.unknownOpcode(0x6F)) { try decode(opcode: 0x6F, [0, 0, 0, 1]) }
    }
}
