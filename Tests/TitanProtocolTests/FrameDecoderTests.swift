import TitanTestSupport
import Testing
import TitanProtocol

/// Encodes every sample several times (with distinct request ids) into one stream, mixed with a
/// few raw version-1 frames.
private func sampleStream() -> (bytes: [UInt8], frames: [Frame]) {
    var bytes: [UInt8] = []
    var frames: [Frame] = []
    for round in 0 ..< 3 {
        for (i, sample) in Fixtures.samples.enumerated() {
            var envelope = sample.envelope
            envelope.requestId &+= UInt32(round * 1000 + i)
            let encoded = NativeCodec.encode(envelope, flags: UInt8(i % 3))
            bytes += encoded
            frames.append(Frame(version: 2, opcode: encoded[1], flags: encoded[2], payload: Array(encoded.dropFirst(8))))
            if i % 10 == 0 {
                let v1 = Frame(version: 1, opcode: 0x01, payload: Array("SUBMIT|echo a\\|b|x".utf8))
                v1.append(to: &bytes)
                frames.append(v1)
            }
        }
    }
    return (bytes, frames)
}

private func drain(_ decoder: inout FrameDecoder, into frames: inout [Frame]) throws {
    while let frame = try decoder.next() {
        frames.append(frame)
    }
}

@Suite("FrameDecoder streaming")
struct FrameDecoderTests {
    @Test("whole stream at once")
    func whole() throws {
        let (bytes, expected) = sampleStream()
        var decoder = FrameDecoder()
        decoder.append(contentsOf: bytes)
        var frames: [Frame] = []
        try drain(&decoder, into: &frames)
        #expect(frames == expected)
        #expect(decoder.bufferedByteCount == 0)
    }

    @Test("one byte at a time")
    func oneByteAtATime() throws {
        let (bytes, expected) = sampleStream()
        var decoder = FrameDecoder()
        var frames: [Frame] = []
        for byte in bytes {
            decoder.append(contentsOf: CollectionOfOne(byte))
            try drain(&decoder, into: &frames)
        }
        #expect(frames == expected)
        #expect(decoder.bufferedByteCount == 0)
    }

    @Test("split at random points", arguments: 1 ... 40)
    func randomSplits(seed: Int) throws {
        let (bytes, expected) = sampleStream()
        var rng = SplitMix64(seed: UInt64(seed))
        var decoder = FrameDecoder()
        var frames: [Frame] = []
        var position = 0
        while position < bytes.count {
            // Mostly small pieces, sometimes big ones, so both partial headers and multi-frame reads occur.
            let maxPiece = Bool.random(using: &rng) ? 16 : 20_000
            let end = min(bytes.count, position + Int.random(in: 1 ... maxPiece, using: &rng))
            if Bool.random(using: &rng) {
                bytes[position ..< end].withUnsafeBytes { decoder.append($0) }
            } else {
                decoder.append(contentsOf: bytes[position ..< end])
            }
            position = end
            try drain(&decoder, into: &frames)
            #expect(decoder.bufferedByteCount <= bytes.count)
        }
        #expect(frames == expected)
        #expect(decoder.bufferedByteCount == 0)
        let envelopes = try frames.filter { $0.version == 2 }.map { frame throws(ProtocolError) in try NativeCodec.decode(frame) }
        #expect(envelopes.count == Fixtures.samples.count * 3)
    }

    @Test("bufferedByteCount counts bytes not yet returned")
    func bufferedCount() throws {
        let bytes = NativeCodec.encode(Envelope(requestId: 1, message: .getStatus(jobId: "abc")))
        var decoder = FrameDecoder()
        #expect(decoder.bufferedByteCount == 0)
        #expect(try decoder.next() == nil)
        decoder.append(contentsOf: bytes.prefix(5))
        #expect(try decoder.next() == nil)
        #expect(decoder.bufferedByteCount == 5)
        decoder.append(contentsOf: bytes.dropFirst(5) + bytes.prefix(3))
        #expect(try decoder.next() != nil)
        #expect(decoder.bufferedByteCount == 3)
        #expect(try decoder.next() == nil)
    }

    @Test("a long stream of small frames fed in chunks stays linear and compacts")
    func longStream() throws {
        var bytes: [UInt8] = []
        let count = 20_000
        for i in 0 ..< count {
            NativeCodec.encode(Envelope(requestId: UInt32(i), message: .cancel(jobId: "job-\(i)")), into: &bytes)
        }
        var decoder = FrameDecoder()
        var seen = 0
        var position = 0
        while position < bytes.count {
            let end = min(bytes.count, position + 7_777)
            decoder.append(contentsOf: bytes[position ..< end])
            position = end
            // Read only some frames each time so consumed prefixes pile up before compaction.
            for _ in 0 ..< 150 {
                guard let frame = try decoder.next() else { break }
                #expect(try NativeCodec.decode(frame).requestId == UInt32(seen))
                seen += 1
            }
        }
        while let frame = try decoder.next() {
            #expect(try NativeCodec.decode(frame).requestId == UInt32(seen))
            seen += 1
        }
        #expect(seen == count)
        #expect(decoder.bufferedByteCount == 0)
    }

    @Test("a payload of exactly the limit is accepted")
    func exactlyAtLimit() throws {
        var decoder = FrameDecoder(maxPayload: 100)
        decoder.append(contentsOf: Frame(opcode: 0x13, payload: [UInt8](repeating: 0x7C, count: 100)).encoded())
        let frame = try #require(try decoder.next())
        #expect(frame.payload.count == 100)
    }
}

@Suite("FrameDecoder errors")
struct FrameDecoderErrorTests {
    @Test("wrong version is rejected from the first byte", arguments: [UInt8(0), 3, 7, 0xFF])
    func wrongVersion(version: UInt8) {
        var decoder = FrameDecoder()
        decoder.append(contentsOf: [version])
        #expect(throws: FrameError.unsupportedVersion(version)) { try decoder.next() }
    }

    @Test("wrong version after valid frames")
    func wrongVersionMidStream() throws {
        var bytes = NativeCodec.encode(Envelope(requestId: 1, message: .ping))
        bytes += Frame(version: 7, opcode: 0x01).encoded()
        var decoder = FrameDecoder()
        decoder.append(contentsOf: bytes)
        #expect(try decoder.next() != nil)
        #expect(throws: FrameError.unsupportedVersion(7)) { try decoder.next() }
    }

    @Test("accepted versions are configurable")
    func acceptedVersions() throws {
        var decoder = FrameDecoder(acceptedVersions: [2])
        decoder.append(contentsOf: Frame(version: 1, opcode: 1).encoded())
        #expect(throws: FrameError.unsupportedVersion(1)) { try decoder.next() }
    }

    @Test("an oversize header fails before its payload arrives")
    func tooLargeBeforePayload() throws {
        var decoder = FrameDecoder(maxPayload: 1024)
        decoder.append(contentsOf: [2, 0x30, 0, 0, 0, 0, 0x04])
        #expect(try decoder.next() == nil) // header incomplete
        decoder.append(contentsOf: [0x01])
        #expect(throws: FrameError.frameTooLarge(length: 1025, limit: 1024)) { try decoder.next() }
    }

    @Test("a 4 GiB header fails against the default limit")
    func hugeLength() {
        var decoder = FrameDecoder()
        decoder.append(contentsOf: [1, 0x01, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF])
        #expect(throws: FrameError.frameTooLarge(length: UInt32.max, limit: TitanProto.defaultMaxPayload)) {
            try decoder.next()
        }
    }

    @Test("errors are sticky and later input is ignored")
    func sticky() {
        var decoder = FrameDecoder(maxPayload: 10)
        decoder.append(contentsOf: Frame(opcode: 1, payload: [UInt8](repeating: 0, count: 11)).encoded())
        let expected = FrameError.frameTooLarge(length: 11, limit: 10)
        #expect(throws: expected) { try decoder.next() }
        #expect(decoder.error == expected)
        decoder.append(contentsOf: NativeCodec.encode(Envelope(requestId: 1, message: .ok)))
        #expect(decoder.bufferedByteCount == 0)
        #expect(throws: expected) { try decoder.next() }
        #expect(throws: expected) { try decoder.next() }
    }
}
