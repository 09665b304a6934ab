import Testing
@testable import TitanStore

@Suite struct KVStateTests {
    @Test func setGetDelete() throws {
        var state = KVState()
        #expect(try state.get("job:1", nowMs: 0) == nil)
        state.set("job:1", value: Array("queued".utf8), nowMs: 0)
        #expect(try state.get("job:1", nowMs: 0) == Array("queued".utf8))
        state.set("job:1", value: Array("running".utf8), nowMs: 0)
        #expect(try state.get("job:1", nowMs: 0) == Array("running".utf8))
        let deleted = state.del("job:1", nowMs: 0)
        let deletedAgain = state.del("job:1", nowMs: 0)
        #expect(deleted && !deletedAgain)
        #expect(try state.get("job:1", nowMs: 0) == nil)
    }

    @Test func binaryAndUnicodeSurviveIntact() throws {
        var state = KVState()
        let binary: [UInt8] = [0, 0xFF, 0xC3, 0x28, 0x00, 0x80]
        state.set("blob", value: binary, nowMs: 0)
        state.set("ключ-🚀", value: Array("värde ✓".utf8), nowMs: 0)
        #expect(try state.get("blob", nowMs: 0) == binary)
        #expect(try state.get("ключ-🚀", nowMs: 0) == Array("värde ✓".utf8))
        let decoded = try KVMutation(decoding: KVMutation.set(key: "ключ-🚀", value: binary, expiresAtMs: nil).encoded())
        #expect(decoded == .set(key: "ключ-🚀", value: binary, expiresAtMs: nil))
    }

    @Test func setOperations() throws {
        var state = KVState()
        #expect(try state.sadd("agents", member: "b", nowMs: 0) == 1)
        #expect(try state.sadd("agents", member: "a", nowMs: 0) == 1)
        #expect(try state.sadd("agents", member: "b", nowMs: 0) == 0)
        #expect(try state.smembers("agents", nowMs: 0) == ["a", "b"])
        #expect(try state.srem("agents", member: "a", nowMs: 0))
        #expect(try !state.srem("agents", member: "a", nowMs: 0))
        #expect(try !state.srem("nobody", member: "a", nowMs: 0))
        #expect(try state.srem("agents", member: "b", nowMs: 0))
        #expect(state.count == 0, "an emptied set is deleted")
        #expect(try state.smembers("agents", nowMs: 0).isEmpty)
    }

    @Test func incrCreatesParsesAndRejects() throws {
        var state = KVState()
        let (first, mutation) = try state.incr("seq", nowMs: 0)
        #expect(first == 1)
        #expect(mutation == .set(key: "seq", value: Array("1".utf8), expiresAtMs: nil))
        #expect(try state.incr("seq", by: -5, nowMs: 0).value == -4)
        #expect(try state.get("seq", nowMs: 0) == Array("-4".utf8))

        state.set("name", value: Array("titan".utf8), nowMs: 0)
        #expect(throws: StoreError.notAnInteger(key: "name")) { try state.incr("name", nowMs: 0) }
        state.set("big", value: Array(String(Int64.max).utf8), nowMs: 0)
        #expect(throws: StoreError.integerOverflow(key: "big")) { try state.incr("big", nowMs: 0) }
        _ = try state.sadd("set", member: "x", nowMs: 0)
        #expect(throws: StoreError.wrongType(key: "set", expected: "string")) { try state.incr("set", nowMs: 0) }
    }

    @Test func typeErrorsNameTheKey() throws {
        var state = KVState()
        state.set("str", value: [1], nowMs: 0)
        _ = try state.sadd("set", member: "m", nowMs: 0)
        let sadd = #expect(throws: StoreError.self) { try state.sadd("str", member: "m", nowMs: 0) }
        #expect(sadd == .wrongType(key: "str", expected: "set"))
        #expect(sadd?.description.contains("'str'") == true)
        #expect(throws: StoreError.wrongType(key: "set", expected: "string")) { try state.get("set", nowMs: 0) }
        #expect(throws: StoreError.wrongType(key: "str", expected: "set")) { try state.smembers("str", nowMs: 0) }
        #expect(throws: StoreError.wrongType(key: "str", expected: "set")) { try state.srem("str", member: "m", nowMs: 0) }
        #expect(try state.get("str", nowMs: 0) == [1], "a failed write leaves the value alone")
    }

    @Test func ttlExpiresWithTheInjectedClock() throws {
        var state = KVState()
        state.set("lease", value: [1], ttlMs: 1_000, nowMs: 10_000)
        _ = try state.sadd("heartbeats", member: "agent-1", nowMs: 10_000)
        let expired = state.expire("heartbeats", ttlMs: 500, nowMs: 10_000)
        let expiredMissing = state.expire("missing", ttlMs: 500, nowMs: 10_000)
        #expect(expired && !expiredMissing)
        #expect(state.nextExpiryMs == 10_500)
        #expect(state.expiresAtMs(of: "lease", nowMs: 10_000) == 11_000)

        #expect(try state.get("lease", nowMs: 10_999) == [1])
        #expect(try state.smembers("heartbeats", nowMs: 10_499) == ["agent-1"])
        #expect(try state.smembers("heartbeats", nowMs: 10_500).isEmpty, "expired at its deadline")
        #expect(try state.get("lease", nowMs: 11_000) == nil)
        let deletedExpired = state.del("lease", nowMs: 11_000)
        #expect(!deletedExpired, "an expired key does not count as deleted")

        #expect(state.purgeExpired(nowMs: 10_400).isEmpty)
        #expect(state.purgeExpired(nowMs: 10_600) == ["heartbeats"])
        #expect(state.count == 0)
        #expect(state.nextExpiryMs == nil)
    }

    @Test func writesToAnExpiredKeyStartFresh() throws {
        var state = KVState()
        _ = try state.sadd("s", member: "old", nowMs: 0)
        state.expire("s", ttlMs: 10, nowMs: 0)
        #expect(try state.sadd("s", member: "new", nowMs: 20) == 1)
        #expect(try state.smembers("s", nowMs: 20) == ["new"])
        #expect(state.expiresAtMs(of: "s", nowMs: 20) == nil, "the new set has no TTL")

        state.set("n", value: Array("41".utf8), ttlMs: 10, nowMs: 0)
        #expect(try state.incr("n", nowMs: 5).value == 42)
        #expect(state.expiresAtMs(of: "n", nowMs: 5) == 10, "INCR keeps the TTL")
        #expect(try state.incr("n", nowMs: 10).value == 1, "an expired counter restarts from 0")
        state.set("n", value: [1], nowMs: 10)
        #expect(state.nextExpiryMs == nil, "SET without a TTL clears it")
    }

    @Test func mutationsRoundTripThroughTheirEncoding() throws {
        let mutations: [KVMutation] = [
            .set(key: "k", value: [], expiresAtMs: nil),
            .set(key: "job:7", value: [0, 1, 0xFF], expiresAtMs: -3),
            .set(key: "", value: Array("x".utf8), expiresAtMs: .max),
            .del(key: "job:7"),
            .sadd(key: "agents", member: "agent-🚀"),
            .srem(key: "agents", member: ""),
            .expire(key: "k", atMs: 1_700_000_000_000),
            .expire(key: "k", atMs: nil),
        ]
        for mutation in mutations {
            #expect(try KVMutation(decoding: mutation.encoded()) == mutation)
        }
    }

    @Test func malformedMutationBytesAreRejected() throws {
        let good = KVMutation.sadd(key: "agents", member: "a").encoded()
        let cases: [(bytes: [UInt8], offset: Int)] = [
            ([], 0),                            // no tag
            ([99] + good.dropFirst(), 0),       // unknown tag
            (Array(good.dropLast()), 15),       // member cut short
            (good + [0], 16),                   // trailing byte
            ([2, 0, 0, 0, 2, 0xC3, 0x28], 1),   // key not UTF-8
            ([1, 0, 0, 0, 1, 65, 0, 0, 0, 0, 7], 10),  // bad expiry flag
            ([2, 0xFF, 0xFF, 0xFF, 0xFF], 5),   // length beyond the data
        ]
        for (bytes, offset) in cases {
            let error = #expect(throws: StoreError.self) { try KVMutation(decoding: bytes) }
            guard case .malformedMutation(let at, _)? = error else {
                Issue.record("\(bytes): expected .malformedMutation, got \(String(describing: error))")
                continue
            }
            #expect(at == offset, "\(bytes)")
        }
    }

    @Test func applyingJournaledMutationsMatchesDirectOperations() throws {
        var direct = KVState()
        var replayed = KVState()
        var journal: [KVMutation] = []
        direct.set("a", value: [1], ttlMs: 100, nowMs: 1_000)
        journal.append(.set(key: "a", value: [1], expiresAtMs: 1_100))
        _ = try direct.sadd("s", member: "x", nowMs: 1_000)
        journal.append(.sadd(key: "s", member: "x"))
        direct.expire("s", ttlMs: 50, nowMs: 1_000)
        journal.append(.expire(key: "s", atMs: 1_050))
        journal.append(try direct.incr("c", by: 3, nowMs: 1_000).mutation)
        _ = try direct.srem("s", member: "missing", nowMs: 1_000)
        journal.append(.srem(key: "s", member: "missing"))
        for key in direct.purgeExpired(nowMs: 1_060) { journal.append(.del(key: key)) }
        for mutation in journal { try KVMutation.apply(KVMutation(decoding: mutation.encoded()), to: &replayed) }
        #expect(replayed == direct)
        #expect(try replayed.smembers("s", nowMs: 0).isEmpty)
    }

    @Test func snapshotMutationsRebuildTheSameState() throws {
        var state = KVState()
        for i in 0..<50 {
            state.set("job:\(i)", value: payload(i), ttlMs: i % 4 == 0 ? Int64(i) * 10 : nil, nowMs: 0)
            _ = try state.sadd("agents:\(i % 5)", member: "agent-\(i)", nowMs: 0)
        }
        state.expire("agents:2", ttlMs: 777, nowMs: 0)
        _ = try state.incr("seq", by: 9, nowMs: 0)

        var rebuilt = KVState()
        for mutation in state.snapshotMutations() { try rebuilt.apply(mutation) }
        #expect(rebuilt == state)
        #expect(rebuilt.nextExpiryMs == state.nextExpiryMs)
        #expect(try rebuilt.smembers("agents:2", nowMs: 0) == state.smembers("agents:2", nowMs: 0))
        #expect(rebuilt.expiresAtMs(of: "agents:2", nowMs: 0) == 777)
        #expect(state.snapshotMutations() == rebuilt.snapshotMutations(), "snapshots are deterministic")
        var other = rebuilt
        other.set("job:1", value: [0], nowMs: 0)
        #expect(other != state)
    }
}
