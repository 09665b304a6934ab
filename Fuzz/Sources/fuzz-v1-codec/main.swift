import CFuzzDriver
import Glibc
import TitanProtocol

/// Input: the opcode byte, then the payload. Errors are in the form the original SDK matches;
/// file names in requests are plain names on bytes.
@_cdecl("LLVMFuzzerTestOneInput")
func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let opcode = bytes.first else { return 0 }
    do {
        switch try V1Codec.decode(opcode: opcode, payload: Array(bytes.dropFirst())) {
        case .uploadAsset(let name, _), .fetchAsset(let name), .deployScript(let name, _), .run(let name, _), .deploy(let name, _, _):
            precondition(!name.utf8.contains(UInt8(ascii: "/")) && !name.utf8.elementsEqual("..".utf8), "file name \(name)")
        default:
            break
        }
    } catch {
        precondition(error.message.hasPrefix("ERROR: ") || error.message.hasPrefix("UNKNOWN_OPCODE: "), error.message)
    }
    return 0
}

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv, fuzz))
