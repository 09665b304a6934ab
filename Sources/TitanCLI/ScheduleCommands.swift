import ArgumentParser
import TitanClient
import TitanProtocol

/// `titan schedules`: cron pipelines with their next and last runs.
struct SchedulesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "schedules", abstract: "List cron pipelines.")

    @OptionGroup var client: ClientOptions

    @Flag(help: "Print JSON.")
    var json = false

    func run() async throws {
        let schedules = try await withClient(client) { try await $0.schedules() }
        try Output.list(schedules, json: json, empty: "no schedules",
                        header: ["NAME", "CRON", "ZONE", "NEXT", "LAST", "LAST DAG", "RUNS", "SKIPPED", "OVERLAP"]) { s in
            [s.name, s.cron, s.timeZone.isEmpty ? "UTC" : s.timeZone,
             s.nextFireMs > 0 ? Output.timestamp(ms: s.nextFireMs) : "never",
             s.lastFireMs > 0 ? Output.timestamp(ms: s.lastFireMs) : "-", s.lastDagId.isEmpty ? "-" : s.lastDagId,
             "\(s.runs)", "\(s.skipped)", s.overlap]
        }
    }
}

/// `titan unschedule NAME`: stop a cron pipeline (runs already started go on).
struct UnscheduleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "unschedule", abstract: "Remove a cron pipeline.")

    @OptionGroup var client: ClientOptions

    @Argument(help: "The schedule's name (the pipeline's name).")
    var name: String

    func run() async throws {
        try await withClient(client) { try await $0.unschedule(name) }
        print("unscheduled \(name)")
    }
}
