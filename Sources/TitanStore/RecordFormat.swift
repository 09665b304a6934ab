/// On-disk framing of the append-only file.
///
/// ```
/// file   := "TITANAOF" u32be(version) record*
/// record := u32be(payload length) u32be(crc32c(payload)) payload
/// ```
/// Lengths are never zero: an all-zero header is how preallocated or torn space reads back,
/// so forbidding empty payloads lets replay tell zero fill from data.
public enum RecordFormat {
    /// First eight bytes of every log file.
    public static let magic: [UInt8] = Array("TITANAOF".utf8)
    /// The only format version this code writes and reads.
    public static let version: UInt32 = 1
    /// Magic plus version.
    public static let fileHeaderSize = 12
    /// Length plus checksum.
    public static let recordHeaderSize = 8
    /// Upper bound on a payload; a larger length field is garbage, not a record.
    public static let maxPayloadSize = 64 << 20

    /// The 12-byte file header.
    public static let fileHeader: [UInt8] = magic + withUnsafeBytes(of: version.bigEndian) { Array($0) }

    /// The result of looking at the bytes where a record should start.
    public enum Decoded: Equatable, Sendable {
        /// An intact record whose payload is `bytes[8 ..< 8 + payloadLength]`.
        case record(payloadLength: Int)
        /// Fewer bytes than the header or the announced payload; `needed` is the full record size
        /// when the header is readable, else the header size.
        case incomplete(needed: Int)
        /// The length field is zero or above `maxPayloadSize`.
        case invalidLength(UInt32)
        /// The payload does not match its checksum.
        case checksumMismatch(stored: UInt32, computed: UInt32)
    }

    /// Decodes the record at the start of `bytes` without copying.
    @inline(__always)
    public static func decode(_ bytes: UnsafeRawBufferPointer) -> Decoded {
        guard bytes.count >= recordHeaderSize else { return .incomplete(needed: recordHeaderSize) }
        let length = UInt32(bigEndian: bytes.loadUnaligned(as: UInt32.self))
        guard length != 0, length <= maxPayloadSize else { return .invalidLength(length) }
        let total = recordHeaderSize + Int(length)
        guard bytes.count >= total else { return .incomplete(needed: total) }
        let stored = UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        let computed = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[recordHeaderSize..<total]))
        guard stored == computed else { return .checksumMismatch(stored: stored, computed: computed) }
        return .record(payloadLength: Int(length))
    }

    /// Appends the framed form of `payload` to `buffer`. The caller has checked the size.
    public static func append(_ payload: [UInt8], to buffer: inout [UInt8]) {
        append(payload, checksum: CRC32C.checksum(payload), to: &buffer)
    }

    /// Returns the framed form of `payload`.
    public static func encode(_ payload: [UInt8]) -> [UInt8] {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(recordHeaderSize + payload.count)
        append(payload, to: &buffer)
        return buffer
    }

    /// Why `size` bytes cannot be a payload, or nil if they can.
    static func sizeProblem(_ size: Int) -> String? {
        if size == 0 { return "empty payloads are not allowed" }
        if size > maxPayloadSize { return "larger than the \(maxPayloadSize)-byte limit" }
        return nil
    }

    /// Framing with a precomputed checksum, so callers can checksum outside a lock.
    static func append(_ payload: [UInt8], checksum: UInt32, to buffer: inout [UInt8]) {
        appendBigEndian(UInt32(payload.count), to: &buffer)
        appendBigEndian(checksum, to: &buffer)
        buffer.append(contentsOf: payload)
    }

    @inline(__always)
    static func appendBigEndian(_ value: UInt32, to buffer: inout [UInt8]) {
        buffer.append(UInt8(truncatingIfNeeded: value &>> 24))
        buffer.append(UInt8(truncatingIfNeeded: value &>> 16))
        buffer.append(UInt8(truncatingIfNeeded: value &>> 8))
        buffer.append(UInt8(truncatingIfNeeded: value))
    }
}
