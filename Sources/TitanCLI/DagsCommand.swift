import ArgumentParser
import TitanClient
import TitanProtocol

/// `titan dags`: recent DAGs, newest first.
struct DagsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "dags", abstract: "List recent DAGs.")

    @OptionGroup var client: ClientOptions
    @OptionGroup var list: ListOptions

    func run() async throws {
        let dags = try await withClient(client) { try await $0.dags(limit: list.limit) }
        try Output.list(dags, json: list.json, empty: "no DAGs",
                        header: ["ID", "NAME", "STATE", "DONE", "FAILED", "SKIPPED", "SUBMITTED"]) { d in
            [d.id, d.name, d.state.description, "\(d.counts.completed)/\(d.counts.total)", "\(d.counts.failed)",
             "\(d.counts.skipped)", Output.timestamp(ms: d.submittedAtMs)]
        }
    }
}
