import Glibc
import Synchronization

/// Counters read from any thread while the writer updates them.
final class LogStats: Sendable {
    let fileSize = Atomic<Int64>(0)
    let fsyncCount = Atomic<Int>(0)
}

/// The descriptor and everything else the writer queue owns.
///
/// `@unchecked Sendable` because confinement, not a lock, protects it: every member is touched
/// only from `AppendLog.queue` (and from `deinit`, when nothing else can reach it).
final class LogWriter: @unchecked Sendable {
    let path: String
    let policy: FsyncPolicy
    let hooks: AppendLog.TestHooks
    let stats: LogStats
    var fd: Int32 = -1
    /// The first write or fsync error; once set, nothing more is written.
    var failure: StoreError?
    /// Data written since the last fsync.
    var dirty = false
    /// An `everysec` fsync is already scheduled.
    var syncScheduled = false
    /// The previous batch buffer, handed back to the intake to avoid reallocating.
    var spare: [UInt8] = []
    /// Tests: the device new files are written to instead (see `redirectWritesForTesting`).
    var redirectedTo: String?

    var rewritePath: String { path + ".rewrite" }

    init(path: String, policy: FsyncPolicy, hooks: AppendLog.TestHooks, stats: LogStats) {
        self.path = path
        self.policy = policy
        self.hooks = hooks
        self.stats = stats
    }

    deinit {
        if fd >= 0 { Glibc.close(fd) }
    }

    /// Opens or creates the log. A leftover `.rewrite` is an unfinished compaction from a crash:
    /// the log itself is still complete, so the leftover is simply removed.
    func open() throws(StoreError) {
        fd = try FileIO.open(path, O_RDWR | O_CREAT | O_APPEND)
        try FileIO.removeIfPresent(rewritePath)
        var size = try FileIO.size(fd, path: path)
        if size == 0 {
            let header = RecordFormat.fileHeader
            try header.withUnsafeBufferPointer { (bytes) throws(StoreError) in
                try FileIO.writeAll(fd, UnsafeRawBufferPointer(bytes), path: path)
            }
            try syncNow()
            // The file may be new: its directory entry must be durable too.
            try FileIO.syncDirectory(of: path)
            size = Int64(header.count)
        } else {
            try verifyHeader(size: size)
        }
        stats.fileSize.store(size, ordering: .relaxed)
    }

    private func verifyHeader(size: Int64) throws(StoreError) {
        guard size >= RecordFormat.fileHeaderSize else {
            throw .badHeader(path: path, reason: "only \(size) bytes, shorter than the header; replay with repair first")
        }
        var header = [UInt8](repeating: 0, count: RecordFormat.fileHeaderSize)
        let count = try header.withUnsafeMutableBufferPointer { (bytes) throws(StoreError) in
            try FileIO.read(fd, into: UnsafeMutableRawBufferPointer(bytes), at: 0, path: path)
        }
        guard count == header.count, header == RecordFormat.fileHeader else {
            throw .badHeader(path: path, reason: "bad magic or unsupported version")
        }
    }

    /// Writes one batch of framed records and applies the fsync policy to it.
    func commit(_ bytes: UnsafeRawBufferPointer) -> Result<Void, StoreError> {
        if let failure { return .failure(.unavailable(path: path, cause: failure)) }
        guard fd >= 0 else { return .failure(.closed(path: path)) }
        let before = stats.fileSize.load(ordering: .relaxed)
        do {
            try FileIO.writeAll(fd, bytes, path: path)
            stats.fileSize.store(before + Int64(bytes.count), ordering: .relaxed)
            dirty = true
            if policy == .always { try syncNow() }
            return .success(())
        } catch {
            fail(error, truncatingTo: before)
            return .failure(error)
        }
    }

    /// fsync if anything is unsynced.
    func sync() -> Result<Void, StoreError> {
        if let failure { return .failure(.unavailable(path: path, cause: failure)) }
        guard fd >= 0 else { return .failure(.closed(path: path)) }
        guard dirty else { return .success(()) }
        do {
            try syncNow()
            return .success(())
        } catch {
            // After a failed fsync the kernel may have dropped the dirty pages: nothing since
            // the last good fsync can be trusted, so stop rather than carry on.
            fail(error, truncatingTo: nil)
            return .failure(error)
        }
    }

    /// Syncs what is left and releases the descriptor.
    func close() -> Result<Void, StoreError> {
        guard fd >= 0 else { return .failure(.closed(path: path)) }
        let result = sync()
        Glibc.close(fd)
        fd = -1
        return result
    }

    func syncNow() throws(StoreError) {
        try FileIO.dataSync(fd, path: path)
        stats.fsyncCount.add(1, ordering: .relaxed)
        dirty = false
    }

    /// Enters the failed state. Cutting a partial batch off keeps the file ending on a record
    /// boundary; if even that fails, replay treats the remains as a torn tail.
    func fail(_ error: StoreError, truncatingTo length: Int64?) {
        failure = error
        if let length, ftruncate(fd, off_t(length)) == 0 {
            stats.fileSize.store(length, ordering: .relaxed)
        }
    }
}
