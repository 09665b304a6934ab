import CFuzzDriver
import Glibc
import TitanStore

/// Input: a whole append-only file. Replay reports, repairs a torn tail (after which the file
/// replays cleanly to the same records) or throws a StoreError.
let path = "/tmp/titan-fuzz-aof-\(getpid()).aof"

@_cdecl("LLVMFuzzerTestOneInput")
func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    precondition(fd >= 0 && write(fd, data, size) == size)
    close(fd)
    defer { unlink(path) }
    var records: [[UInt8]] = []
    guard let report = try? AOFReader.replay(path: path, repair: true, body: { records.append($0) }) else { return 0 }
    var again: [[UInt8]] = []
    let second = try? AOFReader.replay(path: path, body: { again.append($0) })
    precondition(second?.tornTail == nil && again == records, "after \(report), the file replays differently")
    return 0
}

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv, fuzz))
