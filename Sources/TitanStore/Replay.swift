import Glibc

/// Reads an append-only file back, record by record, in file order.
public enum AOFReader {
    /// Read granularity; large so a million small records cost a few dozen syscalls.
    static let chunkSize = 4 << 20

    /// Replays `path`, handing each payload to `body` as a fresh array.
    ///
    /// - A missing file is empty state (`fileExisted == false`).
    /// - A torn tail (incomplete header or payload, checksum mismatch or zero fill, with no intact
    ///   record after it) is reported in `ReplayReport.tornTail`; with `repair` the file is
    ///   truncated to the last intact record and fsynced.
    /// - Damage followed by intact records throws `StoreError.corrupt` and leaves the file as it
    ///   was. Records before the damage have already been handed to `body` by then.
    /// - A wrong magic or version throws `StoreError.badHeader`.
    public static func replay(
        path: String,
        repair: Bool = false,
        body: ([UInt8]) throws(StoreError) -> Void
    ) throws(StoreError) -> ReplayReport {
        try replayUnsafe(path: path, repair: repair) { (payload) throws(StoreError) in try body(Array(payload)) }
    }

    /// Like `replay(path:repair:body:)`, but hands `body` a view into the read buffer, valid only
    /// for the duration of the call, so replay allocates nothing per record.
    public static func replayUnsafe(
        path: String,
        repair: Bool = false,
        body: (UnsafeRawBufferPointer) throws(StoreError) -> Void
    ) throws(StoreError) -> ReplayReport {
        let fd: Int32
        do {
            fd = try FileIO.open(path, O_RDONLY)
        } catch {
            if case .io(_, _, ENOENT) = error { return ReplayReport(path: path, fileExisted: false) }
            throw error
        }
        defer { close(fd) }
        let size = try FileIO.size(fd, path: path)
        var report = ReplayReport(path: path, fileExisted: true, fileSize: size)
        guard size > 0 else { return report }

        var capacity = max(chunkSize, RecordFormat.fileHeaderSize)
        var buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 16)
        defer { buffer.deallocate() }

        // File header. A prefix of it (or zeros) is a crash during creation, not a foreign file.
        let headerCount = try FileIO.read(
            fd, into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<RecordFormat.fileHeaderSize]), at: 0, path: path)
        let header = UnsafeRawBufferPointer(rebasing: buffer[0..<headerCount])
        if headerCount < RecordFormat.fileHeaderSize {
            guard header.elementsEqual(RecordFormat.fileHeader.prefix(headerCount)) || !header.contains(where: { $0 != 0 }) else {
                throw .badHeader(path: path, reason: "bad magic (expected \"TITANAOF\")")
            }
            report.tornTail = TornTail(offset: 0, bytesDropped: size, reason: .incompleteFileHeader)
            return try finish(report, repair: repair)
        }
        guard header.prefix(8).elementsEqual(RecordFormat.magic) else {
            throw .badHeader(path: path, reason: "bad magic (expected \"TITANAOF\")")
        }
        let version = UInt32(bigEndian: header.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
        guard version == RecordFormat.version else {
            throw .badHeader(path: path, reason: "unsupported format version \(version) (this build reads \(RecordFormat.version))")
        }

        var start = 0, end = 0  // unconsumed bytes are buffer[start..<end]
        var offset = Int64(RecordFormat.fileHeaderSize)  // file offset of buffer[start]
        var readOffset = offset  // file offset of buffer[end]
        var index = 0
        var damage: TornTail.Reason?
        scan: while true {
            let view = UnsafeRawBufferPointer(rebasing: buffer[start..<end])
            switch RecordFormat.decode(view) {
            case .record(let length):
                let total = RecordFormat.recordHeaderSize + length
                try body(UnsafeRawBufferPointer(rebasing: view[RecordFormat.recordHeaderSize..<total]))
                start += total
                offset += Int64(total)
                index += 1
            case .incomplete(let needed):
                if readOffset >= size {
                    if view.isEmpty { break scan }
                    damage = view.count < RecordFormat.recordHeaderSize ? .incompleteRecordHeader : .incompletePayload
                    break scan
                }
                // A record the file is too short to hold is torn whatever follows: do not grow the
                // buffer to its length (up to 64 MiB for a few bytes of tail) or read the rest.
                if Int64(needed) > size - offset {
                    damage = view.count < RecordFormat.recordHeaderSize ? .incompleteRecordHeader : .incompletePayload
                    break scan
                }
                // Keep the partial record, make room for all of it, and read the next chunk.
                if needed > capacity {
                    let grown = UnsafeMutableRawBufferPointer.allocate(byteCount: needed, alignment: 16)
                    grown.baseAddress!.copyMemory(from: view.baseAddress!, byteCount: view.count)
                    buffer.deallocate()
                    buffer = grown
                    capacity = needed
                } else if start > 0, !view.isEmpty {
                    buffer.baseAddress!.copyMemory(from: view.baseAddress!, byteCount: view.count)
                }
                end -= start
                start = 0
                let room = Int(min(Int64(capacity - end), size - readOffset))
                let count = try FileIO.read(
                    fd, into: UnsafeMutableRawBufferPointer(rebasing: buffer[end..<(end + room)]), at: readOffset, path: path)
                guard count > 0 else { throw .io(path: path, operation: "read (file shrank during replay)", errno: EIO) }
                end += count
                readOffset += Int64(count)
            case .invalidLength(let length):
                damage = .invalidLength(length)
                break scan
            case .checksumMismatch:
                damage = .checksumMismatch
                break scan
            }
        }

        report.recordCount = index
        report.validLength = offset
        guard let damage else { return report }
        switch try TailScanner.classify(fd: fd, path: path, from: offset, to: size) {
        case .torn(let zeroFilled):
            report.tornTail = TornTail(offset: offset, bytesDropped: size - offset, reason: zeroFilled ? .zeroFilled : damage)
            return try finish(report, repair: repair)
        case .intactRecord(let next):
            throw .corrupt(path: path, offset: offset, recordIndex: index, reason: "\(damage), but an intact record follows at offset \(next)")
        case .undecided:
            throw .corrupt(path: path, offset: offset, recordIndex: index, reason: "\(damage), and the rest of the file could not be verified as a torn tail")
        }
    }

    /// Truncates a torn tail away when asked; fsync makes the truncation survive a crash so the
    /// next append cannot land behind garbage.
    private static func finish(_ report: ReplayReport, repair: Bool) throws(StoreError) -> ReplayReport {
        guard repair else { return report }
        let fd = try FileIO.open(report.path, O_WRONLY)
        defer { close(fd) }
        try FileIO.truncate(fd, to: report.validLength, path: report.path)
        try FileIO.sync(fd, path: report.path)
        var repaired = report
        repaired.repaired = true
        return repaired
    }
}
