import Glibc

/// Where a rewrite's producer writes the records of the new file. Buffered: records reach
/// the disk in large writes. Noncopyable so it cannot outlive the rewrite that owns it.
public struct RecordSink: ~Copyable {
    static let flushThreshold = 1 << 20

    let fd: Int32
    let path: String
    private var buffer: [UInt8]
    /// Bytes written to the file so far.
    private(set) var written: Int64 = 0
    /// Records appended so far.
    public private(set) var recordCount = 0

    init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
        buffer = RecordFormat.fileHeader
        buffer.reserveCapacity(Self.flushThreshold + 4096)
    }

    /// Adds one record to the new file.
    public mutating func append(_ payload: [UInt8]) throws(StoreError) {
        if let problem = RecordFormat.sizeProblem(payload.count) {
            throw .invalidRecord(path: path, size: payload.count, reason: problem)
        }
        RecordFormat.append(payload, to: &buffer)
        recordCount += 1
        if buffer.count >= Self.flushThreshold { try flush() }
    }

    mutating func flush() throws(StoreError) {
        try buffer.withUnsafeBufferPointer { (bytes) throws(StoreError) in
            try FileIO.writeAll(fd, UnsafeRawBufferPointer(bytes), path: path)
        }
        written += Int64(buffer.count)
        buffer.removeAll(keepingCapacity: true)
    }
}

extension AppendLog {
    /// Compacts the log: replaces it with a header plus `snapshot`.
    ///
    /// Runs on the writer queue in submission order, so appends submitted before this call are
    /// replaced by the snapshot and appends submitted after it land in the new file. The
    /// snapshot must therefore reflect exactly the state as of this call.
    public func rewrite(snapshot: [[UInt8]], completion: @escaping Completion) {
        rewrite(producer: { (sink) throws(StoreError) in
            for record in snapshot { try sink.append(record) }
        }, completion: completion)
    }

    /// Compacts the log with records produced on the writer queue, so a large snapshot never
    /// has to exist as one array. `producer` should read from a copy of the state taken when
    /// this is called (a `KVState` copy is cheap: copy-on-write).
    ///
    /// Crash safety: the new file is written to `<path>.rewrite` and fsynced, renamed over
    /// `<path>`, and the directory fsynced. Before the rename the old file is untouched; a
    /// leftover `.rewrite` is deleted when the log is next opened. If the rewrite fails before
    /// the rename, the log carries on with the old file.
    public func rewrite(
        producer: @escaping @Sendable (inout RecordSink) throws(StoreError) -> Void,
        completion: @escaping Completion
    ) {
        submitRewrite(producer, completion: completion)
    }
}

extension LogWriter {
    func rewrite(_ producer: (inout RecordSink) throws(StoreError) -> Void) -> Result<Void, StoreError> {
        if let failure { return .failure(.unavailable(path: path, cause: failure)) }
        return replaceFile(producer)
    }

    /// A rewrite despite an earlier failure, which it ends if it succeeds: the new file does
    /// not depend on anything the failed writes left behind.
    func recover(_ producer: (inout RecordSink) throws(StoreError) -> Void) -> Result<Void, StoreError> {
        let result = replaceFile(producer)
        if case .success = result { failure = nil }
        return result
    }

    private func replaceFile(_ producer: (inout RecordSink) throws(StoreError) -> Void) -> Result<Void, StoreError> {
        guard fd >= 0 else { return .failure(.closed(path: path)) }
        let temporary = rewritePath
        let newFD: Int32
        var sink: RecordSink
        do {
            if let device = redirectedTo {
                newFD = try FileIO.open(device, O_WRONLY)
            } else {
                newFD = try FileIO.open(temporary, O_RDWR | O_CREAT | O_TRUNC | O_APPEND)
            }
            sink = RecordSink(fd: newFD, path: temporary)
        } catch {
            return .failure(error)
        }
        do {
            try producer(&sink)
            try sink.flush()
            try FileIO.dataSync(newFD, path: temporary)
            stats.fsyncCount.add(1, ordering: .relaxed)
            if hooks.crashBeforeRename {
                // Die as a crashed process would: the synced temporary stays behind.
                Glibc.close(newFD)
                Glibc.close(fd)
                fd = -1
                failure = .closed(path: path)
                return .failure(.closed(path: path))
            }
            try FileIO.rename(temporary, to: path)
        } catch {
            Glibc.close(newFD)
            try? FileIO.removeIfPresent(temporary)
            return .failure(error)
        }
        Glibc.close(fd)
        fd = newFD
        dirty = false
        stats.fileSize.store(sink.written, ordering: .relaxed)
        do {
            try FileIO.syncDirectory(of: path)
        } catch {
            // The rename may not survive a crash; refuse writes rather than acknowledge records
            // that could end up behind the old file.
            failure = error
            return .failure(error)
        }
        return .success(())
    }
}
