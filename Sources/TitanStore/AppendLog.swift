import Dispatch
import Glibc
import Synchronization

/// The append-only file of the master: callers hand it records from any thread and it writes
/// them, in submission order, on a serial queue of its own, so no caller ever blocks on disk.
///
/// Completions run on that queue, after the record is durable per `policy`; keep them short
/// and never wait in one for another operation of the same log. A request that is refused up
/// front (log closed or failed, invalid size) completes immediately on the caller's thread.
///
/// Open the log after `AOFReader.replay(path:repair:body:)` has loaded and repaired the file:
/// the log appends at the end and does not re-check earlier records. Close it before letting
/// go of it; a log released unclosed releases its descriptor without a final fsync.
public final class AppendLog: Sendable {
    /// Called once per request with its outcome.
    public typealias Completion = @Sendable (Result<Void, StoreError>) -> Void

    /// Switches used by tests to simulate failures that are hard to cause for real.
    struct TestHooks: Sendable {
        /// Stop a rewrite after the new file is synced but before the rename, as a crash would.
        var crashBeforeRename = false
    }

    /// Work in submission order. Appends share one byte buffer; the rest are barriers that
    /// end a write group.
    enum Request {
        case append(byteCount: Int, Completion)
        case sync(Completion)
        case rewrite(@Sendable (inout RecordSink) throws(StoreError) -> Void, Completion)
        /// A rewrite that also ends the failed state when it succeeds.
        case recover(@Sendable (inout RecordSink) throws(StoreError) -> Void, Completion)
        case close(Completion)
    }

    /// What callers add to and the writer drains, under one short lock.
    struct Intake {
        var bytes: [UInt8] = []
        var requests: [Request] = []
        var drainScheduled = false
        var failure: StoreError?
        /// Recoveries queued and not yet carried out: meanwhile requests queue behind them
        /// instead of being refused for the failure they may end.
        var recoveries = 0
        var closed = false
    }

    /// The file this log appends to.
    public let path: String
    /// The fsync policy fixed at open.
    public let policy: FsyncPolicy
    let queue: DispatchQueue
    let writer: LogWriter
    private let intake = Mutex(Intake())
    private let stats = LogStats()

    /// Opens `path` for appending, creating it with a header (and syncing its directory) if it
    /// is missing or empty, and deleting a stale `<path>.rewrite` left by a crashed compaction.
    ///
    /// Opening is the one blocking call (it runs once, at startup); it too runs on the writer
    /// queue. Throws `.io` naming the path and errno when the file cannot be created or opened,
    /// and `.badHeader` when it is not a log.
    public convenience init(path: String, policy: FsyncPolicy) throws(StoreError) {
        try self.init(path: path, policy: policy, hooks: TestHooks())
    }

    init(path: String, policy: FsyncPolicy, hooks: TestHooks) throws(StoreError) {
        self.path = path
        self.policy = policy
        queue = DispatchQueue(label: "titan.aof.writer")
        let writer = LogWriter(path: path, policy: policy, hooks: hooks, stats: stats)
        self.writer = writer
        try queue.sync { Result { () throws(StoreError) in try writer.open() } }.get()
    }

    /// Bytes in the file, header included, as of the last completed write or rewrite. Compare it
    /// with the size after the last rewrite to decide when to compact.
    public var fileSize: Int64 { stats.fileSize.load(ordering: .relaxed) }

    /// fsync calls made so far (diagnostic; shows how well group commit batches).
    public var fsyncCount: Int { stats.fsyncCount.load(ordering: .relaxed) }

    /// Appends one record. `completion` runs once it is written (and fsynced under `.always`),
    /// or with the error that prevented it; the partial batch of a failed write is truncated
    /// away where the file allows, so a failed append does not come back at replay.
    public func append(_ payload: [UInt8], completion: @escaping Completion) {
        if let problem = RecordFormat.sizeProblem(payload.count) {
            return completion(.failure(.invalidRecord(path: path, size: payload.count, reason: problem)))
        }
        let checksum = CRC32C.checksum(payload)  // outside the lock
        submit(completion) { bytes in
            RecordFormat.append(payload, checksum: checksum, to: &bytes)
            return .append(byteCount: RecordFormat.recordHeaderSize + payload.count, completion)
        }
    }

    /// Appends several records in one write; `completion` covers them all.
    public func appendBatch(_ payloads: [[UInt8]], completion: @escaping Completion) {
        for payload in payloads {
            if let problem = RecordFormat.sizeProblem(payload.count) {
                return completion(.failure(.invalidRecord(path: path, size: payload.count, reason: problem)))
            }
        }
        let checksums = payloads.map { CRC32C.checksum($0) }
        submit(completion) { bytes in
            let start = bytes.count
            for (payload, checksum) in zip(payloads, checksums) {
                RecordFormat.append(payload, checksum: checksum, to: &bytes)
            }
            return .append(byteCount: bytes.count - start, completion)
        }
    }

    /// Makes everything appended before this call durable, whatever the policy.
    public func sync(completion: @escaping Completion) {
        submit(completion) { _ in .sync(completion) }
    }

    /// Writes and fsyncs what is queued, then closes the file. Later requests fail with
    /// `.closed`. Reports the log's failure, if it had one, since data may be missing.
    public func close(completion: @escaping Completion) {
        submit(completion, closing: true) { _ in .close(completion) }
    }

    /// Queues a compaction (see `Rewrite.swift`).
    func submitRewrite(_ producer: @escaping @Sendable (inout RecordSink) throws(StoreError) -> Void, completion: @escaping Completion) {
        submit(completion) { _ in .rewrite(producer, completion) }
    }

    /// Ends the failed state a write or fsync error left (a full disk, say, since freed) by
    /// rewriting the whole file from `snapshot`, as a compaction does (temporary file, fsync,
    /// rename, directory fsync), so the file then holds exactly that state. Nothing the failed
    /// writes may have left half-done is trusted.
    ///
    /// Requests made after this call queue behind it rather than being refused: if it succeeds
    /// they are written after the snapshot, if it fails they fail too. So `snapshot` must be the
    /// state as of this call. `completion` reports the outcome; on failure the log stays failed
    /// and this may be tried again.
    public func recover(snapshot: [[UInt8]], completion: @escaping Completion) {
        let producer: @Sendable (inout RecordSink) throws(StoreError) -> Void = { (sink) throws(StoreError) in
            for record in snapshot { try sink.append(record) }
        }
        submit(completion, recovering: true) { _ in .recover(producer, completion) }
    }

    /// Whether a write or fsync failed and no recovery has ended that yet.
    public var hasFailed: Bool { intake.withLock { $0.failure != nil } }

    private enum Admission {
        case queued, scheduleDrain
        case rejected(StoreError)
    }

    /// Adds a request under the lock and schedules a drain unless one is already pending;
    /// appends that arrive while the writer is busy (in fsync, say) pile up for its next drain.
    private func submit(_ rejected: Completion, closing: Bool = false, recovering: Bool = false,
                        _ makeRequest: (inout [UInt8]) -> Request) {
        let admission: Admission = intake.withLock { state in
            if state.closed { return .rejected(.closed(path: path)) }
            // Closing a failed log must still release the descriptor.
            if let failure = state.failure, !closing, !recovering, state.recoveries == 0 {
                return .rejected(.unavailable(path: path, cause: failure))
            }
            state.requests.append(makeRequest(&state.bytes))
            if closing { state.closed = true }
            if recovering { state.recoveries += 1 }
            if state.drainScheduled { return .queued }
            state.drainScheduled = true
            return .scheduleDrain
        }
        switch admission {
        case .queued: break
        case .scheduleDrain: queue.async { self.drain() }
        case .rejected(let error): rejected(.failure(error))
        }
    }

    /// Takes everything queued and carries it out: each run of appends becomes one write (and,
    /// under `.always`, one fsync), barriers run in order between runs.
    private func drain() {
        var (bytes, requests) = intake.withLock { state in
            state.drainScheduled = false
            // Hand the intake last drain's (empty) buffer, so steady appends never reallocate.
            var bytes: [UInt8] = []
            swap(&bytes, &writer.spare)
            swap(&bytes, &state.bytes)
            let requests = state.requests
            state.requests = []
            return (bytes, requests)
        }
        var done: [(Completion, Result<Void, StoreError>)] = []
        done.reserveCapacity(requests.count)
        bytes.withUnsafeBytes { raw in
            var groupStart = 0, cursor = 0
            var group: [Completion] = []
            func commitGroup() {
                guard !group.isEmpty else { return }
                let result = writer.commit(UnsafeRawBufferPointer(rebasing: raw[groupStart..<cursor]))
                for completion in group { done.append((completion, result)) }
                group.removeAll(keepingCapacity: true)
                groupStart = cursor
            }
            for request in requests {
                switch request {
                case let .append(byteCount, completion):
                    cursor += byteCount
                    group.append(completion)
                case let .sync(completion):
                    commitGroup()
                    done.append((completion, writer.sync()))
                case let .rewrite(producer, completion):
                    commitGroup()
                    done.append((completion, writer.rewrite(producer)))
                case let .recover(producer, completion):
                    commitGroup()
                    let result = writer.recover(producer)
                    intake.withLock { state in
                        state.recoveries -= 1
                        if writer.failure == nil { state.failure = nil }
                    }
                    done.append((completion, result))
                case let .close(completion):
                    commitGroup()
                    done.append((completion, writer.close()))
                }
            }
            commitGroup()
        }
        if bytes.capacity <= 16 << 20 {  // unless a burst made it very large
            bytes.removeAll(keepingCapacity: true)
            writer.spare = consume bytes
        }
        afterWriterWork()
        for (completion, result) in done { completion(result) }
    }

    /// Publishes a writer failure so later appends are refused at once, and arms the
    /// `everysec` timer when there is unsynced data.
    private func afterWriterWork() {
        if let failure = writer.failure {
            intake.withLock { state in
                if state.failure == nil { state.failure = failure }
            }
        }
        if policy == .everysec, writer.dirty, !writer.syncScheduled, writer.fd >= 0 {
            writer.syncScheduled = true
            queue.asyncAfter(deadline: .now() + .seconds(1)) {
                self.writer.syncScheduled = false
                _ = self.writer.sync()
                self.afterWriterWork()
            }
        }
    }

    /// Points the descriptor at another file (e.g. `/dev/full`) so tests can make writes fail,
    /// and sends the files that rewrites and recoveries write there too, as a full disk would
    /// fail them.
    @_spi(Testing) public func redirectWritesForTesting(to device: String) throws(StoreError) {
        let writer = self.writer
        try queue.sync {
            Result { () throws(StoreError) in
                let fd = try FileIO.open(device, O_WRONLY)
                defer { Glibc.close(fd) }
                guard dup2(fd, writer.fd) >= 0 else { throw .io(path: device, operation: "dup2", errno: errno) }
                writer.redirectedTo = device
            }
        }.get()
    }

    /// Ends `redirectWritesForTesting(to:)` for new files, as freeing space on a full disk would:
    /// the descriptor keeps pointing at the device until a recovery replaces the file.
    @_spi(Testing) public func endRedirectForTesting() {
        let writer = self.writer
        queue.sync { writer.redirectedTo = nil }
    }
}
