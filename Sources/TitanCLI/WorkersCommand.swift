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
        if json {
            print(try Output.json(workers))
            return
        }
        if workers.isEmpty {
            print("no workers registered")
            return
        }
        print(Output.table(["ID", "HEALTH", "CAPABILITIES", "SLOTS", "PERMANENT", "LAST SEEN", "JOBS"], workers.map { w in
            [w.id, w.health, w.capabilities.joined(separator: ","), "\(w.running)/\(w.slots)", w.permanent ? "yes" : "no",
             "\(Output.duration(ms: w.lastSeenAgoMs)) ago", w.runningJobs.joined(separator: ",")]
        }))
    }
}
