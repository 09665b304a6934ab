import Foundation
import Glibc
import Logging
import Synchronization
import Testing
import TitanLoop
import TitanProtocol
import TitanStore
@testable import TitanMaster

/// Log lines kept for a test to look at.
final class LogCapture: Sendable {
    private let lines = Mutex<[String]>([])

    var logger: Logger {
        Logger(label: "test") { _ in Handler(capture: self) }
    }

    var all: [String] { lines.withLock { $0 } }

    func contains(_ text: String) -> Bool { all.contains { $0.contains(text) } }

    fileprivate func append(_ line: String) { lines.withLock { $0.append(line) } }

    private struct Handler: LogHandler {
        let capture: LogCapture
        var logLevel = Logger.Level.info
        var metadata: Logger.Metadata = [:]
        var metadataProvider: Logger.MetadataProvider?

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let fields = (event.metadata ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            capture.append("\(event.level): \(event.message) \(fields.joined(separator: " "))")
        }
    }
}

func scratchDirectory(_ name: String) -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("titan-\(name)-\(UUID().uuidString)").path
}

/// Polls `condition` until it holds, or records an issue after `seconds`.
func eventually(seconds: Double = 10, _ what: String, _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(seconds)
    while try await !condition() {
        guard ContinuousClock.now < deadline else {
            Issue.record("not within \(seconds) s: \(what)")
            throw CancellationError()
        }
        try await Task.sleep(for: .milliseconds(10))
    }
}

@Suite("One master per data directory")
struct MasterDataDirectoryTests {
    static func config(_ directory: String) -> MasterConfig {
        var config = MasterConfig()
        config.port = 0
        config.dataDirectory = directory
        return config
    }

    static var quiet: Logger {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }

    @Test("a second master on a data directory in use is refused, naming it and the holder")
    func secondMasterRefused() async throws {
        let dir = scratchDirectory("lock")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let loop = EventLoop()
        let first = try await MasterNode.start(config: Self.config(dir), loop: loop, logger: Self.quiet)
        do {
            _ = try await MasterNode.start(config: Self.config(dir), loop: loop, logger: Self.quiet)
            Issue.record("two masters started on one data directory")
        } catch {
            guard case let .dataDirectoryInUse(directory, pid, _) = error else {
                Issue.record("unexpected error: \(error)")
                throw error
            }
            #expect(directory == dir)
            #expect(pid == getpid())
            #expect("\(error)".contains("data directory '\(dir)' is in use by another master (pid \(getpid())"), "\(error)")
        }
        // The refused one touched nothing: the first still records.
        let client = try await TitanClientStub.connect("127.0.0.1:\(first.port)")
        #expect(try await client.request(.submit(JobSpec(command: ["true"]), follow: false)) == .submitted(jobId: "job-1"))
        await client.close()
        await first.stop()

        let next = try await MasterNode.start(config: Self.config(dir), loop: loop, logger: Self.quiet)
        let again = try await TitanClientStub.connect("127.0.0.1:\(next.port)")
        guard case .status(let info) = try await again.request(.getStatus(jobId: "job-1")) else {
            Issue.record("job-1 lost across the restart")
            return
        }
        #expect(info.id == "job-1")
        await again.close()
        await next.stop()
        #expect(await loop.shutdown() == 0)
    }

    @Test("a master that fails to start lets its data directory go")
    func failedStartReleasesTheLock() async throws {
        let dir = scratchDirectory("lock-fail")
        let other = scratchDirectory("lock-other")
        defer {
            try? FileManager.default.removeItem(atPath: dir)
            try? FileManager.default.removeItem(atPath: other)
        }
        let loop = EventLoop()
        let holder = try await MasterNode.start(config: Self.config(other), loop: loop, logger: Self.quiet)
        var clash = Self.config(dir)
        clash.port = holder.port  // in use: the listener fails after the lock was taken
        do {
            _ = try await MasterNode.start(config: clash, loop: loop, logger: Self.quiet)
            Issue.record("started on a port in use")
        } catch {
            guard case .listen = error else {
                Issue.record("unexpected error: \(error)")
                throw error
            }
        }
        let master = try await MasterNode.start(config: Self.config(dir), loop: loop, logger: Self.quiet)
        await master.stop()
        await holder.stop()
        #expect(await loop.shutdown() == 0)
    }
}
