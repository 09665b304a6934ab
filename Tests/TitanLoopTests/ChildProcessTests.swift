import Foundation
import Testing
import TitanLoop

/// What a child reports: output on fd 1 or 2, then its exit (always last).
enum ChildEvent: Sendable {
    case output(fd: Int32, bytes: [UInt8])
    case exit(ProcessExit)
}

/// Everything a finished child produced.
struct ChildRun: Sendable {
    var stdout: [UInt8] = []
    var stderr: [UInt8] = []
    var exit: ProcessExit?
    var exitCode: Int32? { exit?.exitCode }
    var signal: Int32? { exit?.signal }
    /// Exited normally with `code`.
    func exited(_ code: Int32) -> Bool { exit != nil && exitCode == code && signal == nil }
    /// Killed by `sig`.
    func killed(by sig: Int32) -> Bool { exit != nil && exitCode == nil && signal == sig }
    var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    var stderrText: String { String(decoding: stderr, as: UTF8.self) }
}

private let basicEnvironment = ["PATH=/usr/bin:/bin"]

/// Spawns on the loop thread; events go to the returned inbox.
private func spawn(_ loop: EventLoop, _ arguments: [String], environment: [String] = basicEnvironment,
                   workingDirectory: String = "") async throws -> (ChildProcess, Inbox<ChildEvent>) {
    let events = Inbox<ChildEvent>()
    let child = try await onLoop(loop, "spawn \(arguments)") {
        try ChildProcess.spawn(loop: loop, arguments: arguments, environment: environment,
                               workingDirectory: workingDirectory,
                               onOutput: { fd, bytes in events.send(.output(fd: fd, bytes: bytes)) },
                               onExit: { events.send(.exit($0)) })
    }
    return (child, events)
}

/// Collects output until the exit event. (onExit comes after both pipes reached EOF.)
private func finish(_ events: Inbox<ChildEvent>, _ run: ChildRun = ChildRun(),
                    sourceLocation: SourceLocation = #_sourceLocation) async throws -> ChildRun {
    var run = run
    while true {
        switch try await events.next("child exit", sourceLocation: sourceLocation) {
        case .output(1, let bytes): run.stdout += bytes
        case .output(2, let bytes): run.stderr += bytes
        case .output(let fd, _): Issue.record("output on unexpected fd \(fd)", sourceLocation: sourceLocation)
        case .exit(let exit):
            run.exit = exit
            return run
        }
    }
}

private func run(_ loop: EventLoop, _ arguments: [String], environment: [String] = basicEnvironment,
                 workingDirectory: String = "",
                 sourceLocation: SourceLocation = #_sourceLocation) async throws -> ChildRun {
    let (_, events) = try await spawn(loop, arguments, environment: environment, workingDirectory: workingDirectory)
    return try await finish(events, sourceLocation: sourceLocation)
}

/// `path` with symbolic links resolved, as `pwd -P` prints it.
private func physicalPath(_ path: String) throws -> String {
    let real = try #require(realpath(path, nil))
    defer { free(real) }
    return String(cString: real)
}

/// True when `pid` no longer runs: gone, or a zombie waiting for a reaper we do not control
/// (PID 1 in a container may never reap it).
private func processGone(_ pid: Int32) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
    // "pid (comm) S ...": the state follows the last ')'.
    guard let close = stat.lastIndex(of: ")") else { return true }
    let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first
    return state == "Z" || state == "X"
}

@Suite("ChildProcess")
struct ChildProcessTests {
    @Test("stdout and stderr are captured separately; exit code 0")
    func separateStreams() async throws {
        let loop = EventLoop()
        let r = try await run(loop, ["/bin/sh", "-c", "echo out; echo err >&2; printf 'out2'"])
        #expect(r.stdoutText == "out\nout2")
        #expect(r.stderrText == "err\n")
        #expect(r.exited(0), "\(String(describing: r.exit))")
        try await expectCleanShutdown(loop)
    }

    @Test("the exit code is reported", arguments: [1, 3, 42, 255] as [Int32])
    func exitCode(code: Int32) async throws {
        let loop = EventLoop()
        let r = try await run(loop, ["/bin/sh", "-c", "exit \(code)"])
        #expect(r.exited(code), "\(String(describing: r.exit))")
        try await expectCleanShutdown(loop)
    }

    @Test("a child killed by a signal reports the signal and no exit code")
    func killedBySignal() async throws {
        let loop = EventLoop()
        let r = try await run(loop, ["/bin/sh", "-c", "kill -TERM $$"])
        #expect(r.signal == SIGTERM)
        #expect(r.exitCode == nil)
        try await expectCleanShutdown(loop)
    }

    @Test("the environment is exactly what was given")
    func environment() async throws {
        let loop = EventLoop()
        let env = ["PATH=/usr/bin:/bin", "TITAN_TEST=a value with spaces", "EMPTY="]
        let r = try await run(loop, ["/usr/bin/env"], environment: env)
        #expect(r.stdoutText.split(separator: "\n").map(String.init).sorted() == env.sorted())
        let none = try await run(loop, ["/usr/bin/env"], environment: [])
        #expect(none.stdout.isEmpty)
        #expect(none.exitCode == 0)
        try await expectCleanShutdown(loop)
    }

    @Test("the working directory is honoured; empty means the parent's")
    func workingDirectory() async throws {
        let loop = EventLoop()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("titan-cwd-\(UInt64.random(in: 0...UInt64.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try await run(loop, ["/bin/pwd", "-P"], workingDirectory: dir.path)
        #expect(r.stdoutText == (try physicalPath(dir.path)) + "\n")
        let inherited = try await run(loop, ["/bin/pwd", "-P"])
        #expect(inherited.stdoutText == (try physicalPath(FileManager.default.currentDirectoryPath)) + "\n")
        try await expectCleanShutdown(loop)
    }

    @Test("stdin is /dev/null")
    func stdinIsDevNull() async throws {
        let loop = EventLoop()
        let r = try await run(loop, ["/bin/cat"])
        #expect(r.stdout.isEmpty)
        #expect(r.exitCode == 0)
        try await expectCleanShutdown(loop)
    }

    @Test("a program that does not exist throws SpawnError (ENOENT), leaving nothing open",
          arguments: ["/nonexistent/titan-no-such-program", "titan-no-such-program-on-path"])
    func missingProgram(program: String) async throws {
        let loop = EventLoop()
        do {
            _ = try await spawn(loop, [program, "arg"])
            Issue.record("spawned a program that does not exist")
        } catch let error as SpawnError {
            #expect(error.errno == ENOENT)
            #expect(error.program == program)
            #expect(error.description.contains("No such file or directory"))
            #expect(error.description.contains(program))
        }
        #expect(try await onLoop(loop) { loop.openHandleCount() } == 0)
        try await expectCleanShutdown(loop)
    }

    @Test("a working directory that does not exist throws SpawnError")
    func missingWorkingDirectory() async throws {
        let loop = EventLoop()
        do {
            _ = try await spawn(loop, ["/bin/true"], workingDirectory: "/nonexistent/titan-dir")
            Issue.record("spawned in a directory that does not exist")
        } catch let error as SpawnError {
            #expect(error.errno == ENOENT)
        }
        try await expectCleanShutdown(loop)
    }

    @Test("large output arrives complete and in order")
    func largeOutput() async throws {
        let loop = EventLoop()
        let r = try await run(loop, ["/usr/bin/seq", "1", "100000"])
        let expected = (1...100_000).map(String.init).joined(separator: "\n") + "\n"
        #expect(r.stdout.count == expected.utf8.count)
        #expect(r.stdoutText == expected)
        try await expectCleanShutdown(loop)
    }

    @Test("signalGroup(SIGKILL) kills the grandchildren too; a reaped child is not signalled again")
    func killGroup() async throws {
        let loop = EventLoop()
        let (child, events) = try await spawn(loop, ["/bin/sh", "-c", "sleep 30 & echo $!; wait"])
        // The grandchild's pid is the first line of output.
        var partial = ChildRun()
        while !partial.stdout.contains(UInt8(ascii: "\n")) {
            switch try await events.next("the grandchild's pid") {
            case .output(1, let bytes): partial.stdout += bytes
            case .output(_, let bytes): partial.stderr += bytes
            case .exit(let exit):
                Issue.record("shell exited early: \(exit), stderr \(partial.stderrText)")
                try await expectCleanShutdown(loop)
                return
            }
        }
        let grandchild = try #require(Int32(partial.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(!processGone(grandchild))
        #expect(await !child.hasExited)

        #expect(await child.signalGroup(SIGKILL))
        // The exit is reported only once the grandchild, which holds stdout, is gone too.
        let r = try await finish(events, partial)
        #expect(r.killed(by: SIGKILL), "\(String(describing: r.exit))")
        #expect(await child.hasExited)
        try await withDeadline("grandchild \(grandchild) to die", seconds: 5) {
            while !processGone(grandchild) { try await Task.sleep(for: .milliseconds(5)) }
        }
        // Reaped and both pipes closed: the pid may be reused, so nothing is sent.
        #expect(await !child.signalGroup(SIGTERM))
        try await expectCleanShutdown(loop)
    }

    @Test("signalGroup(SIGTERM) stops a running child")
    func terminate() async throws {
        let loop = EventLoop()
        let (child, events) = try await spawn(loop, ["/bin/sleep", "30"])
        #expect(await child.signalGroup(SIGTERM))
        let r = try await finish(events)
        #expect(r.killed(by: SIGTERM), "\(String(describing: r.exit))")
        try await expectCleanShutdown(loop)
    }

    @Test("onExit waits for EOF on the pipes: output of a lingering grandchild comes first")
    func exitAfterEOF() async throws {
        let loop = EventLoop()
        let r = try await run(loop, ["/bin/sh", "-c", "(sleep 0.2; echo late) & exit 0"])
        #expect(r.stdoutText == "late\n")
        #expect(r.exited(0), "\(String(describing: r.exit))")
        try await expectCleanShutdown(loop)
    }

    @Test("each child's output goes to its own handler")
    func outputRouting() async throws {
        let loop = EventLoop()
        var children: [(ChildProcess, Inbox<ChildEvent>)] = []
        for _ in 0..<16 {
            children.append(try await spawn(loop, ["/bin/sh", "-c", "echo $$; echo $$ >&2"]))
        }
        for (child, events) in children {
            let r = try await finish(events)
            #expect(r.stdoutText == "\(child.pid)\n")
            #expect(r.stderrText == "\(child.pid)\n")
            #expect(r.exitCode == 0)
        }
        try await expectCleanShutdown(loop)
    }

    @Test("200 spawns of /bin/true, started from exit callbacks, all complete")
    func manySpawns() async throws {
        let loop = EventLoop()
        let driver = SpawnDriver(loop: loop, total: 200, concurrency: 16)
        let done = Inbox<[Int32?]>()
        try await onLoop(loop) {
            driver.assumeIsolated { $0.start { done.send($0) } }
        }
        let codes = try await done.next("200 children to exit", within: 30)
        #expect(codes.count == 200)
        #expect(codes.allSatisfy { $0 == 0 })
        #expect(await driver.spawnErrors.isEmpty)
        try await expectCleanShutdown(loop)
    }
}

/// Keeps `concurrency` children of /bin/true running until `total` have exited; each exit
/// callback spawns the next one (the way a worker refills its slots).
private actor SpawnDriver: LoopBound {
    nonisolated let eventLoop: EventLoop
    let total: Int
    let concurrency: Int
    private var started = 0
    private var codes: [Int32?] = []
    private(set) var spawnErrors: [String] = []
    private var onDone: (@Sendable ([Int32?]) -> Void)?

    init(loop: EventLoop, total: Int, concurrency: Int) {
        eventLoop = loop
        self.total = total
        self.concurrency = concurrency
    }

    func start(_ done: @escaping @Sendable ([Int32?]) -> Void) {
        onDone = done
        for _ in 0..<concurrency { spawnNext() }
    }

    private func spawnNext() {
        guard started < total else { return }
        started += 1
        do {
            _ = try ChildProcess.spawn(loop: eventLoop, arguments: ["/bin/true"], environment: [],
                                       workingDirectory: "", onOutput: { _, _ in },
                                       onExit: { [self] exit in assumeIsolated { $0.exited(exit) } })
        } catch {
            spawnErrors.append("\(error)")
            codes.append(nil)
        }
    }

    private func exited(_ exit: ProcessExit) {
        codes.append(exit.exitCode)
        if codes.count == total {
            onDone?(codes)
        } else {
            spawnNext()
        }
    }
}
