import TitanTestSupport
import Foundation
import Synchronization
import Testing
import TitanLoop

// Helpers for tests against a real libuv loop: every wait has a deadline, so a lost callback
// fails the test with a message instead of hanging the suite.

/// A wait that did not finish in time.
struct DeadlineExceeded: Error, CustomStringConvertible {
    let what: String
    let seconds: Double
    var description: String { "deadline of \(seconds) s exceeded waiting for \(what)" }
}

/// Resumes a continuation at most once, from whichever side gets there first.
private final class Race<T: Sendable>: Sendable {
    private let state = Mutex<(continuation: CheckedContinuation<T, any Error>?, work: Task<Void, Never>?)>((nil, nil))

    init(_ continuation: CheckedContinuation<T, any Error>) {
        state.withLock { $0.continuation = continuation }
    }

    func setWork(_ task: Task<Void, Never>) {
        state.withLock { $0.work = task }
    }

    /// True for the first caller only.
    func finish(_ result: Result<T, any Error>) -> Bool {
        guard let c = state.withLock({ s -> CheckedContinuation<T, any Error>? in
            defer { s.continuation = nil }
            return s.continuation
        }) else { return false }
        c.resume(with: result)
        return true
    }

    func cancelWork() {
        state.withLock { $0.work }?.cancel()
    }
}

/// Runs `body`; if it has not finished after `seconds`, records an issue and throws
/// ``DeadlineExceeded`` (the body is cancelled and abandoned, so even a callback that never comes
/// cannot hang the suite).
func withDeadline<T: Sendable>(
    _ what: String, seconds: Double = 10,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, any Error>) in
        let race = Race(c)
        let timer = Task {
            try? await Task.sleep(for: .seconds(seconds))
            if Task.isCancelled { return }
            let error = DeadlineExceeded(what: what, seconds: seconds)
            if race.finish(.failure(error)) {
                Issue.record("\(error)", sourceLocation: sourceLocation)
                race.cancelWork()
            }
        }
        race.setWork(Task {
            let result: Result<T, any Error>
            do { result = .success(try await body()) } catch { result = .failure(error) }
            timer.cancel()
            _ = race.finish(result)
        })
    }
}

/// Runs `body` on the loop thread (where handles are created) and returns its result.
func onLoop<T: Sendable>(
    _ loop: EventLoop, _ what: String = "a closure on the loop",
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: @escaping @Sendable () throws -> T
) async throws -> T {
    try await withDeadline(what, sourceLocation: sourceLocation) {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, any Error>) in
            loop.execute { c.resume(with: Result { try body() }) }
        }
    }
}

/// Shuts the loop down and expects every handle to have been closed (`uv_loop_close() == 0`).
func expectCleanShutdown(_ loop: EventLoop, sourceLocation: SourceLocation = #_sourceLocation) async throws {
    let rc = try await withDeadline("loop shutdown (a handle left open?)", sourceLocation: sourceLocation) {
        await loop.shutdown()
    }
    #expect(rc == 0, "uv_loop_close: \(UVError(rc))", sourceLocation: sourceLocation)
}

struct InboxFinished: Error {}

/// Events delivered by callbacks on any thread, awaited in order by the test.
final class Inbox<Element: Sendable>: Sendable {
    private let stream: AsyncStream<Element>
    private let continuation: AsyncStream<Element>.Continuation

    init() {
        (stream, continuation) = AsyncStream.makeStream(of: Element.self)
    }

    func send(_ element: Element) {
        continuation.yield(element)
    }

    /// The next event, in arrival order.
    func next(_ what: String, within seconds: Double = 10,
              sourceLocation: SourceLocation = #_sourceLocation) async throws -> Element {
        let stream = self.stream
        return try await withDeadline(what, seconds: seconds, sourceLocation: sourceLocation) {
            var iterator = stream.makeAsyncIterator()
            guard let element = await iterator.next() else { throw InboxFinished() }
            return element
        }
    }
}

/// A thread-safe counter/recorder for callbacks.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    init(_ value: Value) {
        mutex = Mutex(value)
    }

    @discardableResult
    func withLock<R: Sendable>(_ body: (inout Value) -> R) -> R {
        mutex.withLock { body(&$0) }
    }

    var value: Value { mutex.withLock { $0 } }
}


/// `count` pseudo-random bytes from `seed`.
func randomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var rng = SplitMix64(seed: seed)
    var bytes = [UInt8](repeating: 0, count: count)
    bytes.withUnsafeMutableBytes { raw in
        var i = 0
        while i < count {
            var word = rng.next()
            let n = min(8, count - i)
            withUnsafeBytes(of: &word) { raw.baseAddress!.advanced(by: i).copyMemory(from: $0.baseAddress!, byteCount: n) }
            i += n
        }
    }
    return bytes
}

/// A TCP port on 127.0.0.1 that is bound (without SO_REUSEADDR) but not listening: a connect to it
/// is refused, and no other socket — another test's listener, or a client's ephemeral port —
/// can take it while this is open. (Closing a listener and reusing its port is racy when tests
/// run in parallel.)
final class ReservedPort {
    let fd: Int32
    let port: Int

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        self.fd = fd
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bind(fd, sa, len) == 0 && getsockname(fd, sa, &len) == 0
            }
        }
        port = Int(UInt16(bigEndian: addr.sin_port))
        if !bound || port == 0 {
            let code = errno
            close(fd)
            throw UVError(-code)
        }
    }

    deinit {
        close(fd)
    }
}
