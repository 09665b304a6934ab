import CFuzzDriver
import Glibc
import TitanProtocol

/// Input: a byte stream. Fed whole and split at a point taken from the input, the decoder gives
/// the same frames and the same error; each frame then goes to its codec.
@_cdecl("LLVMFuzzerTestOneInput")
func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let cut = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1)
    let whole = frames([bytes[...]])
    precondition(frames([bytes[..<cut], bytes[cut...]]) == whole, "a split changed the frames")
    for frame in whole.frames {
        if frame.version == TitanProto.nativeVersion {
            _ = try? NativeCodec.decode(frame)
        } else {
            _ = try? V1Codec.decode(opcode: frame.opcode, payload: frame.payload)
        }
    }
    return 0
}

func frames(_ pieces: [ArraySlice<UInt8>]) -> (frames: [Frame], error: FrameError?) {
    var decoder = FrameDecoder(maxPayload: 1 << 20)
    var frames: [Frame] = []
    for piece in pieces {
        decoder.append(contentsOf: piece)
        do {
            while let frame = try decoder.next() { frames.append(frame) }
        } catch {
            return (frames, error)
        }
    }
    return (frames, nil)
}

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv, fuzz))
