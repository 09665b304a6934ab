import ArgumentParser
import TitanClient
import TitanProtocol

/// `titan jobs`: recent jobs, newest first.
struct JobsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "jobs", abstract: "List recent jobs.")

    @OptionGroup var client: ClientOptions
    @OptionGroup var list: ListOptions

    func run() async throws {
        let jobs = try await withClient(client) { try await $0.jobs(limit: list.limit) }
        try Output.list(jobs, json: list.json, empty: "no jobs", header: ["ID", "STATE", "WORKER", "RESULT", "COMMAND"]) { j in
            [j.id, j.state.description, j.workerId.isEmpty ? "-" : j.workerId,
             j.state == .pending ? j.pendingReason : Output.outcome(j.result), Output.command(j.spec)]
        }
    }
}
