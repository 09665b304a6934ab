/// The KV store jobs and agents share: string keys, byte values (UTF-8 or binary), sets of
/// strings, counters, optional expiry. Every write is journaled before it is acknowledged.
public enum KVOperation: Sendable, Equatable {
    /// Replied with `.value` (nil when missing).
    case get(key: String)
    /// `ttlMs` 0: no expiry. Replied with `.integer(1)`.
    case set(key: String, value: [UInt8], ttlMs: UInt64)
    /// Replied with `.integer(1)` if it existed, else 0.
    case del(key: String)
    /// Replied with `.integer(1)` if newly added, 0 if already there.
    case sadd(key: String, member: String)
    /// Replied with `.integer(1)` if removed, 0 if absent.
    case srem(key: String, member: String)
    /// Replied with `.members`, sorted.
    case smembers(key: String)
    /// The value as a decimal integer plus `by` (a missing key counts as 0); replied with the
    /// new value.
    case incr(key: String, by: Int64)

    /// True for operations that change nothing.
    public var isRead: Bool {
        switch self {
        case .get, .smembers: true
        case .set, .del, .sadd, .srem, .incr: false
        }
    }

    public var key: String {
        switch self {
        case .get(let key), .set(let key, _, _), .del(let key), .sadd(let key, _), .srem(let key, _),
             .smembers(let key), .incr(let key, _):
            key
        }
    }

    public var isWrite: Bool {
        switch self {
        case .get, .smembers: false
        default: true
        }
    }

    enum Tag: UInt8 {
        case get = 1, set, del, sadd, srem, smembers, incr
    }
}

/// The answer to a `KVOperation`.
public enum KVResult: Sendable, Equatable {
    case value([UInt8]?)
    case integer(Int64)
    case members([String])

    enum Tag: UInt8 {
        case value = 1, integer, members
    }
}

extension BinaryWriter {
    public mutating func write(_ op: KVOperation) {
        switch op {
        case .get(let key):
            writeU8(KVOperation.Tag.get.rawValue)
            writeString(key)
        case .set(let key, let value, let ttlMs):
            writeU8(KVOperation.Tag.set.rawValue)
            writeString(key)
            writeBytes(value)
            writeU64(ttlMs)
        case .del(let key):
            writeU8(KVOperation.Tag.del.rawValue)
            writeString(key)
        case .sadd(let key, let member):
            writeU8(KVOperation.Tag.sadd.rawValue)
            writeString(key)
            writeString(member)
        case .srem(let key, let member):
            writeU8(KVOperation.Tag.srem.rawValue)
            writeString(key)
            writeString(member)
        case .smembers(let key):
            writeU8(KVOperation.Tag.smembers.rawValue)
            writeString(key)
        case .incr(let key, let by):
            writeU8(KVOperation.Tag.incr.rawValue)
            writeString(key)
            writeI64(by)
        }
    }

    public mutating func write(_ result: KVResult) {
        switch result {
        case .value(let bytes):
            writeU8(KVResult.Tag.value.rawValue)
            writeOptional(bytes) { $0.writeBytes($1) }
        case .integer(let n):
            writeU8(KVResult.Tag.integer.rawValue)
            writeI64(n)
        case .members(let members):
            writeU8(KVResult.Tag.members.rawValue)
            writeStringArray(members)
        }
    }
}

extension BinaryReader {
    public mutating func readKVOperation() throws(ProtocolError) -> KVOperation {
        let raw = try readU8("op")
        guard let tag = KVOperation.Tag(rawValue: raw) else { throw malformed(field: "op", "unknown KV operation \(raw)") }
        let key = try readString("key")
        switch tag {
        case .get: return .get(key: key)
        case .set:
            let value = try readBytes("value")
            return .set(key: key, value: value, ttlMs: try readU64("ttlMs"))
        case .del: return .del(key: key)
        case .sadd: return .sadd(key: key, member: try readString("member"))
        case .srem: return .srem(key: key, member: try readString("member"))
        case .smembers: return .smembers(key: key)
        case .incr: return .incr(key: key, by: try readI64("by"))
        }
    }

    public mutating func readKVResult() throws(ProtocolError) -> KVResult {
        let raw = try readU8("kind")
        guard let tag = KVResult.Tag(rawValue: raw) else { throw malformed(field: "kind", "unknown KV result \(raw)") }
        switch tag {
        case .value:
            return .value(try readOptional("value") { (r: inout BinaryReader) throws(ProtocolError) in try r.readBytes("value") })
        case .integer:
            return .integer(try readI64("integer"))
        case .members:
            return .members(try readStringArray("members"))
        }
    }
}
