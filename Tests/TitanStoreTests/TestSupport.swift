import Dispatch
import Foundation
import Synchronization
import Testing
@testable import TitanStore

/// A fresh directory under the package's `.build`, removed when the value goes away.
struct Scratch: ~Copyable {
    let directory: String

    init() {
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        directory = packageRoot.appendingPathComponent(".build/test-scratch/\(UUID().uuidString)").path
        try! FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: directory)
    }

    func path(_ name: String = "titan.aof") -> String {
        directory + "/" + name
    }
}

/// Collects callback results so a test can wait for them with a deadline instead of sleeping.
final class Waiter<T: Sendable>: Sendable {
    private let values = Mutex<[T]>([])
    private let group = DispatchGroup()

    /// A callback that records its value; each one must be called exactly once.
    func callback() -> @Sendable (T) -> Void {
        group.enter()
        return { value in
            self.values.withLock { $0.append(value) }
            self.group.leave()
        }
    }

    /// Waits until every callback handed out has run; false on timeout.
    func wait(timeout seconds: Double = 60) -> Bool {
        group.wait(timeout: .now() + seconds) == .success
    }

    var results: [T] { values.withLock { $0 } }
}

/// Runs one callback-style operation and returns its result, or nil (recording an issue) if it
/// did not complete within the deadline.
func waitFor<T: Sendable>(
    timeout: Double = 60, sourceLocation: SourceLocation = #_sourceLocation,
    _ start: (@escaping @Sendable (T) -> Void) -> Void
) -> T? {
    let waiter = Waiter<T>()
    start(waiter.callback())
    guard waiter.wait(timeout: timeout) else {
        Issue.record("operation did not complete within \(timeout)s", sourceLocation: sourceLocation)
        return nil
    }
    return waiter.results.first
}

/// Polls `condition` until it holds or the deadline passes (for effects with no callback, such
/// as the `everysec` background fsync).
func eventually(timeout: Double = 10, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while !condition() {
        if Date() > deadline { return false }
        usleep(5_000)
    }
    return true
}

extension Result {
    var isSuccess: Bool {
        if case .success = self { return true }
        return false
    }

    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}

/// Distinct, recognisable payloads of varying length.
func payload(_ i: Int, size: Int? = nil) -> [UInt8] {
    let text = Array("record-\(i)-".utf8)
    let length = size ?? (10 + i % 37)
    return (0..<length).map { text[$0 % text.count] }
}

func fileBytes(_ path: String) -> [UInt8] {
    (try? [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))) ?? []
}

func writeFile(_ path: String, _ bytes: [UInt8]) {
    try! Data(bytes).write(to: URL(fileURLWithPath: path))
}

func replayAll(_ path: String, repair: Bool = false) throws(StoreError) -> (records: [[UInt8]], report: ReplayReport) {
    var records: [[UInt8]] = []
    let report = try AOFReader.replay(path: path, repair: repair) { records.append($0) }
    return (records, report)
}

/// Opens a log, appends `payloads` (one completion each) and closes it.
@discardableResult
func writeLog(_ path: String, _ payloads: [[UInt8]], policy: FsyncPolicy = .no) throws -> AppendLog {
    let log = try AppendLog(path: path, policy: policy)
    let waiter = Waiter<Result<Void, StoreError>>()
    for p in payloads { log.append(p, completion: waiter.callback()) }
    #expect(waiter.wait())
    #expect(waiter.results.allSatisfy { $0.isSuccess })
    let closed = waitFor { log.close(completion: $0) }
    #expect(closed?.isSuccess == true)
    return log
}
