/// Big-endian binary primitives for native payloads.
///
/// Encoding rules (all integers big-endian):
/// - `u8/u16/u32/u64`, `i32/i64` (two's complement): fixed width.
/// - bool: one byte, 0 or 1.
/// - bytes: u32 length, then the raw bytes.
/// - string: as bytes, holding UTF-8.
/// - optional: u8 0 (absent) or 1 (present) then the value.
/// - array: u32 count, then the elements.
/// - string dictionary: u32 count, then key/value string pairs. Writers sort them by key (Swift
///   `String` order) so equal dictionaries encode identically; readers accept any order but reject
///   a repeated key.

/// Writes primitives into a byte buffer it owns. To write into an existing buffer without copying,
/// swap it in and out (`swap(&writer.bytes, &buffer)`), as `NativeCodec.encode(_:into:)` does.
public struct BinaryWriter: Sendable {
    public var bytes: [UInt8]

    public init(capacity: Int = 0) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// Number of bytes written so far (including any that were in the initial buffer).
    public var count: Int { bytes.count }

    /// Makes room for `additional` more bytes (growing geometrically, so calling it before every
    /// message appended to a long-lived buffer stays amortised O(1)).
    public mutating func reserveCapacity(additional: Int) {
        reserveForAppend(&bytes, additional)
    }

    public mutating func writeU8(_ value: UInt8) {
        bytes.append(value)
    }

    public mutating func writeU16(_ value: UInt16) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func writeU32(_ value: UInt32) {
        bytes.append(UInt8(truncatingIfNeeded: value >> 24))
        bytes.append(UInt8(truncatingIfNeeded: value >> 16))
        bytes.append(UInt8(truncatingIfNeeded: value >> 8))
        bytes.append(UInt8(truncatingIfNeeded: value))
    }

    public mutating func writeU64(_ value: UInt64) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func writeI32(_ value: Int32) {
        writeU32(UInt32(bitPattern: value))
    }

    public mutating func writeI64(_ value: Int64) {
        writeU64(UInt64(bitPattern: value))
    }

    public mutating func writeBool(_ value: Bool) {
        bytes.append(value ? 1 : 0)
    }

    /// u32 count, used for lengths and element counts.
    /// - Precondition: `count` fits in a `UInt32`.
    public mutating func writeCount(_ count: Int) {
        precondition(count >= 0 && count <= Int(UInt32.max), "count does not fit in u32")
        writeU32(UInt32(truncatingIfNeeded: count))
    }

    /// u32 length then the raw bytes.
    public mutating func writeBytes(_ value: [UInt8]) {
        writeCount(value.count)
        bytes.append(contentsOf: value)
    }

    /// u32 length then the UTF-8 bytes.
    public mutating func writeString(_ value: String) {
        let utf8 = value.utf8
        writeCount(utf8.count)
        bytes.append(contentsOf: utf8)
    }

    /// u8 0, or u8 1 followed by the value written by `body`.
    public mutating func writeOptional<T>(_ value: T?, _ body: (inout BinaryWriter, T) -> Void) {
        if let value {
            bytes.append(1)
            body(&self, value)
        } else {
            bytes.append(0)
        }
    }

    public mutating func writeOptionalI32(_ value: Int32?) {
        writeOptional(value) { $0.writeI32($1) }
    }

    public mutating func writeOptionalString(_ value: String?) {
        writeOptional(value) { $0.writeString($1) }
    }

    /// u32 count then each element written by `body`.
    public mutating func writeArray<T>(_ values: [T], _ body: (inout BinaryWriter, T) -> Void) {
        writeCount(values.count)
        for value in values {
            body(&self, value)
        }
    }

    public mutating func writeStringArray(_ values: [String]) {
        writeCount(values.count)
        for value in values {
            writeString(value)
        }
    }

    /// u32 count then key/value pairs sorted by key, so equal dictionaries encode identically.
    public mutating func writeStringDictionary(_ values: [String: String]) {
        writeCount(values.count)
        if values.count <= 1 {
            for (key, value) in values {
                writeString(key)
                writeString(value)
            }
            return
        }
        for (key, value) in values.sorted(by: { $0.key < $1.key }) {
            writeString(key)
            writeString(value)
        }
    }

    /// Overwrites four bytes at `offset` with `value`, big-endian (for lengths known only at the end).
    public mutating func patchU32(_ value: UInt32, at offset: Int) {
        precondition(offset >= 0 && offset + 4 <= bytes.count, "patch out of range")
        bytes.withUnsafeMutableBytes { $0.storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt32.self) }
    }

    /// Writes a frame header with a placeholder length; returns its offset for `endFrame(headerAt:)`.
    public mutating func beginFrame(version: UInt8, opcode: UInt8, flags: UInt8 = 0) -> Int {
        let start = bytes.count
        Frame.appendHeader(version: version, opcode: opcode, flags: flags, payloadLength: 0, to: &bytes)
        return start
    }

    /// Patches the length of the frame whose header starts at `start`: everything written since.
    public mutating func endFrame(headerAt start: Int) {
        let length = bytes.count - start - TitanProto.headerSize
        precondition(length >= 0 && length <= Int(UInt32.max), "frame payload too large to encode")
        patchU32(UInt32(truncatingIfNeeded: length), at: start + 4)
    }
}

/// Reads primitives from a range of a byte array without copying it. Every read names the field it
/// reads (evaluated only on failure), so a bad payload is reported as
/// `malformed(opcode:reason: "field 'command[2]': truncated ...")`.
public struct BinaryReader: Sendable {
    public let bytes: [UInt8]
    /// Next byte to read.
    public private(set) var index: Int
    public let endIndex: Int
    /// The opcode of the message being read, for error reports.
    public let opcode: UInt8

    public init(_ bytes: [UInt8], opcode: UInt8) {
        self.bytes = bytes
        self.index = 0
        self.endIndex = bytes.count
        self.opcode = opcode
    }

    public init(_ bytes: [UInt8], range: Range<Int>, opcode: UInt8) {
        precondition(range.lowerBound >= 0 && range.upperBound <= bytes.count, "range out of bounds")
        self.bytes = bytes
        self.index = range.lowerBound
        self.endIndex = range.upperBound
        self.opcode = opcode
    }

    /// Bytes left to read.
    public var remaining: Int { endIndex - index }
    public var isAtEnd: Bool { index == endIndex }

    /// A `malformed` error for this reader's opcode.
    public func malformed(_ reason: String) -> ProtocolError {
        .malformed(opcode: opcode, reason: reason)
    }

    /// A `malformed` error naming `field`.
    public func malformed(field: String, _ problem: String) -> ProtocolError {
        .malformed(opcode: opcode, reason: "field '\(field)': \(problem)")
    }

    /// Throws unless every byte has been read.
    public func expectEnd() throws(ProtocolError) {
        if index != endIndex {
            throw malformed("trailing bytes: \(remaining) after the last field")
        }
    }

    private mutating func take(_ size: Int, _ field: () -> String) throws(ProtocolError) -> Int {
        guard endIndex - index >= size else {
            throw malformed(field: field(), "truncated (needs \(size) bytes, \(endIndex - index) left)")
        }
        let start = index
        index += size
        return start
    }

    private func load<T: FixedWidthInteger>(_ type: T.Type, at offset: Int) -> T {
        bytes.withUnsafeBytes { T(bigEndian: $0.loadUnaligned(fromByteOffset: offset, as: T.self)) }
    }

    public mutating func readU8(_ field: @autoclosure () -> String) throws(ProtocolError) -> UInt8 {
        bytes[try take(1, field)]
    }

    public mutating func readU16(_ field: @autoclosure () -> String) throws(ProtocolError) -> UInt16 {
        load(UInt16.self, at: try take(2, field))
    }

    public mutating func readU32(_ field: @autoclosure () -> String) throws(ProtocolError) -> UInt32 {
        load(UInt32.self, at: try take(4, field))
    }

    public mutating func readU64(_ field: @autoclosure () -> String) throws(ProtocolError) -> UInt64 {
        load(UInt64.self, at: try take(8, field))
    }

    public mutating func readI32(_ field: @autoclosure () -> String) throws(ProtocolError) -> Int32 {
        Int32(bitPattern: try readU32(field()))
    }

    public mutating func readI64(_ field: @autoclosure () -> String) throws(ProtocolError) -> Int64 {
        Int64(bitPattern: try readU64(field()))
    }

    public mutating func readBool(_ field: @autoclosure () -> String) throws(ProtocolError) -> Bool {
        switch try readU8(field()) {
        case 0: return false
        case 1: return true
        case let other: throw malformed(field: field(), "invalid bool \(other) (must be 0 or 1)")
        }
    }

    /// A u32 count (length or element count) that must not promise more than the bytes left, each
    /// item taking at least `minItemSize` bytes. Checked before anything is allocated.
    public mutating func readCount(_ field: @autoclosure () -> String, minItemSize: Int = 1) throws(ProtocolError) -> Int {
        let count = Int(try readU32(field()))
        let minItemSize = max(minItemSize, 1)
        guard count <= remaining / minItemSize else {
            throw malformed(field: field(), "truncated (count \(count) needs at least \(count * minItemSize) bytes, \(remaining) left)")
        }
        return count
    }

    /// u32 length then that many raw bytes.
    public mutating func readBytes(_ field: @autoclosure () -> String) throws(ProtocolError) -> [UInt8] {
        let length = try readCount(field())
        let start = index
        index += length
        return Array(bytes[start ..< index])
    }

    /// u32 length then that many bytes of valid UTF-8.
    public mutating func readString(_ field: @autoclosure () -> String) throws(ProtocolError) -> String {
        let length = try readCount(field())
        if length == 0 { return "" }
        let start = index
        let decoded = bytes.withUnsafeBufferPointer { buffer in
            let utf8 = UnsafeBufferPointer(rebasing: buffer[start ..< start + length])
            // `String(validating:)` is not specialised in the standard library (it looks up generic
            // metadata on every call); ASCII, the common case, needs no validation at all.
            return isASCII(utf8) ? String(decoding: utf8, as: UTF8.self) : String(validating: utf8, as: UTF8.self)
        }
        guard let decoded else { throw malformed(field: field(), "invalid UTF-8") }
        index += length
        return decoded
    }

    /// u8 presence tag (0 or 1) then, when present, the value read by `body`.
    public mutating func readOptional<T>(_ field: @autoclosure () -> String,
                                         _ body: (inout BinaryReader) throws(ProtocolError) -> T) throws(ProtocolError) -> T? {
        switch try readU8(field()) {
        case 0: return nil
        case 1: return try body(&self)
        case let other: throw malformed(field: field(), "invalid optional tag \(other) (must be 0 or 1)")
        }
    }

    public mutating func readOptionalI32(_ field: @autoclosure () -> String) throws(ProtocolError) -> Int32? {
        try readOptional(field()) { (r: inout BinaryReader) throws(ProtocolError) in try r.readI32(field()) }
    }

    public mutating func readOptionalString(_ field: @autoclosure () -> String) throws(ProtocolError) -> String? {
        try readOptional(field()) { (r: inout BinaryReader) throws(ProtocolError) in try r.readString(field()) }
    }

    /// u32 count then the elements read by `body(reader, index)`. Each element must take at least
    /// `minElementSize` bytes; the count is checked against the bytes left before allocating.
    public mutating func readArray<T>(_ field: @autoclosure () -> String, minElementSize: Int,
                                      _ body: (inout BinaryReader, Int) throws(ProtocolError) -> T) throws(ProtocolError) -> [T] {
        let count = try readCount(field(), minItemSize: minElementSize)
        var result: [T] = []
        result.reserveCapacity(count)
        for i in 0 ..< count {
            result.append(try body(&self, i))
        }
        return result
    }

    public mutating func readStringArray(_ field: @autoclosure () -> String) throws(ProtocolError) -> [String] {
        try readArray(field(), minElementSize: 4) { (r: inout BinaryReader, i: Int) throws(ProtocolError) in
            try r.readString("\(field())[\(i)]")
        }
    }

    /// u32 count then key/value string pairs. A repeated key is malformed.
    public mutating func readStringDictionary(_ field: @autoclosure () -> String) throws(ProtocolError) -> [String: String] {
        let count = try readCount(field(), minItemSize: 8)
        var result: [String: String] = [:]
        result.reserveCapacity(count)
        for _ in 0 ..< count {
            let key = try readString("\(field()) key")
            let value = try readString("\(field())[\(key)]")
            guard result.updateValue(value, forKey: key) == nil else {
                throw malformed(field: field(), "duplicate key '\(key)'")
            }
        }
        return result
    }

    public mutating func readJobState(_ field: @autoclosure () -> String) throws(ProtocolError) -> JobState {
        let raw = try readU8(field())
        guard let state = JobState(rawValue: raw) else {
            throw malformed(field: field(), "unknown job state \(raw)")
        }
        return state
    }

    public mutating func readOutputStream(_ field: @autoclosure () -> String) throws(ProtocolError) -> OutputChannel {
        let raw = try readU8(field())
        guard let stream = OutputChannel(rawValue: raw) else {
            throw malformed(field: field(), "unknown output stream \(raw)")
        }
        return stream
    }

    public mutating func readErrorCode(_ field: @autoclosure () -> String) throws(ProtocolError) -> ErrorCode {
        let raw = try readU16(field())
        guard let code = ErrorCode(rawValue: raw) else {
            throw malformed(field: field(), "unknown error code \(raw)")
        }
        return code
    }
}

/// True when every byte is below 0x80 (checked eight bytes at a time).
private func isASCII(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
    guard let base = bytes.baseAddress else { return true }
    let raw = UnsafeRawPointer(base)
    let count = bytes.count
    var i = 0
    while i + 8 <= count {
        if raw.loadUnaligned(fromByteOffset: i, as: UInt64.self) & 0x8080_8080_8080_8080 != 0 { return false }
        i += 8
    }
    while i < count {
        if base[i] & 0x80 != 0 { return false }
        i += 1
    }
    return true
}
