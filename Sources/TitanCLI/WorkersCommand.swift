import ArgumentParser
import TitanClient
import TitanProtocol

/// `titan workers`: capabilities, slots in use, permanence, last heard.
struct WorkersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "workers", abstract: "List workers.")

    @OptionGroup var client: ClientOptions

    @Flag(help: "Print JSON.")
    var json = false

    func run() async throws {
        let workers = try await withClient(client) { try await $0.workers() }
        try Output.list(workers, json: json, empty: "no workers registered",
                        header: ["ID", "HEALTH", "CAPABILITIES", "SLOTS", "PERMANENT", "LAST SEEN", "JOBS"]) { w in
            [w.id, w.health, w.capabilities.joined(separator: ","), "\(w.running)/\(w.slots)", w.permanent ? "yes" : "no",
             "\(Output.duration(ms: w.lastSeenAgoMs)) ago", w.runningJobs.joined(separator: ",")]
        }
    }
}
