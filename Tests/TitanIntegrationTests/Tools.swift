import Foundation
import Testing

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
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path(name))
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        let exited = AsyncStream<Void>.makeStream()
        process.terminationHandler = { _ in exited.continuation.finish() }
        try process.run()
        let outData = Task { await readToEnd(out.fileHandleForReading) }
        let errData = Task { await readToEnd(err.fileHandleForReading) }
        let watchdog = Task.detached {
            try await Task.sleep(for: .seconds(timeout))
            process.terminate()
        }
        for await _ in exited.stream {}
        watchdog.cancel()
        if (try? await watchdog.value) != nil { Issue.record("\(name) \(arguments) timed out after \(timeout) s") }
        return Output(status: process.terminationStatus,
                      stdout: String(decoding: await outData.value, as: UTF8.self),
                      stderr: String(decoding: await errData.value, as: UTF8.self))
    }
}

/// Reads a pipe to EOF on a Dispatch thread: blocking reads must not occupy the cooperative
/// thread pool (two of them would stall every other test on a 2-core machine).
func readToEnd(_ handle: FileHandle) async -> Data {
    await withCheckedContinuation { c in
        DispatchQueue.global().async { c.resume(returning: handle.readDataToEndOfFile()) }
    }
}

/// Reads one line (without the newline) on a Dispatch thread.
func readLine(_ handle: FileHandle) async -> String {
    await withCheckedContinuation { c in
        DispatchQueue.global().async {
            var line = Data()
            while let byte = try? handle.read(upToCount: 1), let b = byte.first, b != 10 { line.append(b) }
            c.resume(returning: String(decoding: line, as: UTF8.self))
        }
    }
}

/// A long-running `titan-node` process.
final class NodeProcess: @unchecked Sendable {
    // @unchecked: test helper; the Process is only touched from the test's task.
    let process = Process()
    let firstLine: String

    /// Starts `titan-node ARGS` and waits for its first stdout line (the announce line).
    init(_ arguments: [String]) async throws {
        process.executableURL = URL(fileURLWithPath: Tools.path("titan-node"))
        var arguments = arguments
        if arguments.contains("master") && !arguments.contains("--data-dir") {
            // Each test master gets its own data directory (the default ./titan-data is shared).
            arguments += ["--data-dir", FileManager.default.temporaryDirectory
                .appendingPathComponent("titan-test-master-\(UUID().uuidString)").path]
        }
        process.arguments = arguments + ["--log-level", "warning"]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.standardError
        try process.run()
        firstLine = await readLine(out.fileHandleForReading)
    }

    var pid: Int32 { process.processIdentifier }

    /// The port from "titan master listening on HOST:PORT".
    var port: Int? { firstLine.split(separator: ":").last.flatMap { Int($0) } }

    func signal(_ sig: Int32) { kill(process.processIdentifier, sig) }

    /// Sends SIGTERM and waits for the exit status.
    func terminate(timeout: Double = 10) async -> Int32 {
        signal(SIGTERM)
        return await waitExit(timeout: timeout)
    }

    func waitExit(timeout: Double = 10) async -> Int32 {
        let deadline = ContinuousClock.now + .seconds(timeout)
        while process.isRunning && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(5))
        }
        if process.isRunning {
            Issue.record("titan-node did not exit within \(timeout) s")
            signal(SIGKILL)
            process.waitUntilExit()
        }
        return process.terminationStatus
    }
}

/// Runs `python3 -c SCRIPT ARGS...` (e.g. to make a zip the way Python users do) and expects it
/// to succeed.
func runPython(_ script: String, _ arguments: [String]) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", script] + arguments
    try process.run()
    process.waitUntilExit()
    #expect(process.terminationStatus == 0, "python3 failed: \(script)")
}
