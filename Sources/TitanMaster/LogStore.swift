import Foundation
import Logging
import Synchronization
import TitanLoop
import TitanProtocol

/// Every job's output on the master's disk, one file per job, written off the loop thread.
///
/// The scheduler (on the loop) hands over commands through an `AsyncStream`: one long-lived task
/// applies them in order, so a read always sees every write sent before it, and the loop never
/// waits on the disk. Memory holds only each job's recent tail (``LogBuffer``).
///
/// File format: records of `stream u8, length u32 big-endian, bytes`, appended.
///
/// Bounded: output waiting to be written is capped (`maxQueuedBytes`); past it, chunks are
/// dropped and counted, and the next chunk that fits is preceded by a line saying how much was
/// lost. A disk slower than the jobs' output thus costs output, never the master's memory.
final class LogStore: Sendable {
    enum Command: Sendable {
        case append(jobId: String, OutputChannel, [UInt8])
        /// The job will write no more: close its file.
        case finished(jobId: String)
        case read(jobId: String, @Sendable (Result<[LogChunk], LogStoreError>) -> Void)
        case remove(jobId: String)
        case stop(@Sendable () -> Void)
    }

    let directory: String
    private let commands: AsyncStream<Command>.Continuation
    /// Output bytes queued for the writer, and bytes dropped since the last chunk that fitted.
    private final class Backlog: Sendable {
        let state = Mutex<(queued: Int, dropped: Int)>((0, 0))
    }

    private let backlog = Backlog()
    let maxQueuedBytes: Int

    /// Creates `directory` (it must be writable) and starts the writer.
    init(directory: String, logger: Logger, maxQueuedBytes: Int = 64 << 20) throws(LogStoreError) {
        self.directory = directory
        self.maxQueuedBytes = maxQueuedBytes
        let backlog = backlog
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw LogStoreError(path: directory, problem: "cannot create the log directory: \(error.localizedDescription)")
        }
        guard access(directory, W_OK) == 0 else {
            throw LogStoreError(path: directory, problem: "the log directory is not writable")
        }
        let (stream, continuation) = AsyncStream<Command>.makeStream()
        commands = continuation
        Task.detached(priority: .utility) {
            // Created inside the task that owns it: never shared, so it needs no Sendable.
            let writer = Writer(directory: directory, logger: logger)
            for await command in stream {
                writer.apply(command)
                if case .append(_, _, let bytes) = command { backlog.state.withLock { $0.queued -= bytes.count } }
            }
        }
    }

    /// Queues a command; never blocks. Output past the backlog cap is dropped (and counted).
    func send(_ command: Command) {
        guard case .append(let jobId, _, let bytes) = command else {
            commands.yield(command)
            return
        }
        let (accepted, dropped) = backlog.state.withLock { b -> (Bool, Int) in
            guard b.queued + bytes.count <= maxQueuedBytes else {
                b.dropped += bytes.count
                return (false, 0)
            }
            b.queued += bytes.count
            defer { b.dropped = 0 }
            return (true, b.dropped)
        }
        guard accepted else { return }
        if dropped > 0 {
            commands.yield(.append(jobId: jobId, .stderr, Array("[titan: \(dropped) bytes of output not saved: the disk fell behind]\n".utf8)))
        }
        commands.yield(command)
    }

    /// Reads a job's whole output (ordered after every write already queued) and hands the
    /// result to `body` on `loop`.
    func read(jobId: String, on loop: EventLoop,
              _ body: @escaping @Sendable (Result<[LogChunk], LogStoreError>) -> Void) {
        send(.read(jobId: jobId) { result in loop.execute { body(result) } })
    }

    /// Output bytes dropped since the last chunk that was accepted (for tests and metrics).
    var droppedBytes: Int { backlog.state.withLock { $0.dropped } }

    /// Writes what was queued, closes every file and ends the writer.
    func stop() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            commands.yield(.stop { c.resume() })
        }
        commands.finish()
    }

    /// File name for a job id (`dag-3/extract` → `dag-3%2Fextract.log`): ids are ours, but a
    /// `/` must not make a subdirectory and nothing may escape the directory.
    static func fileName(for jobId: String) -> String {
        var name = ""
        for scalar in jobId.unicodeScalars {
            switch scalar {
            case "a"..."z", "A"..."Z", "0"..."9", "-", "_", ".": name.unicodeScalars.append(scalar)
            default: name += String(format: "%%%02X", scalar.value)
            }
        }
        return name + ".log"
    }

    /// The single consumer of the command stream; touched only by the writer task.
    private final class Writer {
        let directory: String
        let logger: Logger
        var open: [String: FileHandle] = [:]
        var failed = false

        init(directory: String, logger: Logger) {
            self.directory = directory
            self.logger = logger
        }

        func path(_ jobId: String) -> String { directory + "/" + LogStore.fileName(for: jobId) }

        func apply(_ command: Command) {
            switch command {
            case .append(let jobId, let stream, let bytes):
                guard let handle = handle(for: jobId) else { return }
                var record = [UInt8]()
                record.reserveCapacity(5 + bytes.count)
                record.append(stream.rawValue)
                let n = UInt32(bytes.count)
                record += [UInt8(n >> 24), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)]
                record += bytes
                do {
                    try handle.write(contentsOf: record)
                } catch {
                    report("cannot write the output of \(jobId): \(error.localizedDescription)")
                }
            case .finished(let jobId):
                try? open.removeValue(forKey: jobId)?.close()
            case .read(let jobId, let reply):
                try? open[jobId]?.synchronize()
                reply(read(jobId))
            case .remove(let jobId):
                try? open.removeValue(forKey: jobId)?.close()
                try? FileManager.default.removeItem(atPath: path(jobId))
            case .stop(let done):
                for (_, handle) in open { try? handle.close() }
                open = [:]
                done()
            }
        }

        func handle(for jobId: String) -> FileHandle? {
            if let handle = open[jobId] { return handle }
            // Bounded: a few hundred jobs writing at once is plenty; reopen on demand.
            if open.count >= 256, let victim = open.keys.first { try? open.removeValue(forKey: victim)?.close() }
            let path = path(jobId)
            if !FileManager.default.fileExists(atPath: path) {
                guard FileManager.default.createFile(atPath: path, contents: nil) else {
                    report("cannot create \(path)")
                    return nil
                }
            }
            guard let handle = FileHandle(forWritingAtPath: path) else {
                report("cannot open \(path)")
                return nil
            }
            _ = try? handle.seekToEnd()
            open[jobId] = handle
            return handle
        }

        func read(_ jobId: String) -> Result<[LogChunk], LogStoreError> {
            let path = path(jobId)
            guard let data = FileManager.default.contents(atPath: path) else {
                return FileManager.default.fileExists(atPath: path)
                    ? .failure(LogStoreError(path: path, problem: "cannot read")) : .success([])
            }
            var chunks: [LogChunk] = []
            var i = data.startIndex
            while data.endIndex - i >= 5 {
                guard let stream = OutputChannel(rawValue: data[i]) else { break }
                let n = Int(data[i + 1]) << 24 | Int(data[i + 2]) << 16 | Int(data[i + 3]) << 8 | Int(data[i + 4])
                guard data.endIndex - (i + 5) >= n else { break }  // a torn last record
                chunks.append(LogChunk(stream: stream, bytes: [UInt8](data[(i + 5)..<(i + 5 + n)])))
                i += 5 + n
            }
            return .success(chunks)
        }

        func report(_ problem: String) {
            // Once: a full disk would otherwise log a line per chunk.
            guard !failed else { return }
            failed = true
            logger.error("job output is not being saved: \(problem)")
        }
    }
}

/// The log directory cannot be used.
struct LogStoreError: Error, Sendable, CustomStringConvertible {
    var path: String
    var problem: String

    var description: String { "\(path): \(problem)" }
}
