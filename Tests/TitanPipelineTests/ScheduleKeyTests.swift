import Testing
import TitanPipeline

/// The top-level keys of a scheduled pipeline: `schedule`, `timezone`, `overlap`, `on_missed`.
@Suite struct ScheduleKeyTests {
    static let jobs = "jobs:\n  - {id: a, command: [x]}\n"

    @Test func aScheduledPipelineKeepsItsPolicies() throws {
        let p = try parsePipeline("name: n\nschedule: \"0 3 * * MON-FRI\"\ntimezone: Europe/Paris\noverlap: allow\non_missed: run-once\n" + Self.jobs)
        #expect(p.schedule == "0 3 * * MON-FRI")
        #expect(p.timeZone == "Europe/Paris")
        #expect(p.overlap == "allow")
        #expect(p.missed == "run-once")
    }

    @Test func aBadCronExpressionNamesTheField() {
        expectError("name: n\nschedule: \"* 24 * * *\"\n" + Self.jobs, line: 2, key: "schedule", "hour", "'24'")
    }

    @Test func anUnknownTimeZoneIsRefused() {
        expectError("name: n\nschedule: \"@daily\"\ntimezone: Mars/Olympus\n" + Self.jobs, line: 3, key: "timezone", "Mars/Olympus")
    }

    @Test func aTimeZoneWithoutAScheduleIsRefused() {
        expectError("name: n\ntimezone: UTC\n" + Self.jobs, line: 2, key: "timezone", "only applies with 'schedule'")
        expectError("name: n\noverlap: allow\n" + Self.jobs, line: 2, key: "overlap", "only applies with 'schedule'")
        expectError("name: n\non_missed: run-once\ntimezone: UTC\n" + Self.jobs, line: 2, key: "on_missed",
                    "only applies with 'schedule'")
    }

    @Test func policiesMustBeKnownValues() {
        expectError("name: n\nschedule: \"@daily\"\noverlap: sometimes\n" + Self.jobs, line: 3, key: "overlap",
                    "skip, allow, cancel-previous", "'sometimes'")
        expectError("name: n\nschedule: \"@daily\"\non_missed: never\n" + Self.jobs, line: 3, key: "on_missed",
                    "skip, run-once", "'never'")
    }
}
