import TitanTestSupport
import Testing
import TitanProtocol

/// Decodes a frame and, when it decodes, checks that re-encoding round-trips. Returns whether it decoded.
@discardableResult
private func decodeChecked(_ frame: Frame) -> Bool {
    let envelope: Envelope
    do {
        envelope = try NativeCodec.decode(frame)
    } catch {
        // Only ProtocolError can get here (typed throws); make sure it describes itself.
        #expect(!error.description.isEmpty)
        return false
    }
    let reencoded = NativeCodec.encode(envelope)
    var decoder = FrameDecoder()
    decoder.append(contentsOf: reencoded)
    do {
        let again = try #require(try decoder.next())
        #expect(try NativeCodec.decode(again) == envelope)
    } catch {
        Issue.record("re-encoded frame failed: \(error)")
    }
    return true
}

@Suite("Garbage input")
struct FuzzTests {
    @Test("random byte streams give frames or FrameError, never a crash", arguments: 1 ... 20)
    func randomStreams(seed: Int) {
        var rng = SplitMix64(seed: UInt64(seed) &* 7919)
        for _ in 0 ..< 50 {
            var decoder = FrameDecoder(maxPayload: 512)
            var stream = rng.bytes(Int.random(in: 0 ... 600, using: &rng))
            // Often start with a valid version so the length and payload paths are reached.
            if !stream.isEmpty, Bool.random(using: &rng) { stream[0] = 2 }
            var position = 0
            feeding: while position < stream.count {
                let end = min(stream.count, position + Int.random(in: 1 ... 64, using: &rng))
                decoder.append(contentsOf: stream[position ..< end])
                position = end
                while true {
                    do {
                        guard let frame = try decoder.next() else { break }
                        decodeChecked(frame)
                    } catch {
                        #expect(decoder.error == error)
                        break feeding
                    }
                }
            }
        }
    }

    @Test("random payloads for every opcode never crash", arguments: NativeOpcode.allCases.map(\.rawValue))
    func randomPayloads(opcode: UInt8) {
        var rng = SplitMix64(seed: UInt64(opcode))
        for _ in 0 ..< 300 {
            let count = Int.random(in: 0 ... 64, using: &rng)
            var bytes = rng.bytes(count)
            // Small counts and lengths are more interesting than random 32-bit ones.
            for i in stride(from: 4, to: bytes.count, by: 4) where Bool.random(using: &rng) {
                bytes[i] = 0
                if i + 2 < bytes.count { bytes[i + 1] = 0; bytes[i + 2] = 0 }
            }
            decodeChecked(Frame(opcode: opcode, payload: bytes))
        }
    }

    @Test("mutated valid frames decode or fail cleanly", arguments: Fixtures.smallSamples)
    func mutations(_ sample: Sample) {
        let encoded = NativeCodec.encode(sample.envelope)
        let opcode = encoded[1]
        let original = Array(encoded.dropFirst(TitanProto.headerSize))
        var rng = SplitMix64(seed: UInt64(original.count))
        for _ in 0 ..< 100 {
            var bytes = original
            for _ in 0 ..< Int.random(in: 1 ... 3, using: &rng) where !bytes.isEmpty {
                let i = Int.random(in: 0 ..< bytes.count, using: &rng)
                switch Int.random(in: 0 ..< 3, using: &rng) {
                case 0: bytes[i] ^= UInt8(1) << UInt8.random(in: 0 ..< 8, using: &rng)
                case 1: bytes[i] = UInt8.random(in: 0 ... 255, using: &rng)
                default: bytes.remove(at: i)
                }
            }
            decodeChecked(Frame(opcode: opcode, payload: bytes))
        }
    }
}
