import ArgumentParser
import Foundation
import TitanClient
import TitanProtocol

/// `titan approvals`, `titan approve`, `titan reject`: human approval gates.
struct ApprovalsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "approvals", abstract: "List gates waiting for a decision.")

    @OptionGroup var client: ClientOptions
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let open = try await withClient(client) { try await $0.approvals() }
        if json { return print(try Output.json(open)) }
        if open.isEmpty { return print("no gate is waiting") }
        for gate in open { print("\(gate.jobId)  \(gate.message)") }
    }
}

struct ApproveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "approve", abstract: "Approve a gate: its DAG goes on at once.")

    @OptionGroup var client: ClientOptions
    @Argument(help: "The gate's job id (dag-3/review), or its DAG-style alias.") var job: String

    func run() async throws { try await decide(client, job, approved: true) }
}

struct RejectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reject", abstract: "Reject a gate: it fails, and what depends on it is skipped.")

    @OptionGroup var client: ClientOptions
    @Argument(help: "The gate's job id.") var job: String

    func run() async throws { try await decide(client, job, approved: false) }
}

private func decide(_ options: ClientOptions, _ job: String, approved: Bool) async throws {
    try await withClient(options) { client in
        let info = try await client.status(job)
        guard info.spec.gate != nil else { throw CLIError(message: "\(info.id) is not a gate") }
        guard !info.state.isFinal else { throw CLIError(message: "\(info.id) is already \(info.state)") }
        try await client.decide(info.id, approved: approved)
        print("\(info.id) \(approved ? "approved" : "rejected")")
    }
}
