import Glibc

/// The explicit repair of an append-only file damaged in the middle (a flipped bit, a zeroed
/// block, bytes lost or inserted), which replay refuses to guess about.
///
/// Every intact record is kept. At a damaged one the scan resynchronises on the next offset
/// where an intact record starts (`RecordResync`) and drops the bytes in between; a record whose
/// checksum matches but that `validate` refuses is dropped whole. The original file is first
/// copied to `<path>.damaged-<UTC time>` and kept; the repaired file is written beside it and
/// renamed over it (temporary file, fsync, rename, directory fsync), so a crash mid-repair leaves
/// either the old file or the new one.
public enum AOFRepair {
    /// Judges an intact payload: nil keeps it, a reason drops it (e.g. a record the master
    /// cannot decode, or one that refers to a record already dropped).
    public typealias Validator = (UnsafeRawBufferPointer) -> String?

    /// Repairs `path` in place and reports exactly what was dropped. A file with nothing to drop
    /// is left untouched (no copy is made). Throws `.badHeader` when the file is not a log (the
    /// header is not guessed at either) and `.io` naming the path on a system error; nothing has
    /// replaced the original then.
    ///
    /// Call it with the data directory locked (`DataDirectoryLock`) and the log closed.
    public static func repair(path: String, validate: Validator = { _ in nil }) throws(StoreError) -> RepairReport {
        let fd: Int32
        do {
            fd = try FileIO.open(path, O_RDONLY)
        } catch {
            if case .io(_, _, ENOENT) = error { return RepairReport(path: path, fileExisted: false) }
            throw error
        }
        defer { close(fd) }
        let size = Int(try FileIO.size(fd, path: path))
        guard size > 0 else { return RepairReport(path: path, fileExisted: true) }
        guard let mapped = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), mapped != MAP_FAILED else {
            throw .io(path: path, operation: "mmap", errno: errno)
        }
        defer { munmap(mapped, size) }
        let file = UnsafeRawBufferPointer(start: mapped, count: size)

        let plan = try scan(file, path: path, validate: validate)
        var report = RepairReport(path: path, fileExisted: true, fileSize: Int64(size),
                                  repairedSize: Int64(size), keptRecords: plan.keptRecords, dropped: plan.dropped)
        guard report.changed else { return report }
        report.damagedCopy = try saveCopy(of: file, path: path)
        report.repairedSize = try writeRepaired(plan.kept, from: file, path: path)
        return report
    }

    struct Plan {
        /// Byte ranges of kept records, adjacent ones merged.
        var kept: [Range<Int>] = []
        var keptRecords = 0
        var dropped: [DroppedRange] = []
    }

    static func scan(_ file: UnsafeRawBufferPointer, path: String, validate: Validator) throws(StoreError) -> Plan {
        var plan = Plan()
        let headerSize = RecordFormat.fileHeaderSize
        if file.count < headerSize {
            // As in replay: a prefix of the header (or zeros) is a crash while creating the file.
            let prefix = file.elementsEqual(RecordFormat.fileHeader.prefix(file.count)) || !file.contains { $0 != 0 }
            guard prefix else { throw .badHeader(path: path, reason: "bad magic (expected \"TITANAOF\")") }
            plan.dropped = [DroppedRange(offset: 0, length: Int64(file.count), reason: .damaged(.incompleteFileHeader))]
            return plan
        }
        guard file.prefix(8).elementsEqual(RecordFormat.magic) else {
            throw .badHeader(path: path, reason: "bad magic (expected \"TITANAOF\"); not repairing a file that may not be a Titan log")
        }
        let version = UInt32(bigEndian: file.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
        guard version == RecordFormat.version else {
            throw .badHeader(path: path, reason: "unsupported format version \(version) (this build reads \(RecordFormat.version))")
        }
        var resync = RecordResync(file: file, path: path)
        var position = headerSize
        while position < file.count {
            let rest = UnsafeRawBufferPointer(rebasing: file[position...])
            let damage: TornTail.Reason
            switch RecordFormat.decode(rest) {
            case .record(let length):
                let end = position + RecordFormat.recordHeaderSize + length
                let payload = UnsafeRawBufferPointer(rebasing: file[(position + RecordFormat.recordHeaderSize)..<end])
                if let refusal = validate(payload) {
                    plan.dropped.append(DroppedRange(offset: Int64(position), length: Int64(end - position), reason: .rejected(refusal)))
                } else {
                    if let last = plan.kept.last, last.upperBound == position {
                        plan.kept[plan.kept.count - 1] = last.lowerBound..<end
                    } else {
                        plan.kept.append(position..<end)
                    }
                    plan.keptRecords += 1
                }
                position = end
                continue
            case .incomplete:
                damage = rest.count < RecordFormat.recordHeaderSize ? .incompleteRecordHeader : .incompletePayload
            case .invalidLength(let length):
                damage = .invalidLength(length)
            case .checksumMismatch:
                damage = .checksumMismatch
            }
            let next = try resync.resume(after: position, recordIndex: plan.keptRecords) ?? file.count
            let zeroFilled = !file[position..<next].contains { $0 != 0 }
            plan.dropped.append(DroppedRange(offset: Int64(position), length: Int64(next - position),
                                             reason: .damaged(zeroFilled ? .zeroFilled : damage)))
            position = next
        }
        return plan
    }

    /// Copies the damaged file to `<path>.damaged-<UTC time>` (a new name: never overwrites an
    /// earlier copy) and makes the copy durable. Returns its path.
    static func saveCopy(of file: UnsafeRawBufferPointer, path: String) throws(StoreError) -> String {
        let base = path + ".damaged-" + UTCTimestamp.now(compact: true)
        var candidate = base
        var attempt = 1
        var fd: Int32 = -1
        while fd < 0 {
            do {
                fd = try FileIO.open(candidate, O_WRONLY | O_CREAT | O_EXCL, mode: 0o600)
            } catch {
                guard case .io(_, _, EEXIST) = error, attempt < 100 else { throw error }
                attempt += 1
                candidate = base + "-\(attempt)"
            }
        }
        defer { close(fd) }
        try FileIO.writeAll(fd, file, path: candidate)
        try FileIO.dataSync(fd, path: candidate)
        try FileIO.syncDirectory(of: candidate)
        return candidate
    }

    /// Writes the header and the kept ranges to `<path>.rewrite` (which `AppendLog` removes if a
    /// crash leaves it behind), syncs it, renames it over `path`. Returns the new size.
    static func writeRepaired(_ kept: [Range<Int>], from file: UnsafeRawBufferPointer, path: String) throws(StoreError) -> Int64 {
        let temporary = path + ".rewrite"
        let fd = try FileIO.open(temporary, O_WRONLY | O_CREAT | O_TRUNC)
        var size = 0
        do {
            try RecordFormat.fileHeader.withUnsafeBufferPointer { (header) throws(StoreError) in
                try FileIO.writeAll(fd, UnsafeRawBufferPointer(header), path: temporary)
            }
            size += RecordFormat.fileHeaderSize
            for range in kept {
                try FileIO.writeAll(fd, UnsafeRawBufferPointer(rebasing: file[range]), path: temporary)
                size += range.count
            }
            try FileIO.dataSync(fd, path: temporary)
        } catch {
            close(fd)
            try? FileIO.removeIfPresent(temporary)
            throw error
        }
        close(fd)
        do {
            try FileIO.rename(temporary, to: path)
        } catch {
            try? FileIO.removeIfPresent(temporary)
            throw error
        }
        try FileIO.syncDirectory(of: path)
        return Int64(size)
    }
}
