import ArgumentParser
import Foundation
import TitanClient
import TitanProtocol

/// `titan deploy`, `titan services`, `titan stop`, `titan restart`.
struct DeployCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deploy",
        abstract: "Run a long-lived service, kept alive per its restart policy.",
        discussion: """
            titan deploy server.py [--name api] [--port 8080|auto] [--cap TAG] [--restart always|on-failure|never]
                         [--health tcp|http:/path] [--replicas N] [-- ARGS...]
            A local script is shipped to the worker. With a port, the service gets it as PORT and
            in place of {port} in its arguments. It is STARTING until its health check passes, then
            HEALTHY; a failing check restarts it per policy; quick repeated failures end in CRASH_LOOP.
            With --replicas N, N copies run (NAME, NAME#1, ...), spread over workers where possible,
            each with its own port (TITAN_REPLICA tells a copy which one it is). Deploying again
            with only --replicas changed adds or ends copies and leaves the others running.
            """)

    @OptionGroup var client: ClientOptions
    @Option(help: "Service name (default: the script or program name).") var name: String?
    @Option(help: "A port number, or auto for a free one.") var port: String?
    @Option(name: .customLong("cap"), help: "Capability tags the worker needs (repeatable, or comma-separated).") var capabilities: [String] = []
    @Option(help: "always, on-failure or never.") var restart = "always"
    @Option(help: "tcp or http:/path.") var health: String?
    @Option(name: .customLong("env"), help: "NAME=VALUE (repeatable).") var environment: [String] = []
    @Option(help: "How many copies to run.") var replicas: UInt32 = 1
    @Flag(help: "Print JSON.") var json = false
    @Argument(help: "The script or program (or give the whole command after --).") var program: String?
    @Argument(parsing: .postTerminator, help: "Its arguments, after --.") var arguments: [String] = []

    func run() async throws {
        let argv = (program.map { [$0] } ?? []) + arguments
        guard let program = argv.first else { throw ValidationError("nothing to deploy: give a program or script") }
        guard replicas >= 1 else { throw ValidationError("--replicas: needs at least 1") }
        let portValue: Int32
        switch port {
        case nil: portValue = health == nil ? -1 : 0
        case "auto"?: portValue = 0
        case let text?:
            guard let n = Int32(text), (1...65_535).contains(n) else { throw ValidationError("--port: '\(text)' is not a port or auto") }
            portValue = n
        }
        var env: [String: String] = [:]
        for item in environment {
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty else { throw ValidationError("--env: '\(item)' is not NAME=VALUE") }
            env[String(parts[0])] = String(parts[1])
        }
        let serviceName = name ?? URL(fileURLWithPath: program).deletingPathExtension().lastPathComponent
        let info = try await withClient(client) { client in
            var spec = ServiceSpec(name: serviceName, command: argv, environment: env,
                                   requirements: Capabilities.parse(capabilities), restart: restart, port: portValue,
                                   health: health ?? "", replicas: replicas)
            if let script = LocalScript.path(program) {
                // Shipped, and run from the service's directory on the worker.
                spec.artifacts = [try await LocalScript.ship(script, namePrefix: "svc", using: client)]
                spec.command = LocalScript.command(script) + argv.dropFirst()
            }
            return try await client.deployService(spec)
        }
        if json { return print(try Output.json(info)) }
        for copy in info { print("\(copy.instance) \(copy.state)\(copy.workerId.isEmpty ? "" : " on \(copy.workerId)")") }
    }
}

struct ServicesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "services", abstract: "List services.")
    @OptionGroup var client: ClientOptions
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let list = try await withClient(client) { try await $0.services() }
        if json { return print(try Output.json(list)) }
        if list.isEmpty { return print("no services") }
        let now = Int64(Date().timeIntervalSince1970 * 1_000)
        print("NAME                 STATE       WORKER        PID     ADDRESS               RESTARTS  UPTIME   LAST EXIT")
        for s in list {
            let uptime = s.startedAtMs > 0 ? Output.duration(ms: now - s.startedAtMs) : "-"
            print([pad(s.instance, 20), pad(s.state, 11), pad(s.workerId.isEmpty ? "-" : s.workerId, 13),
                   pad(s.pid > 0 ? "\(s.pid)" : "-", 7),
                   pad(s.port > 0 ? "\(s.host.isEmpty ? "" : s.host):\(s.port)" : "-", 21), pad("\(s.restarts)", 9),
                   pad(uptime, 8), s.lastExit.isEmpty ? "-" : s.lastExit].joined(separator: " "))
        }
    }

    private func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }
}

struct StopCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stop", abstract: "Stop a service (every copy) for good.")
    @OptionGroup var client: ClientOptions
    @Argument var name: String

    func run() async throws {
        try await withClient(client) { try await $0.stopService(name) }
        print("\(name) stopping")
    }
}

struct RestartCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "restart",
                                                    abstract: "Restart a service (every copy, or one: NAME#i) now.")
    @OptionGroup var client: ClientOptions
    @Argument var name: String

    func run() async throws {
        try await withClient(client) { try await $0.restartService(name) }
        print("\(name) restarting")
    }
}
