/// Big-endian field writer for `KVMutation` encoding.
struct BinaryWriter {
    var bytes: [UInt8] = []

    mutating func write(_ value: UInt8) {
        bytes.append(value)
    }

    mutating func write(_ value: UInt32) {
        RecordFormat.appendBigEndian(value, to: &bytes)
    }

    mutating func write(_ value: Int64) {
        let bits = UInt64(bitPattern: value)
        write(UInt32(truncatingIfNeeded: bits &>> 32))
        write(UInt32(truncatingIfNeeded: bits))
    }

    /// u32 length, then the bytes.
    mutating func write(lengthPrefixed value: [UInt8]) {
        write(UInt32(value.count))
        bytes.append(contentsOf: value)
    }

    mutating func write(_ value: String) {
        write(lengthPrefixed: Array(value.utf8))
    }

    /// A presence byte, then the value if present.
    mutating func write(_ value: Int64?) {
        guard let value else { return write(UInt8(0)) }
        write(UInt8(1))
        write(value)
    }
}

/// Reader matching `BinaryWriter`; every failure names the byte offset where it happened.
struct BinaryReader {
    let bytes: UnsafeRawBufferPointer
    private(set) var offset = 0

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    private mutating func take(_ count: Int, for what: String) throws(StoreError) -> UnsafeRawBufferPointer {
        guard count <= bytes.count - offset else {
            throw .malformedMutation(offset: offset, reason: "\(what) needs \(count) bytes, \(bytes.count - offset) left")
        }
        defer { offset += count }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)])
    }

    mutating func readByte(_ what: String) throws(StoreError) -> UInt8 {
        try take(1, for: what)[0]
    }

    mutating func readUInt32(_ what: String) throws(StoreError) -> UInt32 {
        UInt32(bigEndian: try take(4, for: what).loadUnaligned(as: UInt32.self))
    }

    mutating func readInt64(_ what: String) throws(StoreError) -> Int64 {
        Int64(bitPattern: UInt64(bigEndian: try take(8, for: what).loadUnaligned(as: UInt64.self)))
    }

    mutating func readBytes(_ what: String) throws(StoreError) -> [UInt8] {
        let count = Int(try readUInt32("\(what) length"))
        return Array(try take(count, for: what))
    }

    mutating func readString(_ what: String) throws(StoreError) -> String {
        let start = offset
        let count = Int(try readUInt32("\(what) length"))
        guard let string = String(validating: try take(count, for: what), as: UTF8.self) else {
            throw .malformedMutation(offset: start, reason: "\(what) is not valid UTF-8")
        }
        return string
    }

    mutating func readOptionalInt64(_ what: String) throws(StoreError) -> Int64? {
        let start = offset
        switch try readByte("\(what) flag") {
        case 0: return nil
        case 1: return try readInt64(what)
        case let flag: throw .malformedMutation(offset: start, reason: "\(what) flag is \(flag), expected 0 or 1")
        }
    }

    func expectEnd() throws(StoreError) {
        guard offset == bytes.count else {
            throw .malformedMutation(offset: offset, reason: "\(bytes.count - offset) trailing bytes")
        }
    }
}
