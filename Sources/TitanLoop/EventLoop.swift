import CLibUV
import Foundation
import Synchronization

/// One libuv loop on its own thread, and the `SerialExecutor` (the "loop executor") that runs
/// Swift jobs on that thread.
///
/// Actors that own libuv handles or react to I/O declare this loop as their `unownedExecutor`
/// (see ``LoopBound``), so libuv callbacks enter them synchronously with `assumeIsolated` and
/// `await`s between them cost tens of nanoseconds instead of a thread hop.
///
/// Jobs enqueued from other threads go into a lock-protected queue; one `uv_async_send` wakes the
/// loop per batch (sends are coalesced while a drain is pending). Jobs enqueued on the loop thread
/// itself (a continuation resumed from a read callback, say) need no wake-up: a `uv_prepare_t`
/// drains them before the loop next blocks, saving an eventfd write, an epoll round and a read
/// per resumption. A drain runs what is queued, re-drains what arrived meanwhile, and yields to
/// I/O after a bounded number of rounds.
///
/// `@unchecked Sendable`: the raw `uv_loop_t` and every handle on it are touched only from the
/// loop thread; the only cross-thread entry points are the `Mutex`-protected queue and
/// `uv_async_send`, which libuv documents as thread-safe. This is the one type in Titan that
/// needs the escape hatch.
public final class EventLoop: @unchecked Sendable {
    private enum Item: Sendable {
        case job(UnownedJob)
        case closure(@Sendable () -> Void)
    }

    private struct Queue: ~Copyable {
        var items: [Item] = []
        /// True while a wake-up is pending or a drain is running and will look at the queue again.
        var wakePending = false
        /// Set once the async handle is closing; later work cannot run.
        var closed = false
    }

    /// The libuv loop. Only for use on the loop thread.
    public let uv: UnsafeMutablePointer<uv_loop_t>
    private let wakeup: UnsafeMutablePointer<uv_async_t>
    private let beforePoll: UnsafeMutablePointer<uv_prepare_t>
    private let name: String
    private let queue = Mutex(Queue())
    private let threadID = Atomic<UInt>(0)
    private let finished = Mutex<(code: Int32?, waiters: [CheckedContinuation<Int32, Never>])>((nil, []))
    /// Drained batch storage, reused; loop thread only.
    private var spare: [Item] = []
    private static let maxDrainRounds = 16

    /// libuv writes to sockets with write(2): a peer that vanished mid-reply would kill the whole
    /// process with SIGPIPE. Ignore it process-wide (the error comes back as EPIPE instead), once,
    /// before the first loop runs. Jobs get SIGPIPE back at its default (see titan_spawn).
    private static let ignoreSIGPIPE: Void = {
        signal(SIGPIPE, SIG_IGN)
    }()

    /// Creates a loop and starts its thread.
    public init(name: String = "titan-loop") {
        Self.ignoreSIGPIPE
        uv = .allocate(capacity: 1)
        wakeup = .allocate(capacity: 1)
        beforePoll = .allocate(capacity: 1)
        self.name = name
        let rc = uv_loop_init(uv)
        precondition(rc == 0, "uv_loop_init failed: \(UVError(rc))")
        uv_async_init(uv, wakeup) { handle in
            guard let handle, let data = uv_handle_get_data(titan_async_handle(handle)) else { return }
            Unmanaged<EventLoop>.fromOpaque(data).takeUnretainedValue().drain()
        }
        // The handle holds the loop unretained: the loop outlives its thread by construction
        // (the thread holds a strong reference until `uv_run` returns).
        uv_handle_set_data(titan_async_handle(wakeup), Unmanaged.passUnretained(self).toOpaque())
        uv_prepare_init(uv, beforePoll)
        uv_handle_set_data(titan_prepare_handle(beforePoll), Unmanaged.passUnretained(self).toOpaque())
        uv_prepare_start(beforePoll) { handle in
            guard let handle, let data = uv_handle_get_data(titan_prepare_handle(handle)) else { return }
            Unmanaged<EventLoop>.fromOpaque(data).takeUnretainedValue().drainIfPending()
        }
        // Draining is not a reason to keep the loop running.
        uv_unref(titan_prepare_handle(beforePoll))
        let thread = Thread { [self] in self.runLoopThread() }
        thread.name = name
        thread.start()
    }

    deinit {
        beforePoll.deallocate()
        wakeup.deallocate()
        uv.deallocate()
    }

    private func runLoopThread() {
        threadID.store(UInt(bitPattern: Int(bitPattern: pthread_self())), ordering: .releasing)
        titan_set_thread_name(name)
        uv_run(uv, UV_RUN_DEFAULT)
        // Every handle has been closed by its owner by now (uv_run returns only then).
        let rc = uv_loop_close(uv)
        threadID.store(0, ordering: .releasing)
        let waiters = finished.withLock { state in
            state.code = rc
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: rc) }
    }

    /// True when called on this loop's thread.
    public var inLoopThread: Bool {
        threadID.load(ordering: .acquiring) == UInt(bitPattern: Int(bitPattern: pthread_self()))
    }

    /// Runs `body` on the loop thread, soon. Safe from any thread. Returns false (and drops
    /// `body`) when the loop has been shut down.
    @discardableResult
    public func execute(_ body: @escaping @Sendable () -> Void) -> Bool {
        enqueue(.closure(body))
    }

    @discardableResult
    private func enqueue(_ item: Item) -> Bool {
        let local = inLoopThread
        let wake: Bool? = queue.withLock { q in
            if q.closed { return nil }
            q.items.append(item)
            if q.wakePending { return false }
            q.wakePending = true
            // On the loop thread, the prepare handle drains before the loop next blocks.
            return !local
        }
        switch wake {
        case true?: uv_async_send(wakeup)
        case false?: break
        case nil:
            if case .job = item {
                // A task cannot be failed from here: say so rather than hang silently.
                FileHandle.standardError.write(Data("titan: a task was submitted to a stopped event loop and dropped\n".utf8))
            }
            return false
        }
        return true
    }

    private func drainIfPending() {
        if queue.withLock({ $0.wakePending }) { drain() }
    }

    private func drain() {
        // Take the spare buffer out so swapping it into the queue leaves it uniquely referenced.
        var batch = spare
        spare = []
        for _ in 0..<Self.maxDrainRounds {
            let empty = queue.withLock { q -> Bool in
                if q.items.isEmpty {
                    q.wakePending = false
                    return true
                }
                swap(&q.items, &batch)
                return false
            }
            if empty {
                spare = batch
                return
            }
            for item in batch {
                switch item {
                case .job(let job):
                    job.runSynchronously(isolatedTo: asUnownedSerialExecutor(), taskExecutor: asUnownedTaskExecutor())
                case .closure(let body): body()
                }
            }
            batch.removeAll(keepingCapacity: true)
        }
        spare = batch
        // Still busy after the bounded rounds: let I/O run, then come back.
        let again = queue.withLock { q -> Bool in
            if q.items.isEmpty {
                q.wakePending = false
                return false
            }
            return true
        }
        if again { uv_async_send(wakeup) }
    }

    /// Stops the loop once every other handle is closed: closes the wake-up handle, after which
    /// `uv_run` returns as soon as the owners of all remaining handles have closed them.
    /// Returns the result of `uv_loop_close` (0 when every handle was closed).
    @discardableResult
    public func shutdown() async -> Int32 {
        execute { [self] in
            let first = queue.withLock { q -> Bool in
                defer { q.closed = true }
                return !q.closed
            }
            if first {
                uv_close(titan_async_handle(wakeup), nil)
                uv_close(titan_prepare_handle(beforePoll), nil)
            }
        }
        return await terminated()
    }

    /// Waits until the loop thread has ended; returns `uv_loop_close`'s result.
    public func terminated() async -> Int32 {
        await withCheckedContinuation { (c: CheckedContinuation<Int32, Never>) in
            let code = finished.withLock { state -> Int32? in
                if let code = state.code { return code }
                state.waiters.append(c)
                return nil
            }
            if let code { c.resume(returning: code) }
        }
    }

    /// Names and counts the handles still open on this loop (loop thread only); for tests and
    /// diagnostics of leaks.
    public func openHandleCount() -> Int {
        precondition(inLoopThread)
        let counter = UnsafeMutablePointer<Int>.allocate(capacity: 1)
        defer { counter.deallocate() }
        counter.pointee = 0
        uv_walk(uv, { handle, arg in
            guard let handle, let arg else { return }
            if uv_is_closing(handle) == 0 { arg.assumingMemoryBound(to: Int.self).pointee += 1 }
        }, counter)
        // The wake-up and prepare handles are the loop's own.
        var own = 0
        if uv_is_closing(titan_async_handle(wakeup)) == 0 { own += 1 }
        if uv_is_closing(titan_prepare_handle(beforePoll)) == 0 { own += 1 }
        return counter.pointee - own
    }
}

/// Also a `TaskExecutor`: `withTaskExecutorPreference(loop) { ... }` runs a task's nonisolated
/// code on the loop thread, so its calls into actors on this loop need no thread hop.
extension EventLoop: TaskExecutor {
    public func asUnownedTaskExecutor() -> UnownedTaskExecutor {
        UnownedTaskExecutor(ordinary: self)
    }
}

extension EventLoop: SerialExecutor {
    public func enqueue(_ job: consuming ExecutorJob) {
        enqueue(.job(UnownedJob(job)))
    }

    public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    public func checkIsolated() {
        precondition(inLoopThread, "not on the Titan event loop thread")
    }

    public func isIsolatingCurrentContext() -> Bool? {
        inLoopThread
    }
}
