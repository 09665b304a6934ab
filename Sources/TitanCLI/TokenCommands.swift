import ArgumentParser
import Foundation
import TitanProtocol

/// `titan token create|list|revoke`: the credentials a master accepts (admin token needed).
struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Create, list and revoke the tokens the master accepts (admin).",
        subcommands: [TokenCreateCommand.self, TokenListCommand.self, TokenRevokeCommand.self])
}

struct TokenCreateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Make a token and print it (shown this once). Give it to a worker with --token-file, to a client as TITAN_TOKEN.")

    @Option(help: "What it may do: worker (register and run jobs), submit (jobs, DAGs, services, KV, approvals), read (status, logs, lists), admin.")
    var role: String

    @Option(help: "A name to recognise it by in `titan token list`.")
    var name = ""

    @Option(help: "How long it stays valid: e.g. 30d, 12h, 90m, 3600s (default: until revoked).")
    var ttl: String?

    @Flag(help: "Print JSON.")
    var json = false

    @OptionGroup var client: ClientOptions

    func run() async throws {
        let ttlMs = try ttl.map { text -> UInt64 in
            guard let ms = Self.milliseconds(text) else {
                throw ValidationError("--ttl: '\(text)' is not a duration like 30d, 12h, 90m or 3600s")
            }
            return ms
        } ?? 0
        try await withClient(client) { c in
            let reply = try await c.request(.token(.create(role: role, name: name, ttlMs: ttlMs)))
            guard case .tokenResult(.created(let info, let token)) = reply else {
                throw CLIError(message: "unexpected reply from master: \(reply.name)")
            }
            if json {
                print(try Output.json(["id": info.id, "role": info.role, "name": info.name, "token": token,
                               "expiresAtMs": "\(info.expiresAtMs)"]))
            } else {
                print(token)
                FileHandle.standardError.write(Data("token \(info.id) (\(info.role)) created; it is shown only now\n".utf8))
            }
        }
    }

    /// `30d`, `12h`, `90m`, `3600s` or plain seconds, in milliseconds.
    static func milliseconds(_ text: String) -> UInt64? {
        let units: [Character: UInt64] = ["d": 86_400_000, "h": 3_600_000, "m": 60_000, "s": 1_000]
        if let unit = text.last, let scale = units[unit], let n = UInt64(text.dropLast()), n > 0 {
            return n.multipliedReportingOverflow(by: scale).overflow ? nil : n * scale
        }
        return UInt64(text).flatMap { $0 > 0 ? $0 * 1_000 : nil }
    }
}

struct TokenListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "The tokens the master accepts (never their secrets).")

    @Flag(help: "Print JSON.")
    var json = false

    @OptionGroup var client: ClientOptions

    func run() async throws {
        try await withClient(client) { c in
            let reply = try await c.request(.token(.list))
            guard case .tokenResult(.list(let tokens)) = reply else {
                throw CLIError(message: "unexpected reply from master: \(reply.name)")
            }
            if json { return print(try Output.json(tokens)) }
            print("ID            ROLE    NAME                 EXPIRES")
            for t in tokens {
                let expires = t.expiresAtMs == 0 ? "never"
                    : ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(t.expiresAtMs) / 1000))
                print(t.id.padding(toLength: 14, withPad: " ", startingAt: 0) + t.role.padding(toLength: 8, withPad: " ", startingAt: 0)
                      + t.name.padding(toLength: 21, withPad: " ", startingAt: 0) + expires)
            }
        }
    }
}

struct TokenRevokeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke", abstract: "Revoke a token at once: connections using it are closed.")

    @Argument(help: "The token's id (from `titan token list`).")
    var id: String

    @OptionGroup var client: ClientOptions

    func run() async throws {
        try await withClient(client) { c in
            _ = try await c.request(.token(.revoke(id: id)))
            print("token \(id) revoked")
        }
    }
}
