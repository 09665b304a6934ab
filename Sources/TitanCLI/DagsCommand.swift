import ArgumentParser
import TitanClient
import TitanProtocol

/// `titan dags`: recent DAGs, newest first.
struct DagsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "dags", abstract: "List recent DAGs.")

    @OptionGroup var client: ClientOptions

    @Option(help: "How many (default 20).")
    var limit: UInt32 = 20

    @Flag(help: "Print JSON.")
    var json = false

    func run() async throws {
        let dags = try await withClient(client) { try await $0.dags(limit: limit) }
        try Output.list(dags, json: json, empty: "no DAGs",
                        header: ["ID", "NAME", "STATE", "DONE", "FAILED", "SKIPPED", "SUBMITTED"]) { d in
            [d.id, d.name, d.state.description, "\(d.counts.completed)/\(d.counts.total)", "\(d.counts.failed)",
             "\(d.counts.skipped)", Output.timestamp(ms: d.submittedAtMs)]
        }
    }
}
