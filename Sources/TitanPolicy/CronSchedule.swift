import Foundation

/// A parsed 5-field cron expression bound to a time zone. Pure: no clock, no I/O; instants are Unix
/// epoch milliseconds, and the only Foundation service used is the zone's UTC offset at an instant.
///
/// ## Syntax
/// `minute hour day-of-month month day-of-week`, fields separated by spaces or tabs. In each field:
/// `*`; a number; a range `a-b` (`a` ≤ `b`); a list `a,b-c,…` of any of these; a step `*/n`, `a-b/n`
/// or `a/n` (= `a-max/n`), where `n` is 1…(the field's maximum). Months accept `JAN`…`DEC` and the
/// day of week `SUN`…`SAT` (three letters, any case), also inside ranges (`MON-FRI`). Day of week
/// is 0–7, 0 and 7 both Sunday. Macros (whole expression, any case): `@yearly`/`@annually`
/// (`0 0 1 1 *`), `@monthly` (`0 0 1 * *`), `@weekly` (`0 0 * * 0`), `@daily`/`@midnight`
/// (`0 0 * * *`), `@hourly` (`0 * * * *`).
///
/// ## Day of month and day of week (Vixie cron)
/// When both fields are restricted, a day matches if **either** matches (`0 0 13 * FRI`: every
/// 13th and every Friday). When either field starts with `*` (`*` or `*/n`), a day must match
/// **both** — exactly Vixie cron's rule, so `0 0 */2 * MON` means "odd-numbered days that are
/// Mondays", as in crontab.
///
/// ## Time zones and daylight saving time
/// Fields are matched against the wall clock of `timeZone` (an IANA name; UTC by default). Each
/// fire is at second 0 of a matching local minute.
/// - A local time that does not exist (skipped by a spring-forward transition, e.g. 02:30 on the
///   last Sunday of March in Europe/Paris) does **not** fire that day; nothing is moved to after
///   the jump.
/// - A local time that occurs twice (a fall-back transition repeats an hour) fires **once**, at its
///   first (daylight-time) occurrence. This holds for every schedule, so `*/15 * * * *` pauses
///   during the repeated hour instead of firing twice per local quarter-hour. The rule is
///   stateless: `next(after:)` called from inside the repeated hour also skips local times whose
///   first occurrence has passed.
///
/// ## Equality
/// Two schedules are equal when they match the same minutes, hours, days, months and weekdays with
/// the same day-of-month/day-of-week rule in the same zone, however written: `@daily` ==
/// `0 0 * * *`, `*/20 * * * *` == `0,20,40 * * * *` (`expression` and `description` keep each
/// one's spelling).
public struct CronSchedule: Sendable, Equatable, CustomStringConvertible {
    /// How far `next(after:)` looks before answering nil: through the end of the local calendar
    /// year `searchHorizonYears` after the start's (8–9 years). Eight, not five, because a leap-day
    /// schedule (`0 0 29 2 *`) can wait eight years (2096 → 2104).
    public static let searchHorizonYears = 8

    /// The expression as written (fields separated by single spaces), or the macro in lower case.
    public let expression: String
    /// The zone whose wall clock the fields are matched against.
    public let timeZone: TimeZone

    // Bit sets: bit i set when value i matches.
    let minuteBits: UInt64  // 0…59
    let hourBits: UInt32  // 0…23
    let dayOfMonthBits: UInt32  // 1…31
    let monthBits: UInt16  // 1…12
    let dayOfWeekBits: UInt8  // 0…6, Sunday = 0
    /// The field started with `*` (Vixie's DOM_STAR / DOW_STAR): the day rule is AND, not OR.
    let dayOfMonthStar: Bool
    let dayOfWeekStar: Bool
    /// The zone's offset is always 0 (UTC/GMT): no offset look-ups needed.
    private let isUTC: Bool

    /// Parses `text` (see the type's documentation). `timeZone` is an IANA identifier such as
    /// `"Europe/Paris"` (an exact match, or else a case-insensitive match of a known identifier);
    /// nil means UTC.
    public init(parsing text: String, timeZone: String? = nil) throws(CronError) {
        let zone = try Self.resolveZone(timeZone)
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        let fields: [String]
        if trimmed.hasPrefix("@") {
            let macro = trimmed.lowercased()
            guard let expansion = Self.macros[macro] else { throw .unknownMacro(trimmed) }
            expression = macro
            fields = expansion.split(separator: " ").map(String.init)
        } else {
            fields = trimmed.split(whereSeparator: \.isWhitespace).map(String.init)
            guard fields.count == 5 else { throw .wrongFieldCount(got: fields.count) }
            expression = fields.joined(separator: " ")
        }
        minuteBits = try Self.parseField(fields[0], .minute)
        hourBits = UInt32(truncatingIfNeeded: try Self.parseField(fields[1], .hour))
        dayOfMonthBits = UInt32(truncatingIfNeeded: try Self.parseField(fields[2], .dayOfMonth))
        monthBits = UInt16(truncatingIfNeeded: try Self.parseField(fields[3], .month))
        var weekdays = try Self.parseField(fields[4], .dayOfWeek)
        if weekdays & (1 << 7) != 0 { weekdays = (weekdays | 1) & ~(1 << 7) }  // 7 is Sunday too
        dayOfWeekBits = UInt8(truncatingIfNeeded: weekdays)
        dayOfMonthStar = fields[2].hasPrefix("*")
        dayOfWeekStar = fields[4].hasPrefix("*")
        self.timeZone = zone
        isUTC = zone.identifier == "GMT" || zone.identifier == "UTC"
    }

    // MARK: - Inspection

    /// Matching minutes, ascending.
    public var minutes: [Int] { Self.values(UInt64(minuteBits), in: 0...59) }
    /// Matching hours, ascending.
    public var hours: [Int] { Self.values(UInt64(hourBits), in: 0...23) }
    /// Matching days of the month, ascending.
    public var daysOfMonth: [Int] { Self.values(UInt64(dayOfMonthBits), in: 1...31) }
    /// Matching months (1 = January), ascending.
    public var months: [Int] { Self.values(UInt64(monthBits), in: 1...12) }
    /// Matching days of the week (0 = Sunday … 6 = Saturday), ascending.
    public var daysOfWeek: [Int] { Self.values(UInt64(dayOfWeekBits), in: 0...6) }

    /// The expression, followed by the zone in parentheses unless it is UTC:
    /// `0 9 * * MON-FRI (Europe/Paris)`.
    public var description: String {
        isUTC ? expression : "\(expression) (\(timeZone.identifier))"
    }

    public static func == (a: CronSchedule, b: CronSchedule) -> Bool {
        a.minuteBits == b.minuteBits && a.hourBits == b.hourBits && a.dayOfMonthBits == b.dayOfMonthBits
            && a.monthBits == b.monthBits && a.dayOfWeekBits == b.dayOfWeekBits
            && a.dayOfMonthStar == b.dayOfMonthStar && a.dayOfWeekStar == b.dayOfWeekStar
            && a.timeZone.identifier == b.timeZone.identifier
    }

    // MARK: - Fire times

    /// Instants `next(after:)` accepts: years 1…9999 (UTC).
    static let supportedMs: ClosedRange<Int64> = -62_135_596_800_000...253_402_300_799_999

    /// The first fire time strictly after `ms` (Unix epoch milliseconds): second 0 of the first
    /// matching local minute, with the daylight-saving rules in the type's documentation. Nil when
    /// nothing matches within the search horizon (`searchHorizonYears`; e.g. `0 0 30 2 *`), or
    /// when `ms` is outside years 1…9999.
    ///
    /// Cost: the search skips whole months, days and hours that cannot match, so it is at most a
    /// few thousand cheap steps even for an impossible schedule, plus a handful of UTC-offset
    /// look-ups per candidate.
    public func next(after ms: Int64) -> Int64? {
        guard Self.supportedMs.contains(ms) else { return nil }
        let startSec = Civil.floorDiv(ms, 1000) + 1  // first whole second strictly after ms
        let startLocal = startSec + offset(at: startSec)
        var minute = Civil.ceilDiv(startLocal, 60)  // first local minute starting at or after it
        let maxYear = Civil.civil(fromDays: Civil.floorDiv(minute, 1440)).year + Int64(Self.searchHorizonYears)
        while let local = nextLocalMinute(from: minute, maxYear: maxYear) {
            // The earliest instant showing this wall-clock time. None: it falls in a
            // spring-forward gap. Before the start: it is a repeated time whose first occurrence
            // has passed. Either way it does not fire; try the next matching minute.
            if let instant = firstInstant(ofLocal: local * 60), instant >= startSec {
                let result = instant.multipliedReportingOverflow(by: 1000)
                return result.overflow ? nil : result.partialValue
            }
            minute = local + 1
        }
        return nil
    }

    /// Up to `limit` fire times `t` with `after < t ≤ upTo`, ascending.
    public func fireTimes(after: Int64, upTo: Int64, limit: Int) -> [Int64] {
        var times: [Int64] = []
        var cursor = after
        while times.count < limit, cursor < upTo, let t = next(after: cursor), t <= upTo {
            times.append(t)
            cursor = t
        }
        return times
    }

    // MARK: - Local-time search

    /// The first local minute (minutes since 1970-01-01 00:00 on the zone's wall clock) at or
    /// after `from` that matches all fields, or nil past the end of `maxYear`. Skips non-matching
    /// months, then days, then hours, then minutes.
    func nextLocalMinute(from: Int64, maxYear: Int64) -> Int64? {
        let startDay = Civil.floorDiv(from, 1440)
        let minuteOfDay = Int(from - startDay * 1440)
        var (year, month, day) = Civil.civil(fromDays: startDay)
        var hour = minuteOfDay / 60
        var minute = minuteOfDay % 60
        while year <= maxYear {
            if monthBits & (1 << month) == 0 {
                if let m = Self.nextBit(UInt64(monthBits), from: month + 1) {
                    month = m
                } else {
                    year += 1
                    month = monthBits.trailingZeroBitCount
                }
                (day, hour, minute) = (1, 0, 0)
                continue
            }
            if day > Civil.daysInMonth(year, month) {
                month += 1
                if month > 12 { (year, month) = (year + 1, 1) }
                (day, hour, minute) = (1, 0, 0)
                continue
            }
            if !dayMatches(year, month, day) {
                (day, hour, minute) = (day + 1, 0, 0)
                continue
            }
            guard let h = Self.nextBit(UInt64(hourBits), from: hour) else {
                (day, hour, minute) = (day + 1, 0, 0)
                continue
            }
            if h != hour { (hour, minute) = (h, 0) }
            guard let m = Self.nextBit(minuteBits, from: minute) else {
                (hour, minute) = (hour + 1, 0)
                if hour == 24 { (day, hour) = (day + 1, 0) }
                continue
            }
            return Civil.days(fromCivil: year, month, day) * 1440 + Int64(hour * 60 + m)
        }
        return nil
    }

    func dayMatches(_ year: Int64, _ month: Int, _ day: Int) -> Bool {
        let domMatch = dayOfMonthBits & (1 << day) != 0
        let weekday = Int(Civil.floorMod(Civil.days(fromCivil: year, month, day) + 4, 7))  // 1970-01-01 was a Thursday
        let dowMatch = dayOfWeekBits & (1 << weekday) != 0
        return dayOfMonthStar || dayOfWeekStar ? domMatch && dowMatch : domMatch || dowMatch
    }

    // MARK: - Zone offsets

    /// UTC offset in seconds at the instant `seconds` since the epoch.
    func offset(at seconds: Int64) -> Int64 {
        if isUTC { return 0 }
        return Int64(timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(seconds))))
    }

    /// The earliest instant (epoch seconds) whose wall-clock time is `local` (local seconds since
    /// the local epoch), or nil when that wall-clock time does not exist. Candidates are the
    /// offsets in force a day before and a day after; one is right when its instant really has that
    /// offset (assumes at most one transition within ±1 day, true of every real zone).
    func firstInstant(ofLocal local: Int64) -> Int64? {
        if isUTC { return local }
        let before = offset(at: local - 86_400)
        let after = offset(at: local + 86_400)
        // The larger offset gives the earlier instant.
        let (early, late) = (max(before, after), min(before, after))
        if offset(at: local - early) == early { return local - early }
        if late != early, offset(at: local - late) == late { return local - late }
        return nil
    }

    // MARK: - Parsing

    static let macros: [String: String] = [
        "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
        "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
    ]

    static let monthNames = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    static let weekdayNames = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]

    static func resolveZone(_ name: String?) throws(CronError) -> TimeZone {
        guard let name else { return .gmt }
        let trimmed = name.trimmingCharacters(in: .whitespaces)
        if !trimmed.isEmpty {
            if let zone = TimeZone(identifier: trimmed) { return zone }
            let wanted = trimmed.lowercased()
            let known = ["UTC", "GMT"] + TimeZone.knownTimeZoneIdentifiers
            if let match = known.first(where: { $0.lowercased() == wanted }), let zone = TimeZone(identifier: match) {
                return zone
            }
        }
        throw .unknownTimeZone(name)
    }

    /// The bit set of one field (bit i = value i; day of week may set bit 7, folded by the caller).
    static func parseField(_ text: String, _ field: CronField) throws(CronError) -> UInt64 {
        var bits: UInt64 = 0
        for element in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard !element.isEmpty else { throw .badField(field, token: text, problem: .emptyElement) }
            let element = String(element)
            let parts = element.split(separator: "/", omittingEmptySubsequences: false)
            let bounds = field.bounds
            var step = 1
            if parts.count > 1 {
                let allowed = 1...bounds.upperBound
                guard parts.count == 2, let n = number(parts[1]), allowed.contains(n) else {
                    throw .badStep(field, token: element, allowed: allowed)
                }
                step = n
            }
            let base = parts[0]
            var low: Int
            var high: Int
            if base == "*" {
                (low, high) = field == .dayOfWeek ? (0, 6) : (bounds.lowerBound, bounds.upperBound)
            } else {
                let ends = base.split(separator: "-", omittingEmptySubsequences: false)
                guard ends.count <= 2, !ends.contains(where: \.isEmpty) else {
                    throw .badField(field, token: String(base), problem: .malformed)
                }
                low = try value(ends[0], field)
                high = ends.count == 2 ? try value(ends[1], field) : (parts.count > 1 ? bounds.upperBound : low)
                guard low <= high else { throw .badField(field, token: String(base), problem: .backwardsRange) }
            }
            for v in stride(from: low, through: high, by: step) { bits |= 1 << UInt64(v) }
        }
        return bits
    }

    /// A number or (month, day of week) a name, checked against the field's bounds.
    static func value(_ token: Substring, _ field: CronField) throws(CronError) -> Int {
        if token.allSatisfy({ $0.isASCII && $0.isNumber }) {
            guard let n = Int(token), field.bounds.contains(n) else {
                throw .badField(field, token: String(token), problem: .outOfRange(field.bounds))
            }
            return n
        }
        let upper = token.uppercased()
        switch field {
        case .month: if let i = monthNames.firstIndex(of: upper) { return i + 1 }
        case .dayOfWeek: if let i = weekdayNames.firstIndex(of: upper) { return i }
        default: break
        }
        throw .badField(field, token: String(token), problem: .notANumber)
    }

    static func number(_ token: Substring) -> Int? {
        guard !token.isEmpty, token.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(token)
    }

    static func nextBit(_ bits: UInt64, from index: Int) -> Int? {
        guard index < 64 else { return nil }
        let masked = bits & (~UInt64(0) << UInt64(max(index, 0)))
        return masked == 0 ? nil : masked.trailingZeroBitCount
    }

    static func values(_ bits: UInt64, in range: ClosedRange<Int>) -> [Int] {
        range.filter { bits & (1 << UInt64($0)) != 0 }
    }
}

/// The five fields of a cron expression, named as in error messages.
public enum CronField: String, Sendable, CaseIterable, CustomStringConvertible {
    case minute
    case hour
    case dayOfMonth = "day-of-month"
    case month
    case dayOfWeek = "day-of-week"

    public var description: String { rawValue }

    /// Values a number in this field may take (day of week: 0–7, both ends Sunday).
    public var bounds: ClosedRange<Int> {
        switch self {
        case .minute: 0...59
        case .hour: 0...23
        case .dayOfMonth: 1...31
        case .month: 1...12
        case .dayOfWeek: 0...7
        }
    }
}

/// Why a cron expression or its zone was rejected. `description` is a one-line message naming the
/// field and the offending token, e.g. `hour: '25' is out of range 0-23`.
public enum CronError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Not a macro, and not 5 fields.
    case wrongFieldCount(got: Int)
    /// `token` in `field` is invalid: the number or name for `.notANumber`/`.outOfRange`, the range
    /// for `.backwardsRange`/`.malformed`, the whole field for `.emptyElement`.
    case badField(CronField, token: String, problem: FieldProblem)
    /// The step of the list element `token` is not a number in `allowed`.
    case badStep(CronField, token: String, allowed: ClosedRange<Int>)
    /// An `@` macro that is not one of the supported ones (the text as given).
    case unknownMacro(String)
    /// A zone name that is not a known IANA identifier (the name as given).
    case unknownTimeZone(String)

    public enum FieldProblem: Sendable, Equatable {
        /// Neither digits nor (month, day of week) a known three-letter name.
        case notANumber
        /// A number outside the field's bounds.
        case outOfRange(ClosedRange<Int>)
        /// A range `a-b` with `a` after `b`.
        case backwardsRange
        /// Not a value or `a-b` range (`1-2-3`, `-5`, `5-`).
        case malformed
        /// The list has an empty element (`1,,2`, `5,`).
        case emptyElement
    }

    public var description: String {
        switch self {
        case .wrongFieldCount(let got):
            return "expected 5 fields (minute hour day-of-month month day-of-week), got \(got)"
        case .badField(let field, let token, let problem):
            let what: String
            switch problem {
            case .notANumber:
                switch field {
                case .month: what = "is not a number or a month name (JAN-DEC)"
                case .dayOfWeek: what = "is not a number or a weekday name (SUN-SAT)"
                default: what = "is not a number"
                }
            case .outOfRange(let range): what = "is out of range \(range.lowerBound)-\(range.upperBound)"
            case .backwardsRange: what = "is a backwards range (start after end)"
            case .malformed: what = "is not a number or an a-b range"
            case .emptyElement: what = "has an empty list element"
            }
            return "\(field): '\(token)' \(what)"
        case .badStep(let field, let token, let allowed):
            let range = "\(allowed.lowerBound)-\(allowed.upperBound)"
            return "\(field): bad step in '\(token)': the step must be a number in \(range)"
        case .unknownMacro(let name):
            return "unknown macro '\(name)' "
                + "(expected @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)"
        case .unknownTimeZone(let name):
            return "unknown time zone '\(name)' (expected an IANA name such as 'Europe/Paris' or 'UTC')"
        }
    }
}

// MARK: - Calendar arithmetic (proleptic Gregorian, H. Hinnant's algorithms)

/// File-private so these helpers cannot collide with other files of the module.
private enum Civil {
    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }

    static func ceilDiv(_ a: Int64, _ b: Int64) -> Int64 { -floorDiv(-a, b) }

    static func floorMod(_ a: Int64, _ b: Int64) -> Int64 { a - floorDiv(a, b) * b }

    /// Days since 1970-01-01 of a civil date.
    static func days(fromCivil year: Int64, _ month: Int, _ day: Int) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = floorDiv(y, 400)
        let yearOfEra = y - era * 400
        let m = Int64(month)
        let dayOfYear = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The civil date of a day number (days since 1970-01-01).
    static func civil(fromDays dayNumber: Int64) -> (year: Int64, month: Int, day: Int) {
        let z = dayNumber + 719_468
        let era = floorDiv(z, 146_097)
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = Int(dayOfYear - (153 * mp + 2) / 5 + 1)
        let month = Int(mp < 10 ? mp + 3 : mp - 9)
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    static func daysInMonth(_ year: Int64, _ month: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}
