import Testing
import TitanProtocol

@Suite("BinaryWriter and BinaryReader")
struct BinaryCodingTests {
    @Test("integers are big-endian, signed ones two's complement")
    func integerLayout() throws {
        var w = BinaryWriter()
        w.writeU8(0xAB)
        w.writeU16(0x0102)
        w.writeU32(0x0304_0506)
        w.writeU64(0x0708_090A_0B0C_0D0E)
        w.writeI32(-2)
        w.writeI64(Int64.min)
        w.writeBool(true)
        w.writeBool(false)
        #expect(w.bytes == [0xAB, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
                            0xFF, 0xFF, 0xFF, 0xFE, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 0])
        #expect(w.count == 29)

        var r = BinaryReader(w.bytes, opcode: 0)
        #expect(try r.readU8("a") == 0xAB)
        #expect(try r.readU16("b") == 0x0102)
        #expect(try r.readU32("c") == 0x0304_0506)
        #expect(try r.readU64("d") == 0x0708_090A_0B0C_0D0E)
        #expect(try r.readI32("e") == -2)
        #expect(try r.readI64("f") == Int64.min)
        #expect(try r.readBool("g") == true)
        #expect(try r.readBool("h") == false)
        #expect(r.isAtEnd)
        #expect(throws: ProtocolError.malformed(opcode: 0, reason: "field 'past': truncated (needs 1 bytes, 0 left)")) {
            try r.readU8("past")
        }
    }

    @Test("bytes, strings, optionals, arrays")
    func composite() throws {
        var w = BinaryWriter(capacity: 64)
        w.writeBytes([0, 0x7C, 0xFF])
        w.writeString("é")
        w.writeOptionalI32(nil)
        w.writeOptionalI32(-1)
        w.writeOptionalString("")
        w.writeStringArray(["a", ""])
        w.writeArray([UInt32(1), 2]) { $0.writeU32($1) }
        #expect(w.bytes == [0, 0, 0, 3, 0, 0x7C, 0xFF,
                            0, 0, 0, 2, 0xC3, 0xA9,
                            0,
                            1, 0xFF, 0xFF, 0xFF, 0xFF,
                            1, 0, 0, 0, 0,
                            0, 0, 0, 2, 0, 0, 0, 1, 0x61, 0, 0, 0, 0,
                            0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2])
        var r = BinaryReader(w.bytes, opcode: 0x30)
        #expect(try r.readBytes("bytes") == [0, 0x7C, 0xFF])
        #expect(try r.readString("s") == "é")
        #expect(try r.readOptionalI32("o1") == nil)
        #expect(try r.readOptionalI32("o2") == -1)
        #expect(try r.readOptionalString("o3") == "")
        #expect(try r.readStringArray("arr") == ["a", ""])
        let numbers = try r.readArray("n", minElementSize: 4) { (r: inout BinaryReader, i: Int) throws(ProtocolError) in
            try r.readU32("n[\(i)]")
        }
        #expect(numbers == [1, 2])
        try r.expectEnd()
    }

    @Test("string dictionaries are written sorted by key")
    func dictionarySorted() throws {
        var w = BinaryWriter()
        w.writeStringDictionary(["b": "2", "a": "1", "c": ""])
        var expected = BinaryWriter()
        expected.writeCount(3)
        for (key, value) in [("a", "1"), ("b", "2"), ("c", "")] {
            expected.writeString(key)
            expected.writeString(value)
        }
        #expect(w.bytes == expected.bytes)
        var r = BinaryReader(w.bytes, opcode: 0)
        #expect(try r.readStringDictionary("env") == ["a": "1", "b": "2", "c": ""])
    }

    @Test("a reader over a sub-range stops at its end")
    func subRange() throws {
        let bytes: [UInt8] = [9, 9, 0, 0, 0, 1, 0x41, 9]
        var r = BinaryReader(bytes, range: 2 ..< 7, opcode: 0)
        #expect(r.remaining == 5)
        #expect(try r.readString("s") == "A")
        #expect(r.isAtEnd)
        #expect(throws: ProtocolError.self) { try r.readU8("x") }
    }

    @Test("counts are checked against the bytes left")
    func countCheck() {
        var r = BinaryReader([0, 0, 0, 3, 1, 2], opcode: 0x11)
        #expect(throws: ProtocolError.malformed(opcode: 0x11, reason: "field 'list': truncated (count 3 needs at least 3 bytes, 2 left)")) {
            try r.readCount("list")
        }
        var r2 = BinaryReader([0, 0, 0, 2, 1, 2, 3, 4, 5, 6, 7], opcode: 0x11)
        #expect(throws: ProtocolError.self) { try r2.readCount("refs", minItemSize: 4) }
    }

    @Test("frame helpers patch the length")
    func frameHelpers() {
        var w = BinaryWriter(bytes: [0xEE])
        let start = w.beginFrame(version: 1, opcode: 0x42, flags: 3)
        w.writeString("hi")
        w.endFrame(headerAt: start)
        #expect(w.bytes == [0xEE, 1, 0x42, 3, 0, 0, 0, 0, 6, 0, 0, 0, 2, 0x68, 0x69])
        w.patchU32(0xDEAD_BEEF, at: 1)
        #expect(Array(w.bytes[1 ..< 5]) == [0xDE, 0xAD, 0xBE, 0xEF])
    }
}
