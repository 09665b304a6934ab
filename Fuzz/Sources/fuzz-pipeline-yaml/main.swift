import CFuzzDriver
import Glibc
import TitanPipeline

/// Input: a pipeline file's text. A pipeline, or a PipelineError naming the file.
@_cdecl("LLVMFuzzerTestOneInput")
func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    do {
        _ = try PipelineLoader.parse(yaml: text, path: "pipeline.yaml", baseDirectory: "/nonexistent")
    } catch {
        precondition(error.path == "pipeline.yaml" && !error.message.isEmpty, "\(error)")
    }
    return 0
}

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv, fuzz))
