import TitanLoop
import TitanProtocol
import TitanStore

/// The KV store: reads answered from memory, writes journaled (the reply waits for the record,
/// like every acknowledgement). Expired keys read as missing at once and are purged from memory
/// every few seconds; a replayed key that expired meanwhile is simply missing.
extension SchedulerActor {
    static let maxKeyBytes = 1_024

    func handleKV(_ op: KVOperation, peer: any Peer, requestId rid: UInt32) {
        let key = op.key
        if key.isEmpty || key.utf8.count > Self.maxKeyBytes || key.utf8.contains(0) {
            return reply(to: peer, rid, .error(.invalidRequest, "field 'key': a key is 1 to \(Self.maxKeyBytes) bytes without NUL"))
        }
        if op.isWrite, let refusal = journalRefusal {
            return reply(to: peer, rid, .error(.unavailable, refusal))
        }
        let now = wallClockMs()
        do {
            let result: KVResult
            switch op {
            case .get:
                result = .value(try kv.get(key, nowMs: now))
            case .set(_, let value, let ttlMs):
                let ttl = ttlMs > 0 ? Int64(clamping: ttlMs) : nil
                kv.set(key, value: value, ttlMs: ttl, nowMs: now)
                journal(.kv(KVMutation.set(key: key, value: value, expiresAtMs: ttl.map { now &+ $0 }).encoded()))
                if ttl != nil { armKVPurge() }
                result = .integer(1)
                gateStatusWritten(key)
            case .del:
                let existed = kv.del(key, nowMs: now)
                if existed { journal(.kv(KVMutation.del(key: key).encoded())) }
                result = .integer(existed ? 1 : 0)
            case .sadd(_, let member):
                let added = try kv.sadd(key, member: member, nowMs: now)
                if added == 1 { journal(.kv(KVMutation.sadd(key: key, member: member).encoded())) }
                result = .integer(Int64(added))
            case .srem(_, let member):
                let removed = try kv.srem(key, member: member, nowMs: now)
                if removed { journal(.kv(KVMutation.srem(key: key, member: member).encoded())) }
                result = .integer(removed ? 1 : 0)
            case .smembers:
                result = .members(try kv.smembers(key, nowMs: now))
            case .incr(_, let by):
                let (value, mutation) = try kv.incr(key, by: by, nowMs: now)
                journal(.kv(mutation.encoded()))
                result = .integer(value)
            }
            reply(to: peer, rid, .kvResult(result))
        } catch {
            reply(to: peer, rid, .error(.invalidRequest, error.description))
        }
    }

    /// Purges expired keys from memory every 5 s while any key has an expiry.
    func armKVPurge() {
        guard kvPurgeTimer == nil else { return }
        let timer = LoopTimer(loop: eventLoop)
        kvPurgeTimer = timer
        timer.assumeIsolated { t in
            t.start(afterMs: 5_000, repeatMs: 5_000) { [weak self] in
                self?.assumeIsolated { s in
                    _ = s.kv.purgeExpired(nowMs: s.wallClockMs())
                    if s.kv.nextExpiryMs == nil {
                        s.kvPurgeTimer?.assumeIsolated { $0.close() }
                        s.kvPurgeTimer = nil
                    }
                }
            }
        }
    }
}
