/// Scaling limits and timings of one capability pool.
public struct PoolConfig: Sendable, Equatable {
    /// Slots a newly spawned ephemeral worker brings.
    public var slotsPerWorker: Int
    public var minEphemeral: Int
    public var maxEphemeral: Int
    /// Least time between two spawn decisions (scale-up or keep-min) for the pool.
    public var scaleUpCooldownMs: Int64
    /// How long an ephemeral worker must have been idle before it is retired.
    public var idleRetireAfterMs: Int64

    public init(slotsPerWorker: Int, minEphemeral: Int = 0, maxEphemeral: Int,
                scaleUpCooldownMs: Int64 = 30_000, idleRetireAfterMs: Int64 = 45_000) {
        precondition(slotsPerWorker >= 1)
        precondition(0 <= minEphemeral && minEphemeral <= maxEphemeral)
        precondition(scaleUpCooldownMs >= 0 && idleRetireAfterMs >= 0)
        self.slotsPerWorker = slotsPerWorker
        self.minEphemeral = minEphemeral
        self.maxEphemeral = maxEphemeral
        self.scaleUpCooldownMs = scaleUpCooldownMs
        self.idleRetireAfterMs = idleRetireAfterMs
    }
}

/// A registered worker of a pool, as the scaler sees it.
public struct PoolWorker: Sendable, Equatable {
    public var id: String
    /// Spawned by the scaler and retired by it; permanent workers are never retired.
    public var ephemeral: Bool
    /// Since when the worker runs no job; nil while it runs some.
    public var idleSinceMs: Int64?
    /// Leaving: takes no new work, gone when its jobs end.
    public var draining: Bool

    public init(id: String, ephemeral: Bool, idleSinceMs: Int64?, draining: Bool = false) {
        self.id = id
        self.ephemeral = ephemeral
        self.idleSinceMs = idleSinceMs
        self.draining = draining
    }
}

/// One pool (a capability tag such as "GPU") at the moment of an evaluation.
public struct PoolSnapshot: Sendable, Equatable {
    public var pool: String
    public var config: PoolConfig
    /// Queued jobs that need the pool's tag.
    public var queued: Int
    /// Free slots on the pool's alive, accepting workers.
    public var freeSlots: Int
    /// Registered workers of the pool, permanent and ephemeral. List an ephemeral worker under the
    /// pool it was spawned for only.
    public var workers: [PoolWorker]
    /// Ephemeral workers spawned but not registered yet: capacity on its way.
    public var pendingSpawns: Int

    public init(pool: String, config: PoolConfig, queued: Int, freeSlots: Int, workers: [PoolWorker] = [],
                pendingSpawns: Int = 0) {
        self.pool = pool
        self.config = config
        self.queued = queued
        self.freeSlots = freeSlots
        self.workers = workers
        self.pendingSpawns = pendingSpawns
    }
}

/// What the caller does about capacity.
public enum ScalerDecision: Sendable, Equatable {
    /// Spawn `count` ephemeral workers for queued work.
    case scaleUp(pool: String, count: Int)
    /// Spawn `count` ephemeral workers to bring the pool back to its minimum.
    case keepMin(pool: String, count: Int)
    /// Drain the ephemeral worker: give it no more work; it leaves when its jobs end.
    case retire(workerId: String)
}

/// What the scaler remembers between evaluations, so it does not repeat itself.
public struct ScalerState: Sendable, Equatable {
    /// The last spawn decision per pool (the cooldown runs from it).
    public fileprivate(set) var lastScaleUpMs: [String: Int64] = [:]
    /// Workers already asked to retire that are still in the snapshot.
    public fileprivate(set) var retiring: Set<String> = []

    public init() {}
}

/// Elastic capacity per capability pool: pure, the caller owns the clock and the spawning.
public enum ScalerPolicy {
    /// Decides spawns and retirements for every pool, in the order of `snapshot`.
    ///
    /// Per pool, with *leaving* meaning draining or already asked to retire:
    /// - **keepMin**: ephemeral workers not leaving, plus pending spawns, below `minEphemeral`.
    /// - **scaleUp**: `queued − freeSlots − (pendingSpawns + keepMin count) · slotsPerWorker`,
    ///   rounded up to whole workers.
    /// - Both spawn kinds together stay within `maxEphemeral`, counting every registered ephemeral
    ///   worker (leaving ones still cost) and pending spawns, and wait out the pool's cooldown.
    /// - **retire**: only with nothing queued for the pool, ephemeral workers idle for
    ///   `idleRetireAfterMs`, longest idle first, while registered ones not leaving stay at least
    ///   `minEphemeral` (pending spawns may still fail, so they do not count here).
    public static func evaluate(_ snapshot: [PoolSnapshot], nowMs now: Int64,
                                state: inout ScalerState) -> [ScalerDecision] {
        var decisions: [ScalerDecision] = []
        for pool in snapshot {
            decisions += spawns(pool, now: now, state: &state)
            decisions += retirements(pool, now: now, state: &state)
        }
        // Workers that left need no memory: keeps the set bounded.
        state.retiring.formIntersection(snapshot.lazy.flatMap(\.workers).map(\.id))
        return decisions
    }

    private static func spawns(_ pool: PoolSnapshot, now: Int64, state: inout ScalerState) -> [ScalerDecision] {
        let c = pool.config
        let ephemeral = pool.workers.filter(\.ephemeral)
        let leaving = ephemeral.count { $0.draining || state.retiring.contains($0.id) }
        let total = ephemeral.count + pool.pendingSpawns
        var room = max(0, c.maxEphemeral - total)
        let forMin = min(room, max(0, c.minEphemeral - (total - leaving)))
        room -= forMin
        let shortfall = pool.queued - pool.freeSlots - (pool.pendingSpawns + forMin) * c.slotsPerWorker
        let forQueue = min(room, shortfall > 0 ? (shortfall + c.slotsPerWorker - 1) / c.slotsPerWorker : 0)
        guard forMin + forQueue > 0 else { return [] }
        if let last = state.lastScaleUpMs[pool.pool], now - last < c.scaleUpCooldownMs { return [] }
        state.lastScaleUpMs[pool.pool] = now
        var decisions: [ScalerDecision] = []
        if forMin > 0 { decisions.append(.keepMin(pool: pool.pool, count: forMin)) }
        if forQueue > 0 { decisions.append(.scaleUp(pool: pool.pool, count: forQueue)) }
        return decisions
    }

    private static func retirements(_ pool: PoolSnapshot, now: Int64, state: inout ScalerState) -> [ScalerDecision] {
        guard pool.queued == 0 else { return [] }
        let staying = pool.workers.filter { $0.ephemeral && !$0.draining && !state.retiring.contains($0.id) }
        let spare = staying.count - pool.config.minEphemeral
        guard spare > 0 else { return [] }
        let idle = staying
            .compactMap { w in w.idleSinceMs.map { (id: w.id, since: $0) } }
            .filter { now - $0.since >= pool.config.idleRetireAfterMs }
            .sorted { ($0.since, $0.id) < ($1.since, $1.id) }
            .prefix(spare)
        state.retiring.formUnion(idle.map(\.id))
        return idle.map { .retire(workerId: $0.id) }
    }
}
