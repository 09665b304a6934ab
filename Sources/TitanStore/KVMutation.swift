/// A change to `KVState` in a form that can be journaled and replayed.
///
/// Every case is idempotent in effect and carries absolute times, so replaying a journal gives
/// the same state whenever it happens. INCR is journaled as the `set` it resulted in (see
/// `KVState.incr`), which keeps replay free of arithmetic and of integer-parsing failures.
public enum KVMutation: Sendable, Equatable, Hashable {
    /// Store a string value; `expiresAtMs` nil means no TTL (and clears an existing one).
    case set(key: String, value: [UInt8], expiresAtMs: Int64?)
    /// Remove a key of any type.
    case del(key: String)
    /// Add a member to a set, creating it.
    case sadd(key: String, member: String)
    /// Remove a member from a set; an emptied set is deleted.
    case srem(key: String, member: String)
    /// Set (or, with nil, clear) the absolute expiry of an existing key.
    case expire(key: String, atMs: Int64?)

    private enum Tag: UInt8 {
        case set = 1, del, sadd, srem, expire
    }

    /// Applies `mutation` to `state` as replay does: nothing expires while applying.
    public static func apply(_ mutation: KVMutation, to state: inout KVState) throws(StoreError) {
        try state.apply(mutation)
    }

    /// The binary form: a tag byte, then fields (strings and bytes as u32 big-endian length plus
    /// contents, optional times as a presence byte plus i64 big-endian).
    public func encoded() -> [UInt8] {
        var writer = BinaryWriter()
        switch self {
        case let .set(key, value, expiresAtMs):
            writer.write(Tag.set.rawValue)
            writer.write(key)
            writer.write(lengthPrefixed: value)
            writer.write(expiresAtMs)
        case let .del(key):
            writer.write(Tag.del.rawValue)
            writer.write(key)
        case let .sadd(key, member):
            writer.write(Tag.sadd.rawValue)
            writer.write(key)
            writer.write(member)
        case let .srem(key, member):
            writer.write(Tag.srem.rawValue)
            writer.write(key)
            writer.write(member)
        case let .expire(key, atMs):
            writer.write(Tag.expire.rawValue)
            writer.write(key)
            writer.write(atMs)
        }
        return writer.bytes
    }

    /// Decodes `encoded()` output; throws `.malformedMutation` for anything else, including
    /// trailing bytes and keys that are not UTF-8.
    public init(decoding bytes: UnsafeRawBufferPointer) throws(StoreError) {
        var reader = BinaryReader(bytes)
        let rawTag = try reader.readByte("tag")
        guard let tag = Tag(rawValue: rawTag) else {
            throw .malformedMutation(offset: 0, reason: "unknown tag \(rawTag)")
        }
        switch tag {
        case .set:
            self = .set(key: try reader.readString("key"), value: try reader.readBytes("value"),
                        expiresAtMs: try reader.readOptionalInt64("expiry"))
        case .del:
            self = .del(key: try reader.readString("key"))
        case .sadd:
            self = .sadd(key: try reader.readString("key"), member: try reader.readString("member"))
        case .srem:
            self = .srem(key: try reader.readString("key"), member: try reader.readString("member"))
        case .expire:
            self = .expire(key: try reader.readString("key"), atMs: try reader.readOptionalInt64("expiry"))
        }
        try reader.expectEnd()
    }

    /// Decodes a payload array.
    public init(decoding bytes: [UInt8]) throws(StoreError) {
        self = try bytes.withUnsafeBufferPointer { (buffer) throws(StoreError) in
            try KVMutation(decoding: UnsafeRawBufferPointer(buffer))
        }
    }
}
