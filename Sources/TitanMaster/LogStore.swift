import Foundation
import Logging
import Synchronization
import TitanLoop
import TitanProtocol

/// Every job's output on the master's disk, one file per job, written off the loop thread.
///
/// The scheduler (on the loop) hands over commands through an `AsyncStream`: one long-lived task
/// applies them in order, so a read always sees every write sent before it, and the loop never
/// waits on the disk. Memory holds only each job's recent tail (``LogBuffer``); reads return one
/// bounded page, found through the log's index (``LogFormat``), never the whole file.
///
/// Bounded: output waiting to be written is capped (`maxQueuedBytes`); past it, chunks are
/// dropped and counted, and the next chunk that fits is preceded by a line saying how much was
/// lost. A disk slower than the jobs' output thus costs output, never the master's memory.
final class LogStore: Sendable {
    enum Command: Sendable {
        case append(jobId: String, OutputChannel, [UInt8])
        /// The job will write no more: close its file.
        case finished(jobId: String)
        case page(jobId: String, LogPageQuery, @Sendable (Result<LogPageResult, LogStoreError>) -> Void)
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

    /// Creates `directory` (it must be writable) and starts the writer. `clock` (wall ms) dates
    /// the time marks.
    init(directory: String, logger: Logger, maxQueuedBytes: Int = 64 << 20,
         clock: @escaping @Sendable () -> Int64 = { Time.wallMs() }) throws(LogStoreError) {
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
            let writer = Writer(directory: directory, logger: logger, clock: clock)
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

    /// Reads one page of a job's output (ordered after every write already queued) and hands
    /// the result to `body` on `loop`.
    func page(jobId: String, _ query: LogPageQuery, on loop: EventLoop,
              _ body: @escaping @Sendable (Result<LogPageResult, LogStoreError>) -> Void) {
        send(.page(jobId: jobId, query) { result in loop.execute { body(result) } })
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
        let clock: @Sendable () -> Int64
        var open: [String: LogFileAppender] = [:]
        var failed = false

        init(directory: String, logger: Logger, clock: @escaping @Sendable () -> Int64) {
            self.directory = directory
            self.logger = logger
            self.clock = clock
        }

        func path(_ jobId: String) -> String { directory + "/" + LogStore.fileName(for: jobId) }

        func apply(_ command: Command) {
            switch command {
            case .append(let jobId, let stream, let bytes):
                do {
                    try appender(for: jobId).append(stream, bytes, nowMs: clock())
                } catch {
                    report("cannot save the output of \(jobId): \(error)")
                }
            case .finished(let jobId):
                open[jobId] = nil
            case .page(let jobId, let query, let reply):
                reply(Result { () throws(LogStoreError) in try query.read(path(jobId)) })
            case .remove(let jobId):
                open[jobId] = nil
                unlink(path(jobId))
                unlink(LogFormat.indexPath(path(jobId)))
            case .stop(let done):
                open = [:]
                done()
            }
        }

        func appender(for jobId: String) throws(LogStoreError) -> LogFileAppender {
            if let appender = open[jobId] { return appender }
            // Bounded: a few hundred jobs writing at once is plenty; reopen on demand.
            if open.count >= 128, let victim = open.keys.first { open[victim] = nil }
            let appender = try LogFileAppender(path: path(jobId))
            open[jobId] = appender
            return appender
        }

        func report(_ problem: String) {
            // Once: a full disk would otherwise log a line per chunk.
            guard !failed else { return }
            failed = true
            logger.error("job output is not being saved: \(problem)")
        }
    }
}

/// What page of a job's log to read.
struct LogPageQuery: Sendable {
    var cursor: UInt64 = 0
    var limit: Int
    /// On cursor 0: start where the last `tailLines` lines begin.
    var tailLines: UInt32 = 0
    /// On cursor 0: start at output that arrived at or after this wall time (ms).
    var sinceMs: Int64 = 0
    /// On cursor 0: start this many output bytes before the end.
    var lastBytes: UInt64 = 0
    /// Read no record at or after this offset (a replay stops where the file ended when it began).
    var stopAt: UInt64 = .max
    /// Also say where the log ends now (``LogPageResult/end``).
    var wantEnd = false

    /// Reads the page from the log at `path` (no file: an empty page).
    func read(_ path: String) throws(LogStoreError) -> LogPageResult {
        guard let reader = try LogFileReader(path: path) else {
            guard cursor == 0 else { throw LogStoreError(path: path, problem: "cursor \(cursor) is past the end of the output", badRequest: true) }
            return LogPageResult()
        }
        var start = LogPosition(cursor: cursor)
        var before: UInt64 = 0
        if cursor == 0 {
            if tailLines > 0 || lastBytes > 0 {
                let totals = try reader.totals()
                if tailLines > 0 { start = max(start, try reader.tailStart(lines: tailLines, totals: totals)) }
                if lastBytes > 0 && totals.outputBytes > lastBytes {
                    before = totals.outputBytes - lastBytes
                    start = max(start, try reader.position(ofOutputByte: before))
                }
            }
            if sinceMs != 0 { start = max(start, try reader.sinceStart(sinceMs)) }
        } else if !(try reader.isValid(start)) {
            throw LogStoreError(path: path, problem: "cursor \(cursor) is not a position in this output", badRequest: true)
        }
        let page = try reader.page(from: start, limit: limit, stopAt: stopAt)
        let end = wantEnd ? (page.atEnd ? page.next.record : try reader.totals().end) : 0
        return LogPageResult(chunks: page.chunks, next: page.next.cursor, atEnd: page.atEnd, before: before,
                             end: end, exists: true)
    }
}

/// A page read from a job's log.
struct LogPageResult: Sendable {
    var chunks: [LogChunk] = []
    var next: UInt64 = 0
    /// Nothing follows `next` (before `stopAt`, or in the log as it is now).
    var atEnd = true
    /// Output bytes before the start that `lastBytes` left out.
    var before: UInt64 = 0
    /// With `wantEnd`: where the log's last whole record ends, as of this read.
    var end: UInt64 = 0
    /// False: the job has no log (it printed nothing, or its file is gone).
    var exists = false
}

/// The log directory cannot be used, or a read asked for something the log does not have.
struct LogStoreError: Error, Sendable, CustomStringConvertible {
    var path: String
    var problem: String
    /// The request was wrong (a cursor this log never handed out), not the disk.
    var badRequest = false

    var description: String { "\(path): \(problem)" }
}
