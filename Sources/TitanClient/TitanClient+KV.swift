import TitanProtocol

/// The KV store shared by jobs and agents. Writes return once the master has recorded them.
extension TitanClient {
    private func kv(_ op: KVOperation) async throws -> KVResult {
        let reply = try await request(.kv(op))
        guard case .kvResult(let result) = reply else {
            throw TitanClientError.unexpectedReply(expected: "kvResult", got: reply.name)
        }
        return result
    }

    private func integer(_ op: KVOperation) async throws -> Int64 {
        guard case .integer(let n) = try await kv(op) else {
            throw TitanClientError.unexpectedReply(expected: "an integer", got: "another KV result")
        }
        return n
    }

    /// The value, or nil when the key is missing (or expired).
    public func kvGet(_ key: String) async throws -> [UInt8]? {
        guard case .value(let value) = try await kv(.get(key: key)) else {
            throw TitanClientError.unexpectedReply(expected: "a value", got: "another KV result")
        }
        return value
    }

    /// Sets a value; with `ttlMs`, it expires that long from now.
    public func kvSet(_ key: String, _ value: [UInt8], ttlMs: UInt64 = 0) async throws {
        _ = try await integer(.set(key: key, value: value, ttlMs: ttlMs))
    }

    /// Removes a key; true if it existed.
    @discardableResult
    public func kvDel(_ key: String) async throws -> Bool {
        try await integer(.del(key: key)) == 1
    }

    /// Adds to a set; true if the member is new.
    @discardableResult
    public func kvSadd(_ key: String, _ member: String) async throws -> Bool {
        try await integer(.sadd(key: key, member: member)) == 1
    }

    /// Removes from a set; true if the member was there.
    @discardableResult
    public func kvSrem(_ key: String, _ member: String) async throws -> Bool {
        try await integer(.srem(key: key, member: member)) == 1
    }

    /// A set's members, sorted (empty when missing).
    public func kvSmembers(_ key: String) async throws -> [String] {
        guard case .members(let members) = try await kv(.smembers(key: key)) else {
            throw TitanClientError.unexpectedReply(expected: "members", got: "another KV result")
        }
        return members
    }

    /// Adds `by` to a counter (missing counts as 0) and returns the new value.
    @discardableResult
    public func kvIncr(_ key: String, by: Int64 = 1) async throws -> Int64 {
        try await integer(.incr(key: key, by: by))
    }
}
