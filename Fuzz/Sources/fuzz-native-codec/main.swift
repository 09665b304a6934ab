import CFuzzDriver
import Glibc
import TitanProtocol

/// Input: the opcode byte, then the payload. A decoded envelope must re-encode to a frame that
/// decodes to itself.
@_cdecl("LLVMFuzzerTestOneInput")
func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let opcode = bytes.first else { return 0 }
    guard let envelope = try? NativeCodec.decode(Frame(opcode: opcode, payload: Array(bytes.dropFirst()))) else { return 0 }
    let encoded = NativeCodec.encode(envelope)
    let again = try? NativeCodec.decode(Frame(opcode: encoded[1], payload: Array(encoded.dropFirst(TitanProto.headerSize))))
    precondition(again == envelope, "round trip changed \(envelope)")
    return 0
}

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv, fuzz))
