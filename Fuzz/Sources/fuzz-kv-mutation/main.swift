import CFuzzDriver
import Glibc
import TitanStore

/// Input: a journaled KV mutation. What decodes re-encodes to exactly the input, and applies.
@_cdecl("LLVMFuzzerTestOneInput")
func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let mutation = try? KVMutation(decoding: bytes) else { return 0 }
    precondition(mutation.encoded() == bytes, "\(mutation) re-encodes differently")
    var state = KVState()
    state.set("k", value: [1], nowMs: 0)
    try? state.apply(mutation)
    return 0
}

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv, fuzz))
