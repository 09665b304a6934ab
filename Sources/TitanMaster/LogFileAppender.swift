import Glibc
import TitanProtocol

/// Appends a job's output to its log file (see ``LogFormat``), with time marks and index
/// entries. Used by the LogStore's writer task only.
///
/// A failed write is cut back off the file, so the log stays a sequence of whole records (the
/// next append does not land after half a record).
final class LogFileAppender {
    let path: String
    private let fd: Int32
    private var indexFd: Int32 = -1
    private var size: UInt64
    private var indexSize: UInt64 = 0
    private var newlines: UInt64 = 0
    private var outputBytes: UInt64 = 0
    private var lastMarkMs: Int64?
    private var sinceEntry = 0

    /// Opens (or creates) the log at `path`. A log this process did not start (the master
    /// restarted, or the file was closed) is checked first: a torn last record is cut off and its
    /// counts are taken from the index onwards; a log older than indexes gets one from here on.
    init(path: String) throws(LogStoreError) {
        self.path = path
        guard let fd = try LogFileIO.open(path, O_WRONLY | O_CREAT | O_APPEND) else {
            throw LogStoreError(path: path, problem: "cannot open")
        }
        self.fd = fd
        do throws(LogStoreError) {
            size = try LogFileIO.size(fd, path: path)
            if size > 0 {
                guard let reader = try LogFileReader(path: path) else { throw LogStoreError(path: path, problem: "vanished") }
                let totals = try reader.totals()
                if totals.end < size {
                    try LogFileIO.truncate(fd, to: totals.end, path: path)
                    size = totals.end
                }
                newlines = totals.newlines
                outputBytes = totals.outputBytes
                lastMarkMs = totals.lastMarkMs
            }
        } catch {
            Glibc.close(fd)
            throw error
        }
        openIndex()
    }

    deinit {
        Glibc.close(fd)
        if indexFd >= 0 { Glibc.close(indexFd) }
    }

    /// The index is an aid: when it cannot be written the log is still complete (readers then
    /// read from the last entry, or from the start).
    private func openIndex() {
        let indexPath = LogFormat.indexPath(path)
        guard let ifd = try? LogFileIO.open(indexPath, O_RDWR | O_CREAT | O_APPEND) else { return }
        indexFd = ifd
        guard var bytes = try? LogFileIO.size(ifd, path: indexPath) else { return dropIndex() }
        let magic = UInt64(LogFormat.indexMagic.count)
        if size == 0 || bytes < magic
            || (try? LogFileIO.read(ifd, count: Int(magic), at: 0, path: indexPath)) != LogFormat.indexMagic {
            // New (an empty log has no entries), or not an index this master writes: start it afresh.
            guard (try? LogFileIO.truncate(ifd, to: 0, path: indexPath)) != nil,
                  (try? LogFileIO.writeAll(ifd, LogFormat.indexMagic, path: indexPath)) != nil else { return dropIndex() }
            bytes = magic
        }
        // A torn last entry (a crash mid-write) is cut off.
        let whole = magic + (bytes - magic) / UInt64(LogFormat.indexEntrySize) * UInt64(LogFormat.indexEntrySize)
        if whole != bytes, (try? LogFileIO.truncate(ifd, to: whole, path: indexPath)) == nil { return dropIndex() }
        indexSize = whole
    }

    private func dropIndex() {
        if indexFd >= 0 { Glibc.close(indexFd) }
        indexFd = -1
        unlink(LogFormat.indexPath(path))
    }

    /// Appends `bytes` (a time mark first when the last is a second old, split into records of
    /// at most 1 MiB).
    func append(_ stream: OutputChannel, _ bytes: [UInt8], nowMs: Int64) throws(LogStoreError) {
        guard !bytes.isEmpty else { return }
        // Cursors hold a record offset in 40 bits.
        guard size < LogFormat.maxFileBytes else {
            throw LogStoreError(path: path, problem: "the log reached \(LogFormat.maxFileBytes) bytes; later output is not saved")
        }
        let saved = (newlines, outputBytes, lastMarkMs, sinceEntry)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + 32)
        var entries: [UInt8] = []
        var from = 0
        while from < bytes.count {
            let piece = bytes[from..<min(bytes.count, from + LogFormat.maxWrittenPayload)]
            from = piece.endIndex
            let at = size + UInt64(out.count)
            if let last = lastMarkMs, nowMs - last < LogFormat.markEveryMs {
                if sinceEntry >= LogFormat.indexEveryBytes {
                    entries += LogCheckpoint(offset: at, markMs: last, newlines: newlines, outputBytes: outputBytes).encoded
                    sinceEntry = 0
                }
            } else {
                // Never earlier than the last mark: entries stay ordered by time if the clock steps back.
                let ms = max(nowMs, lastMarkMs ?? nowMs)
                entries += LogCheckpoint(offset: at, markMs: ms, newlines: newlines, outputBytes: outputBytes).encoded
                out += LogFormat.mark(ms)
                lastMarkMs = ms
                sinceEntry = 0
            }
            out += LogFormat.header(stream.rawValue, piece.count)
            out += piece
            newlines += LogFormat.newlines(in: piece)
            outputBytes += UInt64(piece.count)
            sinceEntry += LogFormat.headerSize + piece.count
        }
        do {
            try LogFileIO.writeAll(fd, out, path: path)
        } catch {
            (newlines, outputBytes, lastMarkMs, sinceEntry) = saved
            try? LogFileIO.truncate(fd, to: size, path: path)
            throw error
        }
        size += UInt64(out.count)
        guard indexFd >= 0, !entries.isEmpty else { return }
        do {
            try LogFileIO.writeAll(indexFd, entries, path: LogFormat.indexPath(path))
            indexSize += UInt64(entries.count)
        } catch {
            // A half-written entry would shift every later one: cut it, or give the index up.
            if (try? LogFileIO.truncate(indexFd, to: indexSize, path: path)) == nil { dropIndex() }
        }
    }
}
