import ArgumentParser
import Foundation
import TitanClient
import TitanProtocol

/// `titan approvals`, `titan approve`, `titan reject`: human approval gates, however they were
/// made. A native gate (YAML `type: gate` or `hitl_message`, the SDKs' `hitl_message`) is listed
/// under its job id (`dag-3/hitl-gate-train`); a gate run as a job (the original Titan's
/// `hitl_gate.py`, which its SDK puts after a job with `hitl_message`) under the name it
/// registered (`hitl-gate-train`). Either is decided by the id listed, or by another name of the
/// same gate (see `GateLookup`).
struct ApprovalsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "approvals", abstract: "List gates waiting for a decision.")

    @OptionGroup var client: ClientOptions
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let open = try await withClient(client) { try await GateLookup.open(with: $0) }
        if json { return print(try Output.json(open)) }
        if open.isEmpty { return print("no gate is waiting") }
        for gate in open { print("\(gate.jobId)  \(gate.message)") }
    }
}

struct ApproveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "approve", abstract: "Approve a gate: its DAG goes on at once.")

    @OptionGroup var client: ClientOptions
    @Argument(help: "The gate as `titan approvals` lists it (dag-3/hitl-gate-train, hitl-gate-train), or its job's id or DAG-style name (DAG-hitl-gate-train).")
    var job: String

    func run() async throws { try await decide(client, job, approved: true) }
}

struct RejectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reject", abstract: "Reject a gate: it fails, and what depends on it is skipped.")

    @OptionGroup var client: ClientOptions
    @Argument(help: "The gate, named as for `titan approve`.") var job: String

    func run() async throws { try await decide(client, job, approved: false) }
}

private func decide(_ options: ClientOptions, _ asked: String, approved: Bool) async throws {
    try await withClient(options) { client in
        let gate = try await GateLookup.find(asked, with: client)
        try await client.decide(gate, approved: approved)
        print("\(gate) \(approved ? "approved" : "rejected")")
    }
}

/// Finding the gate a user names.
enum GateLookup {
    /// Decisions that end a gate's wait (its status key's value).
    static let outcomes: Set<String> = ["APPROVED", "REJECTED", "TIMEOUT"]

    /// The gates waiting for a decision. The master takes a gate out of the queue once decided or
    /// ended; one a decision was written for, still queued by an older master, is left out too.
    static func open(with client: TitanClient) async throws -> [TitanClient.Approval] {
        var open: [TitanClient.Approval] = []
        for gate in try await client.approvals() {
            let status = try await client.kvGet("titan:hitl:status:" + gate.jobId).map { String(decoding: $0, as: UTF8.self) }
            if let status, outcomes.contains(status) { continue }
            open.append(gate)
        }
        return open
    }

    /// The name under which `asked` is decided (its status key's id). An open gate matches by
    /// the id listed; or by its job: the job the master finds for `asked` (a full id, `x` or
    /// `DAG-x`), which is a listed native gate itself or the job that registered a listed name;
    /// or, for a name not found as a job, a listed name ending in `/asked` or equal to it without
    /// `DAG-`. A native gate that has not opened yet may be decided in advance by its job id.
    static func find(_ asked: String, with client: TitanClient) async throws -> String {
        let open = try await Self.open(with: client).map(\.jobId)
        if open.contains(asked) { return asked }
        let job = try await jobInfo(asked, with: client)
        let bare = asked.hasPrefix("DAG-") ? String(asked.dropFirst(4)) : asked
        var matches = open.filter { $0 == job?.id || $0 == bare || $0.hasSuffix("/" + asked) }
        if matches.isEmpty, let job {
            // A gate run as a job registered a name of its own: the listed name leading to it.
            for name in open where !name.contains("/") {
                if try await jobInfo(name, with: client)?.id == job.id { matches.append(name) }
            }
        }
        if matches.count > 1 {
            throw CLIError(message: "'\(asked)' names several waiting gates: \(matches.joined(separator: ", ")); give one as listed")
        }
        if let match = matches.first { return match }
        guard let job else { throw CLIError(message: "no gate '\(asked)' is waiting (titan approvals lists them)") }
        guard job.spec.gate != nil else { throw CLIError(message: "\(job.id) is not a gate waiting for a decision") }
        guard !job.state.isFinal else { throw CLIError(message: "\(job.id) is already \(job.state)") }
        return job.id  // not open yet: the decision counts when it opens
    }

    private static func jobInfo(_ id: String, with client: TitanClient) async throws -> JobInfo? {
        do {
            return try await client.status(id)
        } catch TitanClientError.server(.notFound, _) {
            return nil
        }
    }
}
