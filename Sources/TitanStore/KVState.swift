/// The master's key-value state for jobs and agents: string and set values with optional TTL.
///
/// A plain value: no I/O, no clock. Every call that can observe expiry takes `nowMs`, so
/// tests control time and the owner decides which clock counts. Expiry is absolute
/// (`expiresAtMs`), which makes journaled mutations replay to the same state at any time.
///
/// Expired keys read as missing. They are dropped lazily, when a write touches the key or
/// `purgeExpired(nowMs:)` runs. For an exact journal the owner calls `purgeExpired(nowMs:)`
/// before applying writes (cheap when `nowMs < nextExpiryMs`) and journals a `.del` for each
/// key it returns, as Redis propagates expirations; replay itself never expires anything.
public struct KVState: Sendable, Equatable {
    enum Value: Sendable, Equatable {
        case string([UInt8])
        case set(Set<String>)
    }

    struct Entry: Sendable, Equatable {
        var value: Value
        var expiresAtMs: Int64?
    }

    private var entries: [String: Entry] = [:]
    /// Expiry of every key that has one, so expiry work scales with TTL keys, not all keys.
    private var expiring: [String: Int64] = [:]
    /// No key expires before this (it may be stale-early after a delete, never late).
    private var expiryLowerBound: Int64?

    public init() {}

    public static func == (lhs: KVState, rhs: KVState) -> Bool {
        lhs.entries == rhs.entries
    }

    /// Keys held, counting expired ones not yet purged.
    public var count: Int { entries.count }

    // MARK: Strings

    /// The value of `key`, or nil if it is missing or expired. Throws `.wrongType` for a set.
    public func get(_ key: String, nowMs: Int64) throws(StoreError) -> [UInt8]? {
        guard let entry = live(key, nowMs: nowMs) else { return nil }
        guard case .string(let bytes) = entry.value else { throw .wrongType(key: key, expected: "string") }
        return bytes
    }

    /// Stores `value` under `key`, replacing any value and TTL; with `ttlMs` the key expires at
    /// `nowMs + ttlMs`.
    public mutating func set(_ key: String, value: [UInt8], ttlMs: Int64? = nil, nowMs: Int64) {
        store(key, .string(value), expiresAtMs: ttlMs.map { Self.deadline(nowMs, plus: $0) })
    }

    /// Adds `delta` to the decimal integer in `key` (missing counts as 0), keeping its TTL.
    /// Returns the new value and the `.set` mutation to journal for it.
    public mutating func incr(_ key: String, by delta: Int64 = 1, nowMs: Int64) throws(StoreError) -> (value: Int64, mutation: KVMutation) {
        purgeIfExpired(key, nowMs: nowMs)
        let entry = entries[key]
        var current: Int64 = 0
        switch entry?.value {
        case nil:
            break
        case .string(let bytes)?:
            guard let text = String(validating: bytes, as: UTF8.self), let parsed = Int64(text) else {
                throw .notAnInteger(key: key)
            }
            current = parsed
        case .set?:
            throw .wrongType(key: key, expected: "string")
        }
        let (result, overflow) = current.addingReportingOverflow(delta)
        guard !overflow else { throw .integerOverflow(key: key) }
        let bytes = Array(String(result).utf8)
        store(key, .string(bytes), expiresAtMs: entry?.expiresAtMs)
        return (result, .set(key: key, value: bytes, expiresAtMs: entry?.expiresAtMs))
    }

    // MARK: Any type

    /// Removes `key`; returns whether a live key existed.
    @discardableResult
    public mutating func del(_ key: String, nowMs: Int64) -> Bool {
        let existed = live(key, nowMs: nowMs) != nil
        remove(key)
        return existed
    }

    /// Sets the key's TTL to `ttlMs` from now, or clears it with nil. Returns false (and does
    /// nothing) if the key is missing or expired.
    @discardableResult
    public mutating func expire(_ key: String, ttlMs: Int64?, nowMs: Int64) -> Bool {
        purgeIfExpired(key, nowMs: nowMs)
        guard entries[key] != nil else { return false }
        setExpiry(key, ttlMs.map { Self.deadline(nowMs, plus: $0) })
        return true
    }

    /// The absolute expiry of a live key, nil if it has none or is missing.
    public func expiresAtMs(of key: String, nowMs: Int64) -> Int64? {
        live(key, nowMs: nowMs)?.expiresAtMs
    }

    // MARK: Sets

    /// Adds `member` to the set at `key`, creating it; returns 1 if it was new, 0 if present.
    @discardableResult
    public mutating func sadd(_ key: String, member: String, nowMs: Int64) throws(StoreError) -> Int {
        purgeIfExpired(key, nowMs: nowMs)
        return try modifySet(key, create: true) { $0.insert(member).inserted } == true ? 1 : 0
    }

    /// Removes `member` from the set at `key`; returns whether it was there. An emptied set is
    /// deleted.
    @discardableResult
    public mutating func srem(_ key: String, member: String, nowMs: Int64) throws(StoreError) -> Bool {
        purgeIfExpired(key, nowMs: nowMs)
        return try modifySet(key, create: false) { $0.remove(member) != nil } ?? false
    }

    /// The members of the set at `key`, sorted so output is deterministic; empty if missing.
    public func smembers(_ key: String, nowMs: Int64) throws(StoreError) -> [String] {
        guard let entry = live(key, nowMs: nowMs) else { return [] }
        guard case .set(let members) = entry.value else { throw .wrongType(key: key, expected: "set") }
        return members.sorted()
    }

    // MARK: Expiry

    /// The earliest expiry of any key, for scheduling the next `purgeExpired`.
    public var nextExpiryMs: Int64? { expiring.values.min() }

    /// Drops every key expired at `nowMs` and returns them, sorted, so the owner can journal
    /// their deletion. O(1) until something is due.
    public mutating func purgeExpired(nowMs: Int64) -> [String] {
        guard let bound = expiryLowerBound, bound <= nowMs else { return [] }
        var removed: [String] = []
        var next: Int64?
        for (key, deadline) in expiring {
            if deadline <= nowMs {
                removed.append(key)
            } else {
                next = min(next ?? deadline, deadline)
            }
        }
        for key in removed {
            entries[key] = nil
            expiring[key] = nil
        }
        expiryLowerBound = next
        return removed.sorted()
    }

    // MARK: Journal

    /// Applies a journaled mutation. Nothing expires while applying: keys that had expired at
    /// the time were journaled as `.del`, so replay must not second-guess the journal.
    public mutating func apply(_ mutation: KVMutation) throws(StoreError) {
        switch mutation {
        case let .set(key, value, expiresAtMs):
            store(key, .string(value), expiresAtMs: expiresAtMs)
        case let .del(key):
            remove(key)
        case let .sadd(key, member):
            _ = try modifySet(key, create: true) { $0.insert(member) }
        case let .srem(key, member):
            _ = try modifySet(key, create: false) { $0.remove(member) }
        case let .expire(key, atMs):
            if entries[key] != nil { setExpiry(key, atMs) }
        }
    }

    /// Mutations that rebuild this state from empty, in key order (for compaction). Expired
    /// keys not yet purged are included, with their past expiry, so the rebuilt state is equal.
    public func snapshotMutations() -> [KVMutation] {
        var mutations: [KVMutation] = []
        mutations.reserveCapacity(entries.count)
        for key in entries.keys.sorted() {
            let entry = entries[key]!
            switch entry.value {
            case .string(let bytes):
                mutations.append(.set(key: key, value: bytes, expiresAtMs: entry.expiresAtMs))
            case .set(let members):
                for member in members.sorted() { mutations.append(.sadd(key: key, member: member)) }
                if let deadline = entry.expiresAtMs { mutations.append(.expire(key: key, atMs: deadline)) }
            }
        }
        return mutations
    }

    // MARK: Internals

    private func live(_ key: String, nowMs: Int64) -> Entry? {
        guard let entry = entries[key] else { return nil }
        if let deadline = entry.expiresAtMs, deadline <= nowMs { return nil }
        return entry
    }

    private mutating func purgeIfExpired(_ key: String, nowMs: Int64) {
        if let deadline = entries[key]?.expiresAtMs, deadline <= nowMs { remove(key) }
    }

    private mutating func store(_ key: String, _ value: Value, expiresAtMs: Int64?) {
        entries[key] = Entry(value: value, expiresAtMs: nil)
        setExpiry(key, expiresAtMs)
    }

    private mutating func remove(_ key: String) {
        entries[key] = nil
        expiring[key] = nil
    }

    private mutating func setExpiry(_ key: String, _ deadline: Int64?) {
        entries[key]?.expiresAtMs = deadline
        expiring[key] = deadline
        if let deadline { expiryLowerBound = min(expiryLowerBound ?? deadline, deadline) }
    }

    /// Runs `body` on the set at `key` in place. Returns nil if the key is missing and `create`
    /// is false; an emptied set is removed.
    private mutating func modifySet<R>(_ key: String, create: Bool, _ body: (inout Set<String>) -> R) throws(StoreError) -> R? {
        var entry: Entry
        if let existing = entries.removeValue(forKey: key) {
            entry = existing
        } else if create {
            entry = Entry(value: .set([]), expiresAtMs: nil)
        } else {
            return nil
        }
        guard case .set(var members) = entry.value else {
            entries[key] = entry
            throw .wrongType(key: key, expected: "set")
        }
        entry.value = .string([])  // release the entry's reference so `members` mutates in place
        let result = body(&members)
        if members.isEmpty {
            expiring[key] = nil
        } else {
            entry.value = .set(members)
            entries[key] = entry
        }
        return result
    }

    private static func deadline(_ nowMs: Int64, plus ttlMs: Int64) -> Int64 {
        let (sum, overflow) = nowMs.addingReportingOverflow(ttlMs)
        return overflow ? (ttlMs > 0 ? .max : .min) : sum
    }
}
