import Foundation
import Testing
import TitanPolicy
import TitanTestSupport

// MARK: - Helpers (file-private: other test files share this target)

private let minuteMs: Int64 = 60_000
private let hourMs: Int64 = 3_600_000
private let dayMs: Int64 = 86_400_000

/// Epoch milliseconds of a UTC wall-clock time, via Foundation's calendar (independent of the code
/// under test).
private func utc(_ year: Int, _ month: Int, _ day: Int, _ hour: Int = 0, _ minute: Int = 0) -> Int64 {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = TimeZone(identifier: "UTC")!
    let date = calendar.date(from: DateComponents(year: year, month: month, day: day, hour: hour, minute: minute))!
    return Int64((date.timeIntervalSince1970 * 1000).rounded())
}

private func cron(_ text: String, _ zone: String? = nil) throws -> CronSchedule {
    try CronSchedule(parsing: text, timeZone: zone)
}

/// The error `text` is rejected with (nil if it parses).
private func parseError(_ text: String, zone: String? = nil) -> CronError? {
    do {
        _ = try CronSchedule(parsing: text, timeZone: zone)
        return nil
    } catch {
        return error
    }
}

// MARK: - Parsing

@Suite("CronSchedule parsing")
struct CronScheduleParsingTests {
    @Test("the fixed epoch helper agrees with known epoch values")
    func epochHelper() {
        #expect(utc(1970, 1, 1) == 0)
        #expect(utc(2024, 1, 1) == 1_704_067_200_000)
        #expect(utc(2000, 2, 29, 12, 30) == 951_827_400_000)
    }

    @Test("`*` matches every value of every field")
    func star() throws {
        let s = try cron("* * * * *")
        #expect(s.minutes == Array(0...59))
        #expect(s.hours == Array(0...23))
        #expect(s.daysOfMonth == Array(1...31))
        #expect(s.months == Array(1...12))
        #expect(s.daysOfWeek == Array(0...6))
    }

    @Test("numbers, ranges and lists")
    func numbersRangesLists() throws {
        let s = try cron("5 4 3 2 1")
        #expect(s.minutes == [5] && s.hours == [4] && s.daysOfMonth == [3] && s.months == [2] && s.daysOfWeek == [1])
        let r = try cron("10-15 0-2 28-31 11-12 1-5")
        #expect(r.minutes == [10, 11, 12, 13, 14, 15])
        #expect(r.hours == [0, 1, 2])
        #expect(r.daysOfMonth == [28, 29, 30, 31])
        #expect(r.months == [11, 12])
        #expect(r.daysOfWeek == [1, 2, 3, 4, 5])
        let l = try cron("0,30,59 1,3-5,23 1,15 1,6,12 0,6")
        #expect(l.minutes == [0, 30, 59])
        #expect(l.hours == [1, 3, 4, 5, 23])
        #expect(l.daysOfMonth == [1, 15])
        #expect(l.months == [1, 6, 12])
        #expect(l.daysOfWeek == [0, 6])
        #expect(try cron("7-7 * * * *").minutes == [7])
        #expect(try cron("3,1,2,1 * * * *").minutes == [1, 2, 3])
    }

    @Test("steps: */n, a-b/n and a/n (= a-max/n)")
    func steps() throws {
        #expect(try cron("*/15 * * * *").minutes == [0, 15, 30, 45])
        #expect(try cron("10-30/10 * * * *").minutes == [10, 20, 30])
        #expect(try cron("5/20 * * * *").minutes == [5, 25, 45])
        #expect(try cron("0-59/59 * * * *").minutes == [0, 59])
        #expect(try cron("*/59 * * * *").minutes == [0, 59])
        #expect(try cron("*/1 * * * *").minutes == Array(0...59))
        #expect(try cron("0 */7 * * *").hours == [0, 7, 14, 21])
        #expect(try cron("0 0 */10 * *").daysOfMonth == [1, 11, 21, 31])
        #expect(try cron("0 0 * 1-12/3 *").months == [1, 4, 7, 10])
        #expect(try cron("0 0 * */6 *").months == [1, 7])
        #expect(try cron("0 0 * * */2").daysOfWeek == [0, 2, 4, 6])
        #expect(try cron("0 0 * * 1-7/2").daysOfWeek == [0, 1, 3, 5])  // 7 is Sunday
        #expect(try cron("0,20/20,7 * * * *").minutes == [0, 7, 20, 40])
    }

    @Test("month and weekday names, any case, also in ranges and lists")
    func names() throws {
        #expect(try cron("0 0 1 jan-Mar,dEc *").months == [1, 2, 3, 12])
        #expect(try cron("0 0 1 JAN,FEB,MAR,APR,MAY,JUN,JUL,AUG,SEP,OCT,NOV,DEC *").months == Array(1...12))
        #expect(try cron("0 0 * * mon-FRI").daysOfWeek == [1, 2, 3, 4, 5])
        #expect(try cron("0 0 * * SUN,MON,TUE,WED,THU,FRI,SAT").daysOfWeek == Array(0...6))
        #expect(try cron("0 0 * feb-11/3 *").months == [2, 5, 8, 11])
        #expect(try cron("0 0 * * sat") == (try cron("0 0 * * 6")))
    }

    @Test("day of week 0 and 7 are both Sunday")
    func sundayTwice() throws {
        #expect(try cron("0 0 * * 7").daysOfWeek == [0])
        #expect(try cron("0 0 * * 0").daysOfWeek == [0])
        #expect(try cron("0 0 * * SUN,7,0").daysOfWeek == [0])
        #expect(try cron("0 0 * * 5-7").daysOfWeek == [0, 5, 6])
        #expect(try cron("0 0 * * 7") == (try cron("0 0 * * 0")))
    }

    @Test("macros expand to their 5-field forms, any case")
    func macros() throws {
        let expansions = [
            ("@yearly", "0 0 1 1 *"), ("@annually", "0 0 1 1 *"), ("@monthly", "0 0 1 * *"),
            ("@weekly", "0 0 * * 0"), ("@daily", "0 0 * * *"), ("@midnight", "0 0 * * *"),
            ("@hourly", "0 * * * *"), ("@DAILY", "0 0 * * *"), ("  @Hourly ", "0 * * * *"),
        ]
        for (macro, fields) in expansions {
            #expect(try cron(macro) == (try cron(fields)), "\(macro)")
        }
        #expect(try cron("@Weekly").expression == "@weekly")
    }

    @Test("spaces and tabs separate fields; extra whitespace is ignored")
    func whitespace() throws {
        let s = try cron("  0\t9   *  *\tMON-FRI \n")
        #expect(s == (try cron("0 9 * * 1-5")))
        #expect(s.expression == "0 9 * * MON-FRI")
    }

    @Test("equality is semantic and includes the zone")
    func equality() throws {
        #expect(try cron("*/20 * * * *") == (try cron("0,20,40 * * * *")))
        #expect(try cron("0 0 * * *") == (try cron("0 0 * * *", "UTC")))
        #expect(try cron("0 0 * * *", "Europe/Paris") == (try cron("0 0 * * *", "Europe/Paris")))
        #expect(try cron("0 0 * * *") != (try cron("0 0 * * *", "Europe/Paris")))
        #expect(try cron("0 0 * * *") != (try cron("0 1 * * *")))
        // Same sets, but `*/1` keeps the Vixie AND rule while `1-31` makes it OR: not equal.
        #expect(try cron("0 0 */1 * MON") != (try cron("0 0 1-31 * MON")))
    }

    @Test("description is the expression, plus the zone unless UTC")
    func description() throws {
        #expect(try cron("0  9 * * MON-FRI").description == "0 9 * * MON-FRI")
        #expect(try cron("0 9 * * MON-FRI", "Europe/Paris").description == "0 9 * * MON-FRI (Europe/Paris)")
        #expect(try cron("@DAILY", "UTC").description == "@daily")
    }

    @Test("time zones: IANA names; default UTC; case-insensitive fallback")
    func zones() throws {
        #expect(try cron("0 0 * * *").timeZone.secondsFromGMT() == 0)
        #expect(try cron("0 0 * * *", "Europe/Paris").timeZone.identifier == "Europe/Paris")
        #expect(try cron("0 0 * * *", "europe/paris").timeZone.identifier == "Europe/Paris")
        #expect(try cron("0 0 * * *", "utc").timeZone.secondsFromGMT() == 0)
        #expect(parseError("0 0 * * *", zone: "Mars/Olympus") == .unknownTimeZone("Mars/Olympus"))
        #expect(parseError("0 0 * * *", zone: "") == .unknownTimeZone(""))
    }

    @Test("errors name the problem, the field and the token", arguments: [
        ("* * * *", CronError.wrongFieldCount(got: 4),
         "expected 5 fields (minute hour day-of-month month day-of-week), got 4"),
        ("* * * * * *", .wrongFieldCount(got: 6),
         "expected 5 fields (minute hour day-of-month month day-of-week), got 6"),
        ("   ", .wrongFieldCount(got: 0), "expected 5 fields (minute hour day-of-month month day-of-week), got 0"),
        ("60 * * * *", .badField(.minute, token: "60", problem: .outOfRange(0...59)),
         "minute: '60' is out of range 0-59"),
        ("0 25 * * *", .badField(.hour, token: "25", problem: .outOfRange(0...23)),
         "hour: '25' is out of range 0-23"),
        ("0 20-25 * * *", .badField(.hour, token: "25", problem: .outOfRange(0...23)),
         "hour: '25' is out of range 0-23"),
        ("0 0 0 * *", .badField(.dayOfMonth, token: "0", problem: .outOfRange(1...31)),
         "day-of-month: '0' is out of range 1-31"),
        ("0 0 32 * *", .badField(.dayOfMonth, token: "32", problem: .outOfRange(1...31)),
         "day-of-month: '32' is out of range 1-31"),
        ("0 0 * 13 *", .badField(.month, token: "13", problem: .outOfRange(1...12)),
         "month: '13' is out of range 1-12"),
        ("0 0 * * 8", .badField(.dayOfWeek, token: "8", problem: .outOfRange(0...7)),
         "day-of-week: '8' is out of range 0-7"),
        ("99999999999999999999 * * * *",
         .badField(.minute, token: "99999999999999999999", problem: .outOfRange(0...59)),
         "minute: '99999999999999999999' is out of range 0-59"),
        ("x * * * *", .badField(.minute, token: "x", problem: .notANumber), "minute: 'x' is not a number"),
        ("0 MON * * *", .badField(.hour, token: "MON", problem: .notANumber), "hour: 'MON' is not a number"),
        ("0 0 L * *", .badField(.dayOfMonth, token: "L", problem: .notANumber), "day-of-month: 'L' is not a number"),
        ("0 0 * FOO *", .badField(.month, token: "FOO", problem: .notANumber),
         "month: 'FOO' is not a number or a month name (JAN-DEC)"),
        ("0 0 * * MONDAY", .badField(.dayOfWeek, token: "MONDAY", problem: .notANumber),
         "day-of-week: 'MONDAY' is not a number or a weekday name (SUN-SAT)"),
        ("0 0 * * JAN", .badField(.dayOfWeek, token: "JAN", problem: .notANumber),
         "day-of-week: 'JAN' is not a number or a weekday name (SUN-SAT)"),
        ("0 0 ? * *", .badField(.dayOfMonth, token: "?", problem: .notANumber), "day-of-month: '?' is not a number"),
        ("0 5-2 * * *", .badField(.hour, token: "5-2", problem: .backwardsRange),
         "hour: '5-2' is a backwards range (start after end)"),
        ("0 0 * * FRI-SUN", .badField(.dayOfWeek, token: "FRI-SUN", problem: .backwardsRange),
         "day-of-week: 'FRI-SUN' is a backwards range (start after end)"),
        ("0 1-2-3 * * *", .badField(.hour, token: "1-2-3", problem: .malformed),
         "hour: '1-2-3' is not a number or an a-b range"),
        ("-5 * * * *", .badField(.minute, token: "-5", problem: .malformed),
         "minute: '-5' is not a number or an a-b range"),
        ("0 0 5- * *", .badField(.dayOfMonth, token: "5-", problem: .malformed),
         "day-of-month: '5-' is not a number or an a-b range"),
        ("1,,2 * * * *", .badField(.minute, token: "1,,2", problem: .emptyElement),
         "minute: '1,,2' has an empty list element"),
        ("0 0 * 1, *", .badField(.month, token: "1,", problem: .emptyElement), "month: '1,' has an empty list element"),
        ("*/0 * * * *", .badStep(.minute, token: "*/0", allowed: 1...59),
         "minute: bad step in '*/0': the step must be a number in 1-59"),
        ("*/60 * * * *", .badStep(.minute, token: "*/60", allowed: 1...59),
         "minute: bad step in '*/60': the step must be a number in 1-59"),
        ("0 */24 * * *", .badStep(.hour, token: "*/24", allowed: 1...23),
         "hour: bad step in '*/24': the step must be a number in 1-23"),
        ("0 0 1-10/x * *", .badStep(.dayOfMonth, token: "1-10/x", allowed: 1...31),
         "day-of-month: bad step in '1-10/x': the step must be a number in 1-31"),
        ("0 0 * */ *", .badStep(.month, token: "*/", allowed: 1...12),
         "month: bad step in '*/': the step must be a number in 1-12"),
        ("0 0 * * 1-5/2/2", .badStep(.dayOfWeek, token: "1-5/2/2", allowed: 1...7),
         "day-of-week: bad step in '1-5/2/2': the step must be a number in 1-7"),
        ("@reboot", .unknownMacro("@reboot"),
         "unknown macro '@reboot' (expected @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)"),
        ("@daily 5", .unknownMacro("@daily 5"),
         "unknown macro '@daily 5' (expected @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)"),
    ] as [(String, CronError, String)])
    func errors(text: String, expected: CronError, message: String) {
        let error = parseError(text)
        #expect(error == expected)
        #expect(error?.description == message)
    }

    @Test("unknown time zone message")
    func zoneMessage() {
        #expect(parseError("0 0 * * *", zone: "Europe/Pariss")?.description
            == "unknown time zone 'Europe/Pariss' (expected an IANA name such as 'Europe/Paris' or 'UTC')")
    }

    @Test("the first bad field is reported")
    func firstError() {
        #expect(parseError("60 25 * * *") == .badField(.minute, token: "60", problem: .outOfRange(0...59)))
    }
}

// MARK: - next(after:)

@Suite("CronSchedule.next")
struct CronScheduleNextTests {
    @Test("strictly after, at second 0 of the next matching minute")
    func strictlyAfter() throws {
        let every = try cron("* * * * *")
        #expect(every.next(after: 0) == 60_000)
        #expect(every.next(after: 59_999) == 60_000)
        #expect(every.next(after: 60_000) == 120_000)
        #expect(every.next(after: -1) == 0)
        #expect(every.next(after: -60_001) == -60_000)
        let quarter = try cron("*/15 * * * *")
        #expect(quarter.next(after: utc(2024, 1, 1, 0, 7) + 30_000) == utc(2024, 1, 1, 0, 15))
        #expect(quarter.next(after: utc(2024, 1, 1, 0, 15)) == utc(2024, 1, 1, 0, 30))
        #expect(quarter.next(after: utc(2024, 1, 1, 0, 15) - 1) == utc(2024, 1, 1, 0, 15))
        #expect(quarter.next(after: utc(2024, 1, 1, 23, 50)) == utc(2024, 1, 2, 0, 0))
    }

    @Test("before 1970")
    func preEpoch() throws {
        #expect(try cron("0 12 * * *").next(after: utc(1969, 12, 31, 13)) == 43_200_000)
        #expect(try cron("0 0 1 1 *").next(after: utc(1950, 6, 1)) == utc(1951, 1, 1))
    }

    @Test("fireTimes lists fire times in (after, upTo], at most limit")
    func fireTimes() throws {
        let hourly = try cron("@hourly")
        let t0 = utc(2024, 5, 1)
        #expect(hourly.fireTimes(after: t0, upTo: t0 + 3 * hourMs, limit: 10)
            == [t0 + hourMs, t0 + 2 * hourMs, t0 + 3 * hourMs])
        #expect(hourly.fireTimes(after: t0, upTo: t0 + 3 * hourMs - 1, limit: 10) == [t0 + hourMs, t0 + 2 * hourMs])
        #expect(hourly.fireTimes(after: t0 - 1, upTo: t0 + 10 * hourMs, limit: 2) == [t0, t0 + hourMs])
        #expect(hourly.fireTimes(after: t0, upTo: t0 + 10 * hourMs, limit: 0).isEmpty)
        #expect(hourly.fireTimes(after: t0, upTo: t0, limit: 5).isEmpty)
        #expect(try cron("0 0 30 2 *").fireTimes(after: t0, upTo: t0 + 365 * dayMs, limit: 5).isEmpty)
    }

    @Test("across month and year ends")
    func monthAndYearEnds() throws {
        #expect(try cron("0 0 1 * *").next(after: utc(2024, 1, 31, 12)) == utc(2024, 2, 1))
        #expect(try cron("0 0 31 * *").next(after: utc(2024, 1, 31)) == utc(2024, 3, 31))  // no Feb 31
        #expect(try cron("0 0 31 * *").next(after: utc(2024, 4, 1)) == utc(2024, 5, 31))  // no Apr 31
        #expect(try cron("0 0 30 * *").next(after: utc(2023, 1, 30)) == utc(2023, 3, 30))
        #expect(try cron("59 23 31 12 *").next(after: utc(2024, 12, 31, 23, 59)) == utc(2025, 12, 31, 23, 59))
        #expect(try cron("0 0 1 1 *").next(after: utc(2024, 12, 31, 23, 59) + 30_000) == utc(2025, 1, 1))
        #expect(try cron("@yearly").next(after: utc(2025, 1, 1)) == utc(2026, 1, 1))
        #expect(try cron("30 23 * 12 *").next(after: utc(2024, 12, 31, 23, 30)) == utc(2025, 12, 1, 23, 30))
        #expect(try cron("0 0 * FEB *").fireTimes(after: utc(2023, 2, 27), upTo: utc(2024, 12, 31), limit: 5)
            == [utc(2023, 2, 28), utc(2024, 2, 1), utc(2024, 2, 2), utc(2024, 2, 3), utc(2024, 2, 4)])
        #expect(try cron("15 10 * * *").next(after: utc(2024, 2, 28, 10, 15)) == utc(2024, 2, 29, 10, 15))
        #expect(try cron("15 10 * * *").next(after: utc(2023, 2, 28, 10, 15)) == utc(2023, 3, 1, 10, 15))
    }

    @Test("Feb 29 waits for the next leap year, skipping 2100")
    func leapDay() throws {
        let leap = try cron("0 0 29 2 *")
        #expect(leap.next(after: utc(2024, 2, 28, 12)) == utc(2024, 2, 29))
        #expect(leap.next(after: utc(2024, 3, 1)) == utc(2028, 2, 29))
        #expect(leap.next(after: utc(2096, 3, 1)) == utc(2104, 2, 29))  // 2100 is not a leap year
        #expect(leap.next(after: utc(1999, 1, 1)) == utc(2000, 2, 29))  // 2000 is
        #expect(leap.fireTimes(after: utc(2020, 1, 1), upTo: utc(2033, 1, 1), limit: 10)
            == [utc(2020, 2, 29), utc(2024, 2, 29), utc(2028, 2, 29), utc(2032, 2, 29)])
    }

    @Test("impossible schedules return nil, fast")
    func impossible() throws {
        let schedules = try ["0 0 30 2 *", "0 0 31 2 *", "0 0 31 4,6,9,11 *", "* * 30-31 FEB *"].map { try cron($0) }
        let paris = try cron("0 0 30 2 *", "Europe/Paris")
        let clock = ContinuousClock()
        let start = clock.now
        for i in 0..<50 {
            for s in schedules + [paris] {
                #expect(s.next(after: utc(2024, 1, 1) + Int64(i) * dayMs) == nil)
            }
        }
        #expect(clock.now - start < .seconds(5))  // 250 searches; each is a few thousand cheap steps
    }

    @Test("sparse schedules are found without minute-by-minute scanning")
    func sparseIsFast() throws {
        let s = try cron("59 23 31 12 *", "Europe/Paris")
        let clock = ContinuousClock()
        let start = clock.now
        let times = s.fireTimes(after: utc(2000, 1, 1), upTo: utc(2100, 1, 1), limit: 200)
        #expect(times.count == 100)
        #expect(times.first == utc(2000, 12, 31, 22, 59))
        #expect(clock.now - start < .seconds(5))
    }

    @Test("out-of-range instants return nil")
    func extremes() throws {
        let every = try cron("* * * * *")
        #expect(every.next(after: .max) == nil)
        #expect(every.next(after: .min) == nil)
        #expect(every.next(after: utc(9999, 12, 31, 23, 58)) == utc(9999, 12, 31, 23, 59))
    }

    @Test("day of month OR day of week when both are restricted (Vixie)")
    func domOrDow() throws {
        // Every Friday and every 13th (2024-09-01 was a Sunday; Oct 13 a Sunday).
        let s = try cron("0 0 13 * FRI")
        #expect(s.fireTimes(after: utc(2024, 9, 1), upTo: utc(2025, 1, 1), limit: 8) == [
            utc(2024, 9, 6), utc(2024, 9, 13), utc(2024, 9, 20), utc(2024, 9, 27),
            utc(2024, 10, 4), utc(2024, 10, 11), utc(2024, 10, 13), utc(2024, 10, 18),
        ])
        let firstWeekOrMonday = try cron("0 0 1-7 * 1")
        #expect(firstWeekOrMonday.fireTimes(after: utc(2024, 9, 1) - 1, upTo: utc(2025, 1, 1), limit: 9) == [
            utc(2024, 9, 1), utc(2024, 9, 2), utc(2024, 9, 3), utc(2024, 9, 4), utc(2024, 9, 5),
            utc(2024, 9, 6), utc(2024, 9, 7), utc(2024, 9, 9), utc(2024, 9, 16),
        ])
    }

    @Test("only the restricted field counts when the other is `*`")
    func domOrDowStar() throws {
        #expect(try cron("0 0 13 * *").fireTimes(after: utc(2024, 9, 1), upTo: utc(2025, 1, 1), limit: 3)
            == [utc(2024, 9, 13), utc(2024, 10, 13), utc(2024, 11, 13)])
        #expect(try cron("0 0 * * FRI").fireTimes(after: utc(2024, 9, 1), upTo: utc(2025, 1, 1), limit: 3)
            == [utc(2024, 9, 6), utc(2024, 9, 13), utc(2024, 9, 20)])
    }

    @Test("a field starting with `*` (like `*/2`) makes the day rule AND, as in Vixie cron")
    func domAndDowWithStarStep() throws {
        // Odd-numbered days that are Mondays: Sep 9, Sep 23, Oct 7 (Sep 2, 16, 30 are even).
        #expect(try cron("0 0 */2 * MON").fireTimes(after: utc(2024, 9, 1), upTo: utc(2025, 1, 1), limit: 3)
            == [utc(2024, 9, 9), utc(2024, 9, 23), utc(2024, 10, 7)])
        // `*/5` is Sunday and Friday; starred, it narrows the 13th to those weekdays.
        #expect(try cron("0 0 13 * */5").fireTimes(after: utc(2024, 1, 1), upTo: utc(2026, 1, 1), limit: 3)
            == [utc(2024, 9, 13), utc(2024, 10, 13), utc(2024, 12, 13)])
    }

    @Test("macros fire when expected")
    func macroTimes() throws {
        let t = utc(2024, 9, 4, 13, 25)  // a Wednesday
        #expect(try cron("@hourly").next(after: t) == utc(2024, 9, 4, 14))
        #expect(try cron("@daily").next(after: t) == utc(2024, 9, 5))
        #expect(try cron("@midnight").next(after: t) == utc(2024, 9, 5))
        #expect(try cron("@weekly").next(after: t) == utc(2024, 9, 8))  // Sunday
        #expect(try cron("@monthly").next(after: t) == utc(2024, 10, 1))
        #expect(try cron("@yearly").next(after: t) == utc(2025, 1, 1))
        #expect(try cron("@annually").next(after: t) == utc(2025, 1, 1))
    }

    @Test("names and steps fire when expected")
    func namesAndSteps() throws {
        // Weekdays at 09:30 in Q1 only; starting Friday 2024-03-29 09:30 → next is in January 2025.
        let s = try cron("30 9 * jan-mar mon-fri")
        #expect(s.next(after: utc(2024, 3, 28, 12)) == utc(2024, 3, 29, 9, 30))
        #expect(s.next(after: utc(2024, 3, 29, 9, 30)) == utc(2025, 1, 1, 9, 30))  // a Wednesday
        let steps = try cron("10-50/20 */8 * * *")
        #expect(steps.fireTimes(after: utc(2024, 1, 1) - 1, upTo: utc(2024, 1, 2), limit: 20) == [
            utc(2024, 1, 1, 0, 10), utc(2024, 1, 1, 0, 30), utc(2024, 1, 1, 0, 50),
            utc(2024, 1, 1, 8, 10), utc(2024, 1, 1, 8, 30), utc(2024, 1, 1, 8, 50),
            utc(2024, 1, 1, 16, 10), utc(2024, 1, 1, 16, 30), utc(2024, 1, 1, 16, 50),
        ])
    }
}

// MARK: - Time zones and DST

@Suite("CronSchedule time zones")
struct CronScheduleZoneTests {
    @Test("local wall-clock times in fixed and DST zones")
    func localTimes() throws {
        let paris = try cron("0 9 * * *", "Europe/Paris")
        #expect(paris.next(after: utc(2024, 1, 10)) == utc(2024, 1, 10, 8))  // CET, +1
        #expect(paris.next(after: utc(2024, 7, 10)) == utc(2024, 7, 10, 7))  // CEST, +2
        #expect(try cron("0 0 * * *", "Asia/Kolkata").next(after: utc(2024, 1, 1)) == utc(2024, 1, 1, 18, 30))
        #expect(try cron("0 0 * * *", "America/St_Johns").next(after: utc(2024, 1, 1)) == utc(2024, 1, 1, 3, 30))
        // Day boundaries are local: Monday 00:30 in Tokyo is Sunday 15:30 UTC.
        #expect(try cron("30 0 * * MON", "Asia/Tokyo").next(after: utc(2024, 9, 1)) == utc(2024, 9, 1, 15, 30))
    }

    @Test("Europe/Paris spring forward: the skipped local time does not fire that day")
    func springForwardSkipped() throws {
        // 2024-03-31: 02:00 CET (01:00Z) jumps to 03:00 CEST; 02:00–02:59 local does not exist.
        let s = try cron("30 2 * * *", "Europe/Paris")
        #expect(s.next(after: utc(2024, 3, 29, 12)) == utc(2024, 3, 30, 1, 30))  // 02:30 CET
        #expect(s.next(after: utc(2024, 3, 30, 12)) == utc(2024, 4, 1, 0, 30))  // 02:30 CEST, the day after
        let halfHourly = try cron("*/30 * * * *", "Europe/Paris")
        #expect(halfHourly.fireTimes(after: utc(2024, 3, 31, 0, 15), upTo: utc(2024, 3, 31, 1, 45), limit: 10)
            == [utc(2024, 3, 31, 0, 30), utc(2024, 3, 31, 1, 0), utc(2024, 3, 31, 1, 30)])  // 01:30 CET, 03:00, 03:30
        let everyMinute = try cron("* 2 * * *", "Europe/Paris")
        #expect(everyMinute.next(after: utc(2024, 3, 30, 12)) == utc(2024, 4, 1, 0, 0))
    }

    @Test("Europe/Paris fall back: the repeated local time fires once, at its first occurrence")
    func fallBackOnce() throws {
        // 2024-10-27: 03:00 CEST (01:00Z) goes back to 02:00 CET; 02:00–02:59 local happens twice.
        let s = try cron("30 2 * * *", "Europe/Paris")
        let first = s.next(after: utc(2024, 10, 26, 12))
        #expect(first == utc(2024, 10, 27, 0, 30))  // 02:30 CEST
        #expect(s.next(after: try #require(first)) == utc(2024, 10, 28, 1, 30))  // not 01:30Z (02:30 CET)
        // Asked from inside the repeated hour (02:10 CET): 02:30's first occurrence has passed.
        #expect(s.next(after: utc(2024, 10, 27, 1, 10)) == utc(2024, 10, 28, 1, 30))

        let halfHourly = try cron("*/30 * * * *", "Europe/Paris")
        #expect(halfHourly.fireTimes(after: utc(2024, 10, 26, 23, 15), upTo: utc(2024, 10, 27, 2, 45), limit: 10) == [
            utc(2024, 10, 26, 23, 30),  // 01:30 CEST
            utc(2024, 10, 27, 0, 0),  // 02:00 CEST
            utc(2024, 10, 27, 0, 30),  // 02:30 CEST — then 02:00 and 02:30 CET repeat and are skipped
            utc(2024, 10, 27, 2, 0),  // 03:00 CET
            utc(2024, 10, 27, 2, 30),  // 03:30 CET
        ])
        #expect(halfHourly.next(after: utc(2024, 10, 27, 1, 10)) == utc(2024, 10, 27, 2, 0))
    }

    @Test("America/New_York spring forward and Lord Howe's half-hour fall back")
    func otherTransitions() throws {
        // 2024-03-10: 02:00 EST (07:00Z) jumps to 03:00 EDT.
        #expect(try cron("0 2 * * *", "America/New_York").next(after: utc(2024, 3, 9, 12)) == utc(2024, 3, 11, 6))
        // 2024-11-03: 02:00 EDT (06:00Z) goes back to 01:00 EST; 01:30 fires once, as EDT.
        let ny = try cron("30 1 * * *", "America/New_York")
        #expect(ny.next(after: utc(2024, 11, 2, 12)) == utc(2024, 11, 3, 5, 30))
        #expect(ny.next(after: utc(2024, 11, 3, 5, 30)) == utc(2024, 11, 4, 6, 30))
        // Lord Howe: 2024-04-07 02:00 (+11, 15:00Z on the 6th) goes back to 01:30 (+10:30).
        let lh = try cron("45 1 * * *", "Australia/Lord_Howe")
        #expect(lh.next(after: utc(2024, 4, 6, 12)) == utc(2024, 4, 6, 14, 45))  // 01:45 +11
        #expect(lh.next(after: utc(2024, 4, 6, 14, 45)) == utc(2024, 4, 7, 15, 15))  // next day, 01:45 +10:30
    }
}

// MARK: - Randomized against a brute-force reference

/// A random expression together with the sets it denotes, built independently of the parser.
private struct RandomCron {
    var text: String
    var minutes: Set<Int>
    var hours: Set<Int>
    var days: Set<Int>
    var months: Set<Int>
    var weekdays: Set<Int>  // 0…6
    var dayStar: Bool
    var weekdayStar: Bool

    static let monthNames = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    static let weekdayNames = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]

    /// `dense`: the hour and day fields are `*` most of the time, so windows around a DST change
    /// usually contain fires.
    init(dense: Bool = false, using rng: inout SplitMix64) {
        var fields: [String] = []
        var sets: [Set<Int>] = []
        var stars: [Bool] = []
        let specs: [(ClosedRange<Int>, [String]?, Int)] = [
            (0...59, nil, 0), (0...23, nil, 0), (1...31, nil, 0), (1...12, Self.monthNames, 1),
            (0...7, Self.weekdayNames, 0),
        ]
        for (index, (bounds, names, nameBase)) in specs.enumerated() {
            let starChance = dense && index > 0 ? 8 : 4  // out of 10
            let (text, values) = Self.field(
                bounds, names: names, nameBase: nameBase, isWeekday: index == 4, starChance: starChance, using: &rng)
            fields.append(text)
            sets.append(index == 4 ? Set(values.map { $0 == 7 ? 0 : $0 }) : values)
            stars.append(text.hasPrefix("*"))
        }
        text = fields.joined(separator: " ")
        (minutes, hours, days, months, weekdays) = (sets[0], sets[1], sets[2], sets[3], sets[4])
        (dayStar, weekdayStar) = (stars[2], stars[4])
    }

    static func field(
        _ bounds: ClosedRange<Int>, names: [String]?, nameBase: Int, isWeekday: Bool, starChance: Int,
        using rng: inout SplitMix64
    ) -> (String, Set<Int>) {
        let starBounds = isWeekday ? 0...6 : bounds
        func token(_ v: Int) -> String {
            if let names, v - nameBase < names.count, v - nameBase >= 0, Bool.random(using: &rng) {
                let name = names[v - nameBase]
                return Bool.random(using: &rng) ? name : name.lowercased()
            }
            return String(v)
        }
        let roll = Int.random(in: 0..<10, using: &rng)
        switch roll {
        case ..<starChance:
            return ("*", Set(starBounds))
        case starChance:
            let step = Int.random(in: 1...max(1, bounds.upperBound / 2), using: &rng)
            return ("*/\(step)", Set(stride(from: starBounds.lowerBound, through: starBounds.upperBound, by: step)))
        default:
            var parts: [String] = []
            var values: Set<Int> = []
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                let a = Int.random(in: bounds, using: &rng)
                let b = Int.random(in: a...bounds.upperBound, using: &rng)
                switch Int.random(in: 0..<4, using: &rng) {
                case 0:
                    parts.append(token(a))
                    values.insert(a)
                case 1:
                    parts.append("\(token(a))-\(token(b))")
                    values.formUnion(a...b)
                case 2:
                    let step = Int.random(in: 1...max(1, bounds.upperBound / 3), using: &rng)
                    parts.append("\(token(a))-\(token(b))/\(step)")
                    values.formUnion(stride(from: a, through: b, by: step))
                default:
                    let step = Int.random(in: 1...max(1, bounds.upperBound / 3), using: &rng)
                    parts.append("\(token(a))/\(step)")
                    values.formUnion(stride(from: a, through: bounds.upperBound, by: step))
                }
            }
            return (parts.joined(separator: ","), values)
        }
    }

    /// Brute force: every UTC minute from `after` to `end`, decomposed by Foundation's calendar;
    /// a local minute fires at its first occurrence only (the pre-roll sees earlier occurrences).
    func fireTimes(after: Int64, upTo end: Int64, zone: TimeZone) -> [Int64] {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        var seen: Set<Int64> = []
        var result: [Int64] = []
        var t = (after / minuteMs) * minuteMs - 3 * hourMs
        while t <= end {
            let c = calendar.dateComponents(
                [.year, .month, .day, .hour, .minute, .weekday], from: Date(timeIntervalSince1970: Double(t / 1000)))
            let (y, mo, d, h, mi) = (c.year!, c.month!, c.day!, c.hour!, c.minute!)
            let key = Int64((((y * 100 + mo) * 100 + d) * 100 + h) * 100 + mi)
            if seen.insert(key).inserted, t > after, matches(mo, d, h, mi, weekday: c.weekday! - 1) {
                result.append(t)
            }
            t += minuteMs
        }
        return result
    }

    func matches(_ month: Int, _ day: Int, _ hour: Int, _ minute: Int, weekday: Int) -> Bool {
        guard minutes.contains(minute), hours.contains(hour), months.contains(month) else { return false }
        let dom = days.contains(day)
        let dow = weekdays.contains(weekday)
        return dayStar || weekdayStar ? dom && dow : dom || dow
    }
}

/// The first index where the lists differ (one running out counts), or nil when equal.
private func firstMismatch(_ a: [Int64], _ b: [Int64]) -> Int? {
    if a == b { return nil }
    return (0..<min(a.count, b.count)).first { a[$0] != b[$0] } ?? min(a.count, b.count)
}

@Suite("CronSchedule randomized")
struct CronScheduleRandomizedTests {
    @Test("next(after:) agrees with a minute-by-minute reference over 2-day windows", arguments: [1 as UInt64, 2, 3, 4])
    func agreesWithBruteForce(seed: UInt64) throws {
        var rng = SplitMix64(seed: 0xC0FFEE &+ seed)
        let zones: [String?] = [
            nil, "Europe/Paris", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "America/St_Johns",
            "Pacific/Chatham",
        ]
        var nonEmpty = 0
        var nearTransition = 0  // windows with a fire within 2 hours of a DST change
        for _ in 0..<100 {
            // The window starts at a random instant in 1995–2035, or near a DST change of the zone.
            let nearChange = Bool.random(using: &rng)
            let expression = RandomCron(dense: nearChange, using: &rng)
            let zoneName = zones[Int.random(in: 0..<zones.count, using: &rng)]
            let schedule = try CronSchedule(parsing: expression.text, timeZone: zoneName)
            let zone = schedule.timeZone
            var after = Int64.random(in: utc(1995, 1, 1)...utc(2035, 1, 1), using: &rng)
            var transition: Int64? = nil
            if nearChange,
                let change = zone.nextDaylightSavingTimeTransition(
                    after: Date(timeIntervalSince1970: Double(after / 1000)))
            {
                // Often just before the change, sometimes inside a repeated hour just after it.
                let changeMs = Int64(change.timeIntervalSince1970) * 1000
                after = changeMs + (Bool.random(using: &rng)
                    ? Int64.random(in: -4 * hourMs...hourMs, using: &rng) : -Int64.random(in: 0...dayMs, using: &rng))
                transition = changeMs
            }
            if Bool.random(using: &rng) { after = (after / minuteMs) * minuteMs }  // sometimes exactly on a minute
            let end = after + 2 * dayMs
            let expected = expression.fireTimes(after: after, upTo: end, zone: zone)
            if !expected.isEmpty { nonEmpty += 1 }
            if let transition, expected.contains(where: { abs($0 - transition) <= 2 * hourMs }) { nearTransition += 1 }
            let context = "\(schedule) after \(after)"
            let actual = schedule.fireTimes(after: after, upTo: end, limit: 10_000)
            if let i = firstMismatch(actual, expected) {
                let got = i < actual.count ? "\(actual[i])" : "nothing"
                let want = i < expected.count ? "\(expected[i])" : "nothing"
                let counts = "\(actual.count) vs \(expected.count) fires"
                Issue.record("\(context): fire time #\(i) is \(got), the reference says \(want) (\(counts))")
            }
            if let first = expected.first {
                #expect(schedule.next(after: after) == first, "\(context)")
            } else if let next = schedule.next(after: after) {
                #expect(next > end, "\(context)")
            }
        }
        // The generator must exercise something: windows with fires, and windows around DST changes.
        #expect(nonEmpty >= 30)
        #expect(nearTransition >= 10, "only \(nearTransition) windows fire near a DST change")
    }
}

// MARK: - CronPolicy

@Suite("CronPolicy.decide")
struct CronPolicyTests {
    static let t0 = utc(2024, 1, 1)  // an hourly schedule fires at t0, t0 + 1 h, …

    private func decide(
        last: Int64?, now: Int64, active: Bool, _ overlap: OverlapPolicy, _ missed: MissedRunPolicy,
        schedule: String = "0 * * * *"
    ) throws -> CronDecision {
        CronPolicy.decide(
            schedule: try cron(schedule), lastFireMs: last, nowMs: now, previousRunActive: active,
            overlap: overlap, missed: missed)
    }

    private func decision(_ start: Bool, _ cancel: Bool, next: Int64?, missed: Int) -> CronDecision {
        CronDecision(start: start, cancelPrevious: cancel, nextFireMs: next, missedRuns: missed)
    }

    @Test("policy names are the configuration strings")
    func rawValues() {
        #expect(OverlapPolicy.allCases.map(\.rawValue) == ["skip", "allow", "cancel-previous"])
        #expect(MissedRunPolicy.allCases.map(\.rawValue) == ["skip", "run-once"])
        #expect(OverlapPolicy(rawValue: "cancel-previous") == .cancelPrevious)
        #expect(MissedRunPolicy(rawValue: "run-once") == .runOnce)
    }

    @Test("never evaluated (lastFireMs nil): nothing is due; the first run is at the next fire time",
          arguments: OverlapPolicy.allCases, MissedRunPolicy.allCases)
    func firstEvaluation(overlap: OverlapPolicy, missed: MissedRunPolicy) throws {
        for active in [false, true] {
            #expect(try decide(last: nil, now: Self.t0 + 5 * minuteMs, active: active, overlap, missed)
                == decision(false, false, next: Self.t0 + hourMs, missed: 0))
            // Created exactly at a fire time: that one is not due either (it is not after nil).
            #expect(try decide(last: nil, now: Self.t0, active: active, overlap, missed)
                == decision(false, false, next: Self.t0 + hourMs, missed: 0))
        }
    }

    @Test("no fire time since lastFireMs (early or spurious timer): no start",
          arguments: OverlapPolicy.allCases, MissedRunPolicy.allCases)
    func nothingDue(overlap: OverlapPolicy, missed: MissedRunPolicy) throws {
        for active in [false, true] {
            #expect(try decide(last: Self.t0, now: Self.t0 + hourMs - 1, active: active, overlap, missed)
                == decision(false, false, next: Self.t0 + hourMs, missed: 0))
        }
    }

    /// (overlap, missed, previous run active) → (start, cancelPrevious, missedRuns), one fire time due.
    static let oneDueRows: [(OverlapPolicy, MissedRunPolicy, Bool, Bool, Bool, Int)] = [
        (.skip, .skip, false, true, false, 0),
        (.skip, .runOnce, false, true, false, 0),
        (.allow, .skip, false, true, false, 0),
        (.allow, .runOnce, false, true, false, 0),
        (.cancelPrevious, .skip, false, true, false, 0),
        (.cancelPrevious, .runOnce, false, true, false, 0),
        (.skip, .skip, true, false, false, 1),
        (.skip, .runOnce, true, false, false, 1),
        (.allow, .skip, true, true, false, 0),
        (.allow, .runOnce, true, true, false, 0),
        (.cancelPrevious, .skip, true, true, true, 0),
        (.cancelPrevious, .runOnce, true, true, true, 0),
    ]

    @Test("one fire time due (on time, or late but only one): run, subject to overlap", arguments: oneDueRows)
    func oneFireTimeDue(row: (OverlapPolicy, MissedRunPolicy, Bool, Bool, Bool, Int)) throws {
        let (overlap, missed, active, start, cancel, missedRuns) = row
        let expected = decision(start, cancel, next: Self.t0 + 2 * hourMs, missed: missedRuns)
        // The timer fired 250 ms after the fire time …
        #expect(try decide(last: Self.t0, now: Self.t0 + hourMs + 250, active: active, overlap, missed) == expected)
        // … exactly on it …
        #expect(try decide(last: Self.t0, now: Self.t0 + hourMs, active: active, overlap, missed) == expected)
        // … or 40 minutes late: still only one fire time passed, so it still runs.
        #expect(try decide(last: Self.t0, now: Self.t0 + hourMs + 40 * minuteMs, active: active, overlap, missed)
            == expected)
        // lastFireMs may be the previous decision's nowMs rather than the fire time itself.
        #expect(try decide(last: Self.t0 + 37, now: Self.t0 + hourMs + 250, active: active, overlap, missed)
            == expected)
    }

    /// (overlap, missed, previous run active) → (start, cancelPrevious, missedRuns), 5 fire times due.
    static let downRows: [(OverlapPolicy, MissedRunPolicy, Bool, Bool, Bool, Int)] = [
        (.skip, .skip, false, false, false, 5),
        (.allow, .skip, false, false, false, 5),
        (.cancelPrevious, .skip, false, false, false, 5),
        (.skip, .skip, true, false, false, 5),
        (.allow, .skip, true, false, false, 5),
        (.cancelPrevious, .skip, true, false, false, 5),
        (.skip, .runOnce, false, true, false, 4),
        (.allow, .runOnce, false, true, false, 4),
        (.cancelPrevious, .runOnce, false, true, false, 4),
        (.skip, .runOnce, true, false, false, 5),
        (.allow, .runOnce, true, true, false, 4),
        (.cancelPrevious, .runOnce, true, true, true, 4),
    ]

    @Test("master was down over several fire times: run once or skip them all", arguments: downRows)
    func masterWasDown(row: (OverlapPolicy, MissedRunPolicy, Bool, Bool, Bool, Int)) throws {
        let (overlap, missed, active, start, cancel, missedRuns) = row
        // Down from just after t0 until t0 + 5 h 10 min: t0 + 1 h … t0 + 5 h passed (5 fire times).
        #expect(try decide(last: Self.t0, now: Self.t0 + 5 * hourMs + 10 * minuteMs, active: active, overlap, missed)
            == decision(start, cancel, next: Self.t0 + 6 * hourMs, missed: missedRuns))
    }

    @Test("back up exactly at a fire time after missing others: that one is among the due ones")
    func backAtFireTime() throws {
        let now = Self.t0 + 3 * hourMs
        #expect(try decide(last: Self.t0, now: now, active: false, .allow, .skip)
            == decision(false, false, next: now + hourMs, missed: 3))
        #expect(try decide(last: Self.t0, now: now, active: false, .allow, .runOnce)
            == decision(true, false, next: now + hourMs, missed: 2))
    }

    @Test("the clock went backwards: nothing is due and handled fire times are not rescheduled")
    func clockBackwards() throws {
        for overlap in OverlapPolicy.allCases {
            for missed in MissedRunPolicy.allCases {
                #expect(
                    try decide(last: Self.t0 + 2 * hourMs, now: Self.t0 + hourMs + 5, active: false, overlap, missed)
                    == decision(false, false, next: Self.t0 + 3 * hourMs, missed: 0))
            }
        }
    }

    @Test("an impossible schedule never starts and has no next fire time")
    func impossibleSchedule() throws {
        let d = try decide(
            last: Self.t0, now: Self.t0 + 400 * dayMs, active: false, .allow, .runOnce, schedule: "0 0 30 2 *")
        #expect(d == decision(false, false, next: nil, missed: 0))
    }

    @Test("a very long outage is counted up to maxCountedFireTimes, quickly")
    func longOutage() throws {
        let now = Self.t0 + 30 * dayMs + 30_000  // every minute for 30 days: 43,200 fire times
        let cap = CronPolicy.maxCountedFireTimes
        #expect(try decide(last: Self.t0, now: now, active: false, .skip, .runOnce, schedule: "* * * * *")
            == decision(true, false, next: Self.t0 + 30 * dayMs + minuteMs, missed: cap - 1))
        #expect(try decide(last: Self.t0, now: now, active: false, .skip, .skip, schedule: "* * * * *")
            == decision(false, false, next: Self.t0 + 30 * dayMs + minuteMs, missed: cap))
    }

    @Test("DST: a decision in Europe/Paris across fall back counts the repeated hour once")
    func dstDecision() throws {
        // Hourly at :30 in Paris; last handled 00:45Z (02:45 CEST) on 2024-10-27, now 02:45Z (03:45 CET):
        // 02:30 CET (01:30Z) is a repeat and not due; 03:30 CET (02:30Z) is the only due time.
        let d = CronPolicy.decide(
            schedule: try cron("30 * * * *", "Europe/Paris"), lastFireMs: utc(2024, 10, 27, 0, 45),
            nowMs: utc(2024, 10, 27, 2, 45), previousRunActive: false, overlap: .allow, missed: .skip)
        #expect(d == decision(true, false, next: utc(2024, 10, 27, 3, 30), missed: 0))
    }

    @Test("driving a simulated scheduler for a day runs an hourly job 24 times")
    func simulatedDay() throws {
        let schedule = try cron("@hourly")
        var last: Int64? = nil
        var now = Self.t0 - 10 * minuteMs  // the master starts 10 minutes before midnight
        var runs: [Int64] = []
        while now < Self.t0 + dayMs {
            let d = CronPolicy.decide(
                schedule: schedule, lastFireMs: last, nowMs: now, previousRunActive: false, overlap: .skip,
                missed: .runOnce)
            if d.start { runs.append(now) }
            #expect(d.missedRuns == 0)
            last = now
            now = try #require(d.nextFireMs) + 3  // the timer fires a few ms late
        }
        #expect(runs == (0..<24).map { Self.t0 + Int64($0) * hourMs + 3 })
    }
}
