import CLibUV
import Foundation

/// How a child process ended.
public struct ProcessExit: Sendable, Equatable {
    /// Exit status when it exited, else nil.
    public var exitCode: Int32?
    /// Terminating signal when killed by one, else nil.
    public var signal: Int32?
}

/// A program that could not be started.
public struct SpawnError: Error, Sendable, CustomStringConvertible {
    public let program: String
    public let errno: Int32

    public var description: String {
        "cannot start '\(program)': \(String(cString: strerror(errno)))"
    }
}

/// A child process in its own session (so its whole tree is one process group), spawned with
/// `posix_spawn` (vfork semantics: no copy of the parent), its exit seen through a `pidfd` on a
/// `uv_poll_t`, and its stdout/stderr read through two `uv_pipe_t`.
///
/// It is finished only when it has exited *and* both pipes reached EOF; then `onExit` runs once
/// and every handle is closed. Once reaped, its pid is never signalled again.
public actor ChildProcess: LoopBound {
    public typealias OutputHandler = @Sendable (_ fd: Int32, _ bytes: [UInt8]) -> Void
    public typealias ExitHandler = @Sendable (ProcessExit) -> Void

    public nonisolated let eventLoop: EventLoop
    /// The child's pid, also its process group and session id.
    public nonisolated let pid: Int32
    private let pidfd: Int32
    private let poll: UnsafeMutablePointer<uv_poll_t>
    private let stdoutPipe: UnsafeMutablePointer<uv_pipe_t>
    private let stderrPipe: UnsafeMutablePointer<uv_pipe_t>
    /// Shared by both pipes: a read callback consumes it before the next one runs. Immutable and
    /// touched only on the loop thread (from libuv's allocation callback, outside isolation).
    private nonisolated(unsafe) let readBuffer: UnsafeMutableRawBufferPointer
    private let onOutput: OutputHandler
    private let onExit: ExitHandler
    private var exit: ProcessExit?
    private var openPipes = 2
    private var openHandles = 3
    private var reported = false

    /// Spawns `arguments` (argv[0] looked up in PATH when it has no `/`). Loop thread only.
    public static func spawn(loop: EventLoop, arguments: [String], environment: [String],
                             workingDirectory: String, onOutput: @escaping OutputHandler,
                             onExit: @escaping ExitHandler) throws(SpawnError) -> ChildProcess {
        precondition(loop.inLoopThread)
        precondition(!arguments.isEmpty)
        var result = titan_spawn_result()
        let rc = withCStrings(arguments) { argv in
            withCStrings(environment) { envp in
                titan_spawn(arguments[0], argv, envp, workingDirectory, &result)
            }
        }
        if rc != 0 { throw SpawnError(program: arguments[0], errno: rc) }
        let pidfd = titan_pidfd_open(result.pid)
        if pidfd < 0 {
            // Out of descriptors (or a kernel older than 5.3): undo the spawn rather than run a
            // child we cannot watch.
            let error = titan_errno()
            _ = titan_kill_group(result.pid, SIGKILL)
            var code: Int32 = 0, signal: Int32 = 0
            while titan_reap(result.pid, &code, &signal) == 0 { sched_yield() }
            Foundation.close(result.stdout_fd)
            Foundation.close(result.stderr_fd)
            throw SpawnError(program: arguments[0], errno: error)
        }
        return ChildProcess(loop: loop, pid: result.pid, pidfd: pidfd, stdoutFD: result.stdout_fd,
                            stderrFD: result.stderr_fd, onOutput: onOutput, onExit: onExit)
    }

    private init(loop: EventLoop, pid: Int32, pidfd: Int32, stdoutFD: Int32, stderrFD: Int32,
                 onOutput: @escaping OutputHandler, onExit: @escaping ExitHandler) {
        eventLoop = loop
        self.pid = pid
        self.pidfd = pidfd
        self.onOutput = onOutput
        self.onExit = onExit
        let poll = UnsafeMutablePointer<uv_poll_t>.allocate(capacity: 1)
        let stdoutPipe = UnsafeMutablePointer<uv_pipe_t>.allocate(capacity: 1)
        let stderrPipe = UnsafeMutablePointer<uv_pipe_t>.allocate(capacity: 1)
        self.poll = poll
        self.stdoutPipe = stdoutPipe
        self.stderrPipe = stderrPipe
        readBuffer = .allocate(byteCount: 16 * 1024, alignment: 16)
        // Three handles, each holding one strong reference until its close callback.
        uv_poll_init(loop.uv, poll, pidfd)
        uv_handle_set_data(titan_poll_handle(poll), Unmanaged.passRetained(self).toOpaque())
        for (pipe, fd) in [(stdoutPipe, stdoutFD), (stderrPipe, stderrFD)] {
            uv_pipe_init(loop.uv, pipe, 0)
            uv_pipe_open(pipe, fd)
            uv_handle_set_data(titan_pipe_handle(pipe), Unmanaged.passRetained(self).toOpaque())
        }
        assumeIsolated { $0.startWatching() }
    }

    private func startWatching() {
        uv_poll_start(poll, Int32(UV_READABLE.rawValue)) { poll, _, _ in
            guard let poll, let data = uv_handle_get_data(titan_poll_handle(poll)) else { return }
            Unmanaged<ChildProcess>.fromOpaque(data).takeUnretainedValue().assumeIsolated { $0.reap() }
        }
        for pipe in [stdoutPipe, stderrPipe] {
            uv_read_start(titan_pipe_stream(pipe), { handle, _, buf in
                guard let handle, let buf, let data = uv_handle_get_data(handle) else { return }
                let proc = Unmanaged<ChildProcess>.fromOpaque(data).takeUnretainedValue()
                titan_buf_set(buf, proc.readBuffer.baseAddress, proc.readBuffer.count)
            }, { stream, nread, _ in
                guard let stream, let data = uv_handle_get_data(titan_stream_handle(stream)) else { return }
                let which = Int(bitPattern: stream)
                Unmanaged<ChildProcess>.fromOpaque(data).takeUnretainedValue().assumeIsolated {
                    $0.didRead(stream: which, nread)
                }
            })
        }
    }

    private func didRead(stream: Int, _ nread: Int) {
        let isStdout = stream == Int(bitPattern: titan_pipe_stream(stdoutPipe))
        if nread > 0 {
            onOutput(isStdout ? 1 : 2, Array(UnsafeRawBufferPointer(rebasing: readBuffer[0..<nread])))
        } else if nread < 0 {
            // EOF or a read error: this stream is done either way.
            closeHandle(isStdout ? titan_pipe_handle(stdoutPipe) : titan_pipe_handle(stderrPipe))
            openPipes -= 1
            finishIfDone()
        }
    }

    private func reap() {
        var code: Int32 = 0
        var signal: Int32 = 0
        switch titan_reap(pid, &code, &signal) {
        case 1:
            exit = ProcessExit(exitCode: signal == 0 ? code : nil, signal: signal == 0 ? nil : signal)
        case 0:
            return  // not exited yet (spurious wake-up)
        default:
            // Reaped by someone else (SIGCHLD ignored, a stray waitpid(-1)): the status is lost,
            // but the child is gone; stop polling the still-readable pidfd.
            exit = ProcessExit(exitCode: nil, signal: nil)
        }
        closeHandle(titan_poll_handle(poll))
        finishIfDone()
    }

    private func finishIfDone() {
        guard let exit, openPipes == 0, !reported else { return }
        reported = true
        onExit(exit)
    }

    /// Sends `signal` to the child's whole process group, unless the child was already reaped.
    /// Returns false when it was not sent.
    @discardableResult
    public func signalGroup(_ signal: Int32) -> Bool {
        guard exit == nil else {
            // The leader is reaped; its group id may still name living grandchildren holding our
            // pipes. The kernel keeps a group id allocated while any member lives, so this cannot
            // reach an unrelated process.
            return openPipes > 0 && titan_kill_group(pid, signal) == 0
        }
        return titan_kill_group(pid, signal) == 0
    }

    /// Whether the child has exited (been reaped).
    public var hasExited: Bool { exit != nil }

    private func closeHandle(_ handle: UnsafeMutablePointer<uv_handle_t>) {
        guard uv_is_closing(handle) == 0 else { return }
        uv_close(handle) { handle in
            guard let handle, let data = uv_handle_get_data(handle) else { return }
            let proc = Unmanaged<ChildProcess>.fromOpaque(data).takeRetainedValue()
            let which = Int(bitPattern: handle)
            proc.assumeIsolated { $0.handleClosed(which) }
        }
    }

    private func handleClosed(_ handle: Int) {
        if handle == Int(bitPattern: titan_poll_handle(poll)) {
            Foundation.close(pidfd)
            poll.deallocate()
        } else if handle == Int(bitPattern: titan_pipe_handle(stdoutPipe)) {
            stdoutPipe.deallocate()
        } else {
            stderrPipe.deallocate()
        }
        openHandles -= 1
        if openHandles == 0 { readBuffer.deallocate() }
    }
}

/// Calls `body` with a NULL-terminated array of C strings; the strings live for the call only.
func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    pointers.append(nil)
    defer { for p in pointers { free(p) } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}
