import Foundation
import Synchronization
import Testing
import TitanLoop

/// The built `titan` and `titan-node` executables (next to the test bundle) run as real
/// processes.
enum Tools {
    static var binDirectory: URL {
        Bundle.main.bundleURL.deletingLastPathComponent()
    }

    static func path(_ name: String) -> String {
        let candidate = binDirectory.appendingPathComponent(name).path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        // `swift test` runs from the package root; fall back to the default build directory.
        return FileManager.default.currentDirectoryPath + "/.build/debug/" + name
    }

    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs a tool to completion (killed after `timeout` seconds, which fails the test).
    static func run(_ name: String, _ arguments: [String], environment: [String: String] = [:],
                    timeout: Double = 20) async throws -> Output {
        let child = try await Spawned.start([path(name)] + arguments, environment: environment)
        guard let status = await child.waitExit(timeout: timeout) else {
            Issue.record("\(name) \(arguments) timed out after \(timeout) s")
            child.signal(SIGKILL)
            let status = await child.waitExit(timeout: 10) ?? -1
            return Output(status: status, stdout: child.stdout, stderr: child.stderr)
        }
        return Output(status: status, stdout: child.stdout, stderr: child.stderr)
    }
}

/// A child process started with the project's own spawner (`ChildProcess`: posix_spawn, pidfd,
/// a libuv loop), not Foundation's `Process`, whose `run()` crashes now and then on Linux with
/// Swift 6.3.1 (an over-read of `/proc/self/fd` entries, swift-corelibs-foundation#5472).
final class Spawned: Sendable {
    /// One loop for every child the tests start.
    static let loop = EventLoop(name: "test-spawner")

    private struct State {
        var stdout: [UInt8] = []
        var stderr: [UInt8] = []
        var exit: ProcessExit?
    }

    private let state = Mutex(State())
    private let child: ChildProcess
    let pid: Int32

    private init(child: ChildProcess) {
        self.child = child
        pid = child.pid
    }

    /// Starts `arguments` with this process's environment plus `environment`. With
    /// `echoStderr`, the child's stderr goes on to the test's as it comes.
    static func start(_ arguments: [String], environment: [String: String] = [:],
                      echoStderr: Bool = false) async throws -> Spawned {
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        let strings = env.map { "\($0.key)=\($0.value)" }
        let box = Mutex<Spawned?>(nil)
        let result: Result<Spawned, SpawnError> = await withCheckedContinuation { c in
            loop.execute {
                do throws(SpawnError) {
                    let child = try ChildProcess.spawn(
                        loop: loop, arguments: arguments, environment: strings,
                        workingDirectory: FileManager.default.currentDirectoryPath,
                        onOutput: { fd, bytes in
                            guard let me = box.withLock({ $0 }) else { return }
                            me.state.withLock { s in
                                if fd == 1 { s.stdout += bytes } else { s.stderr += bytes }
                            }
                            if fd == 2 && echoStderr { FileHandle.standardError.write(Data(bytes)) }
                        },
                        onExit: { exit in box.withLock({ $0 })?.state.withLock { $0.exit = exit } })
                    let spawned = Spawned(child: child)
                    box.withLock { $0 = spawned }
                    c.resume(returning: .success(spawned))
                } catch {
                    c.resume(returning: .failure(error))
                }
            }
        }
        return try result.get()
    }

    var stdout: String { String(decoding: state.withLock { $0.stdout }, as: UTF8.self) }
    var stderr: String { String(decoding: state.withLock { $0.stderr }, as: UTF8.self) }

    /// The first line of stdout (without its newline), once it is complete; "" if the process
    /// ends (or `timeout` passes) first.
    func firstLine(timeout: Double = 30) async -> String {
        let deadline = ContinuousClock.now + .seconds(timeout)
        while ContinuousClock.now < deadline {
            let (out, ended) = state.withLock { ($0.stdout, $0.exit != nil) }
            if let end = out.firstIndex(of: 10) { return String(decoding: out[..<end], as: UTF8.self) }
            if ended { return String(decoding: out, as: UTF8.self) }
            try? await Task.sleep(for: .milliseconds(2))
        }
        return ""
    }

    /// The exit status (the signal number if a signal ended it, as Foundation reports it), or
    /// nil if it is still running after `timeout`. Output is complete once this returns.
    func waitExit(timeout: Double) async -> Int32? {
        let deadline = ContinuousClock.now + .seconds(timeout)
        while ContinuousClock.now < deadline {
            if let exit = state.withLock({ $0.exit }) { return exit.exitCode ?? exit.signal ?? -1 }
            try? await Task.sleep(for: .milliseconds(2))
        }
        return nil
    }

    var isRunning: Bool { state.withLock { $0.exit == nil } }

    /// Signals its process group (the child leads its own session, as jobs do).
    func signal(_ sig: Int32) {
        let child = child
        Self.loop.execute { child.assumeIsolated { _ = $0.signalGroup(sig) } }
    }
}

/// A long-running `titan-node` process.
final class NodeProcess: Sendable {
    let child: Spawned
    let firstLine: String

    /// Starts `titan-node ARGS` and waits for its first stdout line (the announce line). Its log
    /// (stderr, at `logLevel`) is kept in `child.stderr`.
    init(_ arguments: [String], logLevel: String = "warning") async throws {
        var arguments = arguments
        if arguments.contains("master") && !arguments.contains("--data-dir") {
            // Each test master gets its own data directory (the default ./titan-data is shared).
            arguments += ["--data-dir", FileManager.default.temporaryDirectory
                .appendingPathComponent("titan-test-master-\(UUID().uuidString)").path]
        }
        child = try await Spawned.start([Tools.path("titan-node")] + arguments + ["--log-level", logLevel], echoStderr: true)
        firstLine = await child.firstLine()
    }

    /// A test that ends early (a failed `#require`, a thrown error) leaves no `titan-node` behind.
    deinit {
        if child.isRunning { child.signal(SIGKILL) }
    }

    var pid: Int32 { child.pid }

    /// The port from "titan master listening on HOST:PORT".
    var port: Int? { firstLine.split(separator: ":").last.flatMap { Int($0) } }

    func signal(_ sig: Int32) { child.signal(sig) }

    /// Sends SIGTERM and waits for the exit status.
    func terminate(timeout: Double = 10) async -> Int32 {
        signal(SIGTERM)
        return await waitExit(timeout: timeout)
    }

    func waitExit(timeout: Double = 10) async -> Int32 {
        if let status = await child.waitExit(timeout: timeout) { return status }
        Issue.record("titan-node did not exit within \(timeout) s")
        signal(SIGKILL)
        return await child.waitExit(timeout: 10) ?? -1
    }
}

/// Runs `python3 -c SCRIPT ARGS...` (e.g. to make a zip the way Python users do) and expects it
/// to succeed.
func runPython(_ script: String, _ arguments: [String]) async throws {
    let child = try await Spawned.start(["python3", "-c", script] + arguments)
    let status = await child.waitExit(timeout: 30)
    #expect(status == 0, "python3 failed: \(script): \(child.stderr)")
}
