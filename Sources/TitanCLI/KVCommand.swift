import ArgumentParser
import Foundation
import TitanClient

/// `titan kv ...`: the KV store jobs and agents share.
struct KVCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kv",
        abstract: "Read and write the shared KV store.",
        discussion: """
            Values are bytes: `get` writes them to stdout as they are (exit 1 if the key is missing);
            `set KEY -` reads the value from stdin. Writes return once the master has recorded them
            in its append-only file.
            """,
        subcommands: [Get.self, Set.self, Del.self, Sadd.self, Srem.self, Smembers.self, Incr.self])

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a value (exit 1 if missing).")
        @OptionGroup var client: ClientOptions
        @Argument var key: String

        func run() async throws {
            guard let value = try await withClient(client, { try await $0.kvGet(key) }) else {
                FileHandle.standardError.write(Data("\(key): not set\n".utf8))
                throw ExitCode(1)
            }
            FileHandle.standardOutput.write(Data(value))
            if isatty(1) != 0 && value.last != 10 { print() }
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set a value ('-' reads it from stdin).")
        @OptionGroup var client: ClientOptions
        @Option(help: "Expire after this many seconds.") var ttl: Double?
        @Argument var key: String
        @Argument var value: String

        func run() async throws {
            let bytes = value == "-" ? [UInt8](FileHandle.standardInput.readDataToEndOfFile()) : Array(value.utf8)
            if let ttl, !(ttl > 0 && ttl < 365 * 86_400) { throw CLIError(message: "--ttl: expected seconds between 0 and a year") }
            try await withClient(client) { try await $0.kvSet(key, bytes, ttlMs: ttl.map { UInt64($0 * 1_000) } ?? 0) }
        }
    }

    struct Del: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a key (prints 1 if it existed, else 0).")
        @OptionGroup var client: ClientOptions
        @Argument var key: String

        func run() async throws {
            print(try await withClient(client) { try await $0.kvDel(key) } ? 1 : 0)
        }
    }

    struct Sadd: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add to a set (prints 1 if new, 0 if already there).")
        @OptionGroup var client: ClientOptions
        @Argument var key: String
        @Argument var member: String

        func run() async throws {
            print(try await withClient(client) { try await $0.kvSadd(key, member) } ? 1 : 0)
        }
    }

    struct Srem: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove from a set (prints 1 if it was there).")
        @OptionGroup var client: ClientOptions
        @Argument var key: String
        @Argument var member: String

        func run() async throws {
            print(try await withClient(client) { try await $0.kvSrem(key, member) } ? 1 : 0)
        }
    }

    struct Smembers: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a set's members, one per line.")
        @OptionGroup var client: ClientOptions
        @Flag(help: "Print a JSON array.") var json = false
        @Argument var key: String

        func run() async throws {
            let members = try await withClient(client) { try await $0.kvSmembers(key) }
            if json {
                print(try Output.json(members))
            } else {
                for member in members { print(member) }
            }
        }
    }

    struct Incr: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add to a counter and print the new value.")
        @OptionGroup var client: ClientOptions
        @Option(help: "Amount to add (may be negative).") var by: Int64 = 1
        @Argument var key: String

        func run() async throws {
            print(try await withClient(client) { try await $0.kvIncr(key, by: by) })
        }
    }
}
