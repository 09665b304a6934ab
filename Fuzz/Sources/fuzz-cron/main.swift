import CFuzzDriver
import Glibc
import TitanPolicy

/// Input: a cron expression. A schedule whose spelling parses back to it and whose next fire
/// time is later, or a CronError.
@_cdecl("LLVMFuzzerTestOneInput")
func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard let schedule = try? CronSchedule(parsing: text) else { return 0 }
    precondition((try? CronSchedule(parsing: schedule.expression)) == schedule, "'\(schedule.expression)' from '\(text)'")
    if let next = schedule.next(after: 1_767_225_600_000) { precondition(next > 1_767_225_600_000) }
    return 0
}

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv, fuzz))
