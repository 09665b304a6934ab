import Glibc

/// Decides whether a damaged record starts a torn tail or sits in the middle of the log.
///
/// The rule is the same for every kind of damage: the region from the damaged record to EOF
/// is a torn tail only if no intact record (valid length, matching CRC) starts anywhere after
/// it. A bit flip in a length field can make a middle record look like it runs past EOF, so
/// trusting the length alone could truncate good data; resynchronising on checksums cannot.
enum TailScanner {
    enum Verdict: Equatable {
        case torn(zeroFilled: Bool)
        case intactRecord(at: Int64)
        /// Too much checksum work to decide; callers treat this as corruption.
        case undecided
    }

    static let window = 1 << 20
    /// Bytes of candidate payloads to checksum before giving up (pathological inputs only).
    static let checksumBudget = 1 << 30

    static func classify(fd: Int32, path: String, from start: Int64, to end: Int64) throws(StoreError) -> Verdict {
        let header = RecordFormat.recordHeaderSize
        // Overlap windows by a header so headers straddling a boundary are still seen.
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: window + header, alignment: 16)
        defer { buffer.deallocate() }
        var budget = checksumBudget
        var zeroFilled = true
        var windowStart = start
        while windowStart < end {
            let wanted = Int(min(Int64(window + header - 1), end - windowStart))
            let count = try FileIO.read(fd, into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<wanted]), at: windowStart, path: path)
            let bytes = UnsafeRawBufferPointer(rebasing: buffer[0..<count])
            let own = min(window, count)
            if zeroFilled, bytes[0..<own].contains(where: { $0 != 0 }) { zeroFilled = false }
            var i = windowStart == start ? 1 : 0
            while i < own, i + header <= count {
                defer { i += 1 }
                let length = Int(UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt32.self)))
                let position = windowStart + Int64(i)
                guard length != 0, length <= RecordFormat.maxPayloadSize,
                      position + Int64(header + length) <= end else { continue }
                budget -= length
                guard budget >= 0 else { return .undecided }
                let stored = UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: i + 4, as: UInt32.self))
                let computed: UInt32
                if i + header + length <= count {
                    computed = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[(i + header)..<(i + header + length)]))
                } else {
                    computed = try checksum(fd: fd, path: path, at: position + Int64(header), length: length)
                }
                if stored == computed { return .intactRecord(at: position) }
            }
            windowStart += Int64(window)
        }
        return .torn(zeroFilled: zeroFilled)
    }

    private static func checksum(fd: Int32, path: String, at offset: Int64, length: Int) throws(StoreError) -> UInt32 {
        let payload = UnsafeMutableRawBufferPointer.allocate(byteCount: length, alignment: 16)
        defer { payload.deallocate() }
        let count = try FileIO.read(fd, into: payload, at: offset, path: path)
        return CRC32C.checksum(UnsafeRawBufferPointer(rebasing: payload[0..<count]))
    }
}
