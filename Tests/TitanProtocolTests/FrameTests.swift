import Testing
import TitanProtocol

@Suite("Frame")
struct FrameTests {
    @Test("header is version, opcode, flags, reserved 0, big-endian length")
    func headerLayout() {
        let payload = (0 ..< 0x0102).map { UInt8(truncatingIfNeeded: $0) }
        let frame = Frame(version: 1, opcode: 0xAB, flags: 0x0F, payload: payload)
        let bytes = frame.encoded()
        #expect(Array(bytes.prefix(8)) == [1, 0xAB, 0x0F, 0, 0, 0, 0x01, 0x02])
        #expect(Array(bytes.dropFirst(8)) == payload)
    }

    @Test("defaults: native version, no flags, empty payload")
    func defaults() {
        let frame = Frame(opcode: 0x03)
        #expect(frame.version == TitanProto.nativeVersion)
        #expect(frame.encoded() == [2, 3, 0, 0, 0, 0, 0, 0])
    }

    @Test("append(to:) appends after existing bytes")
    func appendTo() {
        var buffer: [UInt8] = [9, 9]
        Frame(version: 2, opcode: 1, payload: [0, 0x7C, 0xFF]).append(to: &buffer)
        Frame(version: 1, opcode: 2).append(to: &buffer)
        #expect(buffer == [9, 9, 2, 1, 0, 0, 0, 0, 0, 3, 0, 0x7C, 0xFF, 1, 2, 0, 0, 0, 0, 0, 0])
    }

    @Test("constants")
    func constants() {
        #expect(TitanProto.headerSize == 8)
        #expect(TitanProto.v1Version == 1)
        #expect(TitanProto.nativeVersion == 2)
        #expect(TitanProto.defaultMaxPayload == 16 * 1024 * 1024)
    }

    @Test("FrameError descriptions and reply codes")
    func frameErrorDescriptions() {
        let version = FrameError.unsupportedVersion(7)
        #expect(version.description.contains("version 7"))
        #expect(version.code == .unsupportedVersion)
        let large = FrameError.frameTooLarge(length: 20_000_000, limit: 16_777_216)
        #expect(large.description.contains("20000000"))
        #expect(large.description.contains("16777216"))
        #expect(large.description.contains("too large"))
        #expect(large.code == .frameTooLarge)
    }
}
