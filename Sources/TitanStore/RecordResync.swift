/// Finds where intact records resume after a damaged one, for `AOFRepair`.
///
/// A candidate is an offset whose header announces a sane length that fits in the file and
/// whose payload matches its checksum. One that is *confirmed* is preferred: what follows it is
/// an intact record too, the end of the file, or a torn tail. A random match is about 1 in 2^32
/// per offset; two in a row are what a real record boundary looks like.
struct RecordResync: ~Copyable {
    let file: UnsafeRawBufferPointer
    let path: String
    /// Payload bytes still allowed to be checksummed (pathological files only reach it).
    private var budget: Int

    static let checksumBudget = 4 << 30

    init(file: UnsafeRawBufferPointer, path: String, budget: Int = RecordResync.checksumBudget) {
        self.file = file
        self.path = path
        self.budget = budget
    }

    /// The first offset after the damaged record at `damaged` where an intact record starts, or
    /// nil if none does (the rest is a torn tail). `recordIndex` counts the intact records before
    /// `damaged`, for the error thrown when the checksum budget runs out.
    ///
    /// The first confirmed candidate wins; but an intact record wholly before it (its successor
    /// damaged too, so it is not confirmed) is kept rather than lost.
    mutating func resume(after damaged: Int, recordIndex: Int) throws(StoreError) -> Int? {
        var confirmed: Int?
        var q = damaged + 1
        while q + RecordFormat.recordHeaderSize <= file.count {
            if let total = plausibleRecord(at: q), mayConfirm(end: q + total),
               try intact(at: q, recordIndex: recordIndex), try confirms(end: q + total, recordIndex: recordIndex) {
                confirmed = q
                break
            }
            q += 1
        }
        let limit = confirmed ?? file.count
        q = damaged + 1
        while q + RecordFormat.recordHeaderSize <= limit {
            if let total = plausibleRecord(at: q), q + total <= limit, try intact(at: q, recordIndex: recordIndex) { return q }
            q += 1
        }
        return confirmed
    }

    /// The record size announced at `offset`, if the length is sane and the record fits.
    func plausibleRecord(at offset: Int) -> Int? {
        guard file.count - offset >= RecordFormat.recordHeaderSize else { return nil }
        let length = Int(lengthField(at: offset))
        guard length != 0, length <= RecordFormat.maxPayloadSize,
              length <= file.count - offset - RecordFormat.recordHeaderSize else { return nil }
        return RecordFormat.recordHeaderSize + length
    }

    private func lengthField(at offset: Int) -> UInt32 {
        UInt32(bigEndian: file.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    /// Whether the record at `offset` (plausible) matches its checksum.
    private mutating func intact(at offset: Int, recordIndex: Int) throws(StoreError) -> Bool {
        guard let total = plausibleRecord(at: offset) else { return false }
        budget -= total
        guard budget >= 0 else {
            throw .corrupt(path: path, offset: Int64(offset), recordIndex: recordIndex,
                           reason: "too damaged to find where intact records resume (checksum budget exhausted)")
        }
        let stored = UInt32(bigEndian: file.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self))
        let payload = UnsafeRawBufferPointer(rebasing: file[(offset + RecordFormat.recordHeaderSize)..<(offset + total)])
        return CRC32C.checksum(payload) == stored
    }

    /// A cheap necessary condition for `confirms(end:)`, checked before any checksum.
    private func mayConfirm(end: Int) -> Bool {
        if file.count - end < RecordFormat.recordHeaderSize { return true }
        let length = lengthField(at: end)
        return length == 0 || length <= RecordFormat.maxPayloadSize
    }

    /// What follows a record ending at `end` vouches for it: the end of the file, an intact
    /// record, or a torn tail (an incomplete last record, or zeros to the end).
    private mutating func confirms(end: Int, recordIndex: Int) throws(StoreError) -> Bool {
        let rest = file.count - end
        if rest < RecordFormat.recordHeaderSize { return true }
        let length = Int(lengthField(at: end))
        if length == 0 { return !file[end...].contains { $0 != 0 } }
        if length > rest - RecordFormat.recordHeaderSize { return true }
        return try intact(at: end, recordIndex: recordIndex)
    }
}
