import Testing
@testable import TitanStore

@Suite struct RecordFormatTests {
    @Test func fileHeaderIsMagicThenBigEndianVersion() {
        #expect(RecordFormat.fileHeader == Array("TITANAOF".utf8) + [0, 0, 0, 1])
    }

    @Test(arguments: [1, 7, 8, 100, 4096, 70_000])
    func encodeDecodeRoundTrip(size: Int) {
        let original = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let framed = RecordFormat.encode(original)
        #expect(framed.count == 8 + size)
        #expect(Array(framed[0..<4]) == [UInt8(size >> 24 & 0xFF), UInt8(size >> 16 & 0xFF), UInt8(size >> 8 & 0xFF), UInt8(size & 0xFF)])
        let decoded = framed.withUnsafeBytes { RecordFormat.decode($0) }
        #expect(decoded == .record(payloadLength: size))
        #expect(Array(framed[8...]) == original)
    }

    @Test func decodeReportsIncompleteInvalidAndMismatchedRecords() {
        let framed = RecordFormat.encode(Array("payload".utf8))
        #expect(framed[0..<5].withUnsafeBytes { RecordFormat.decode($0) } == .incomplete(needed: 8))
        #expect(framed[0..<10].withUnsafeBytes { RecordFormat.decode($0) } == .incomplete(needed: 15))
        #expect([UInt8](repeating: 0, count: 16).withUnsafeBytes { RecordFormat.decode($0) } == .invalidLength(0))
        #expect([UInt8]([0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0]).withUnsafeBytes { RecordFormat.decode($0) } == .invalidLength(.max))
        var flipped = framed
        flipped[10] ^= 0x01
        guard case .checksumMismatch = flipped.withUnsafeBytes({ RecordFormat.decode($0) }) else {
            Issue.record("a flipped payload byte was not detected")
            return
        }
    }
}
