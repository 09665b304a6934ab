import ArgumentParser
import TitanClient
import TitanProtocol

/// `titan workers`: capabilities, slots in use, permanence, idle time, last heard, what runs.
struct WorkersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "workers", abstract: "List workers.")

    @OptionGroup var client: ClientOptions

    @Flag(help: "Print JSON.")
    var json = false

    func run() async throws {
        let workers = try await withClient(client) { try await $0.workers() }
        try Output.list(workers, json: json, empty: "no workers registered",
                        header: ["ID", "ADDRESS", "HEALTH", "CAPABILITIES", "SLOTS", "PERMANENT", "IDLE", "LAST SEEN", "SERVICES", "JOBS"]) { w in
            [w.id, w.address.isEmpty ? "-" : w.address, w.health, w.capabilities.joined(separator: ","), "\(w.running)/\(w.slots)", w.permanent ? "yes" : "no",
             w.idleMs < 0 ? "-" : Output.duration(ms: w.idleMs), "\(Output.duration(ms: w.lastSeenAgoMs)) ago",
             w.services.isEmpty ? "-" : w.services.joined(separator: ","),
             w.runningJobs.isEmpty ? "-" : w.runningJobs.joined(separator: ",")]
        }
    }
}
