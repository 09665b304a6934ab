import Testing
import TitanPolicy
import TitanTestSupport

/// Fuzz target for cron expressions (they come from pipelines and over the wire in
/// `ScheduleSpec`): a schedule or a `CronError`, and a schedule's own spelling parses back to it.
/// Budget and seed: `TITAN_FUZZ_SECONDS` / `TITAN_FUZZ_SEED`.
@Suite("Fuzzing cron expressions")
struct CronFuzzTests {
    static let zones: [String?] = [nil, "UTC", "Europe/Paris", "america/new_york", "Australia/Lord_Howe", "Asia/Kathmandu",
                                   "Nowhere/Atlantis", ""]

    @Test("CronSchedule: a schedule that round-trips and answers next(after:) quickly, or a CronError")
    func cronExpressions() {
        let corpus = ["*/15 9-17 * * MON-FRI", "0 0 29 2 *", "0 0 13 * FRI", "5,10-20/5 */2 1 JAN-DEC/3 0-7", "@daily",
                      "@hourly", "0 0 */2 * MON", "30 2 * * SUN", "0 0 31 4 *"].map { Array($0.utf8) }
        let dictionary = ["*", "*/", "-", ",", "/", " ", "\t", "@yearly", "@annually", "@monthly", "@weekly", "@midnight",
                          "@reboot", "JAN", "dec", "SUN", "sat", "60", "24", "32", "13", "8", "0"].map { Array($0.utf8) }
        let report = Fuzzer.run("cron", corpus: corpus, dictionary: dictionary) { fuzzCase in
            let text = String(decoding: fuzzCase.bytes, as: UTF8.self)
            // The corpus in UTC (it must parse), mutations in any zone, unknown ones included.
            let zone = fuzzCase.iteration < corpus.count ? nil : Self.zones[Int.random(in: 0 ..< Self.zones.count, using: &fuzzCase.rng)]
            let schedule: CronSchedule
            do throws(CronError) {
                schedule = try CronSchedule(parsing: text, timeZone: zone)
            } catch {
                try fuzzCheck(!error.description.isEmpty, "an error without a message")
                return false
            }
            let again = try CronSchedule(parsing: schedule.expression, timeZone: zone)
            try fuzzCheck(again == schedule, "'\(schedule.expression)' parses to another schedule than '\(text)'")
            // Fire times are strictly later; in UTC on a whole minute (a zone's historical offset
            // may have seconds).
            let start = Int64.random(in: -62_135_596_800_000 ... 253_402_300_799_999, using: &fuzzCase.rng)
            if let next = schedule.next(after: start) {
                try fuzzCheck(next > start && (zone != nil || next % 60_000 == 0), "next(after: \(start)) = \(next)")
            }
            return true
        }
        #expect(report.failure == nil, "\(report)")
        #expect(report.seedsAccepted == 9, "\(report)")
    }
}
