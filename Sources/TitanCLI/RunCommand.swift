import ArgumentParser
import Foundation
import TitanClient
import TitanProtocol

/// `titan run`: submit one job, stream its output live, exit with its exit code.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a command or script as a job and stream its output.",
        discussion: """
            titan run -- COMMAND [ARGS...]      runs a command (looked up in PATH on the worker)
            titan run script.py|script.sh [ARGS...]
            titan run proj.zip/src/main.py [ARGS...]   an entry of a folder uploaded with titan upload
            Exits with the job's exit code (128+N if killed by signal N, 127 if it could not start,
            124 if it timed out).
            While the job cannot be placed, says why on stderr (and again when that changes).
            Ctrl-C or SIGTERM cancels the job (unless --detach).
            """)

    @OptionGroup var client: ClientOptions

    @Option(name: .customLong("cap"), help: "Capability the worker must have (repeat or comma-separate).")
    var capabilities: [String] = []

    @Option(help: "Higher runs first (default 1).")
    var priority: Int32 = 1

    @Option(name: .customLong("env"), help: "Environment variable NAME=VALUE for the job (repeatable).")
    var environment: [String] = []

    @Option(help: "Working directory on the worker.")
    var cwd: String?

    @Option(help: "A name shown in status.")
    var name: String?

    @Option(help: "Retry a failed attempt up to N times.")
    var retries: UInt32 = 0

    @Option(name: .customLong("retry-delay"), help: "Seconds before the first retry; doubles each time, with jitter (default 1).")
    var retryDelay: Double = 1

    @Option(help: "Kill an attempt (its whole process group) after this many seconds.")
    var timeout: Double?

    @Option(help: "Start no earlier than this many seconds from now.")
    var delay: Double?

    @Flag(help: "Print the job id and return without waiting.")
    var detach = false

    @Flag(help: "Print the final status as JSON instead of streaming output.")
    var json = false

    @Argument(parsing: .captureForPassthrough, help: "The command and its arguments.")
    var command: [String] = []

    func validate() throws {
        // The command is captured as it is (`titan run -- ls --help` runs `ls --help`), so
        // help asked of `titan run` itself arrives as the command.
        if let first = command.first, first == "--help" || first == "-h" { throw CleanExit.helpRequest(self) }
        if argv.isEmpty { throw ValidationError("nothing to run: give a command after --, or a script") }
        for item in environment where !item.contains("=") || item.hasPrefix("=") {
            throw ValidationError("--env: '\(item)' is not NAME=VALUE")
        }
        for (flag, value) in [("--retry-delay", retryDelay), ("--timeout", timeout ?? 0), ("--delay", delay ?? 0)]
        where !value.isFinite || value < 0 || value > 365 * 86_400 {
            throw ValidationError("\(flag): '\(value)' is not a number of seconds between 0 and a year")
        }
        if let timeout, timeout == 0 { throw ValidationError("--timeout: must be more than 0 seconds") }
    }

    private var argv: [String] { command.first == "--" ? Array(command.dropFirst()) : command }

    /// Scripts run with their interpreter; a local one by the name it is shipped under.
    func jobCommand() -> [String] {
        let program = argv[0]
        if let script = LocalScript.path(program) { return LocalScript.command(script) + argv.dropFirst() }
        if let archived = ArchiveEntry.parse(program) { return archived.command + argv.dropFirst() }
        if let interpreter = ScriptCommand.interpreter(for: program) { return [interpreter] + argv }
        return argv
    }

    /// The job, with its script uploaded first when it ships one.
    func spec(using client: TitanClient) async throws -> JobSpec {
        var spec = spec()
        if let script = LocalScript.path(argv[0]) {
            spec.artifacts = [try await LocalScript.ship(script, namePrefix: "run", using: client)]
        } else if let archived = ArchiveEntry.parse(argv[0]) {
            spec.artifacts = [try await archived.artifact(using: client)]
        }
        return spec
    }

    func spec() -> JobSpec {
        var env: [String: String] = [:]
        for item in environment {
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            env[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
        }
        let ms = { (seconds: Double?) in UInt64(((seconds ?? 0) * 1_000).rounded()) }
        return JobSpec(command: jobCommand(), environment: env, workingDirectory: cwd ?? "",
                       requirements: Capabilities.parse(capabilities), priority: priority, name: name ?? "",
                       retries: retries, retryDelayMs: ms(retryDelay), timeoutMs: ms(timeout), delayMs: ms(delay))
    }

    func run() async throws {
        if detach {
            let id = try await withClient(client) { try await $0.submit(try await spec(using: $0)) }
            print(json ? try Output.json(["id": id]) : id)
            return
        }
        let code: Int32 = try await withClient(client) { client in
            let (id, updates) = try await client.submitAndFollow(try await spec(using: client))
            let interrupt = Interrupt.onInterrupt { try? await client.cancel(id) }
            defer { interrupt.cancel() }
            let pending = PendingWatch(jobId: id)
            let watch = Task { await pending.run(client) }
            defer { watch.cancel() }
            var final: JobEvent?
            for await update in updates {
                switch update {
                case .output(let stream, let bytes):
                    if !json { Output.write(bytes, to: stream) }
                case .event(let event):
                    pending.saw(event)
                    if event.state.isFinal { final = event }
                }
            }
            guard let final else {
                let why = await client.closedReason.map { " (\($0))" } ?? ""
                throw CLIError(message: "lost the connection to the master\(why); job \(id) may still be running")
            }
            if json { print(try Output.json(try await client.status(id))) }
            return Self.exitCode(for: final, jobId: id, quiet: json)
        }
        if code != 0 { throw ExitCode(code) }
    }

    static func exitCode(for event: JobEvent, jobId: String, quiet: Bool) -> Int32 {
        let warn = { (text: String) in if !quiet { FileHandle.standardError.write(Data("titan: \(text)\n".utf8)) } }
        switch event.state {
        case .completed: return 0
        case .cancelled:
            warn("job \(jobId) cancelled")
            return 130
        default:
            guard let result = event.result else { return 1 }
            if result.timedOut {
                warn("job \(jobId) timed out")
                return 124
            }
            if let error = result.error {
                warn("job \(jobId) failed: \(error)")
                return 127
            }
            if let signal = result.signal {
                warn("job \(jobId) killed by signal \(signal)")
                return 128 + signal
            }
            return result.exitCode ?? 1
        }
    }

}
