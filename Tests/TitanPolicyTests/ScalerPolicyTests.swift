import Testing
import TitanPolicy

/// Shorthands for scaler snapshots.
func gpuPool(queued: Int, free: Int = 0, workers: [PoolWorker] = [], pending: Int = 0,
             min: Int = 0, max: Int = 10, cooldownMs: Int64 = 30_000) -> PoolSnapshot {
    PoolSnapshot(pool: "GPU",
                 config: PoolConfig(slotsPerWorker: 4, minEphemeral: min, maxEphemeral: max,
                                    scaleUpCooldownMs: cooldownMs),
                 queued: queued, freeSlots: free, workers: workers, pendingSpawns: pending)
}

func ephemeral(_ id: String, idleSince: Int64? = nil, draining: Bool = false) -> PoolWorker {
    PoolWorker(id: id, ephemeral: true, idleSinceMs: idleSince, draining: draining)
}

func permanent(_ id: String, idleSince: Int64? = nil) -> PoolWorker {
    PoolWorker(id: id, ephemeral: false, idleSinceMs: idleSince)
}

@Suite("ScalerPolicy (injected clock)")
struct ScalerPolicyTests {
    @Test("a burst on a saturated pool scales up once, again only after the cooldown")
    func burstScalesUpOnce() {
        var state = ScalerState()
        let burst = gpuPool(queued: 10, free: 0, workers: [permanent("p1")])
        // 10 jobs at 4 slots a worker: 3 workers.
        #expect(ScalerPolicy.evaluate([burst], nowMs: 0, state: &state) == [.scaleUp(pool: "GPU", count: 3)])
        #expect(state.lastScaleUpMs == ["GPU": 0])
        // The spawns are not visible yet: the cooldown prevents asking twice.
        #expect(ScalerPolicy.evaluate([burst], nowMs: 1_000, state: &state).isEmpty)
        #expect(ScalerPolicy.evaluate([burst], nowMs: 29_999, state: &state).isEmpty)
        // Still nothing registered or pending after the cooldown: the spawns failed, ask again.
        #expect(ScalerPolicy.evaluate([burst], nowMs: 30_000, state: &state) == [.scaleUp(pool: "GPU", count: 3)])
    }

    @Test("pending spawns count as capacity on its way")
    func pendingSpawnsCount() {
        var state = ScalerState()
        // 10 queued − 8 slots coming = 2 more slots: 1 worker.
        #expect(ScalerPolicy.evaluate([gpuPool(queued: 10, pending: 2)], nowMs: 0, state: &state)
            == [.scaleUp(pool: "GPU", count: 1)])
        var covered = ScalerState()
        #expect(ScalerPolicy.evaluate([gpuPool(queued: 12, pending: 3)], nowMs: 0, state: &covered).isEmpty)
        #expect(covered.lastScaleUpMs.isEmpty)
    }

    @Test("no scale-up when free slots cover the queue")
    func freeSlotsCover() {
        var state = ScalerState()
        #expect(ScalerPolicy.evaluate([gpuPool(queued: 5, free: 5)], nowMs: 0, state: &state).isEmpty)
        #expect(ScalerPolicy.evaluate([gpuPool(queued: 5, free: 9)], nowMs: 0, state: &state).isEmpty)
        // Rounded up: one job short still needs a whole worker.
        #expect(ScalerPolicy.evaluate([gpuPool(queued: 6, free: 5)], nowMs: 0, state: &state)
            == [.scaleUp(pool: "GPU", count: 1)])
    }

    @Test("scale-up stays within max, counting registered, draining and pending ephemeral workers")
    func respectsMax() {
        var state = ScalerState()
        let busy = [ephemeral("e1"), ephemeral("e2", draining: true)]
        #expect(ScalerPolicy.evaluate([gpuPool(queued: 100, workers: busy, pending: 1, max: 5)],
                                      nowMs: 0, state: &state) == [.scaleUp(pool: "GPU", count: 2)])
        var full = ScalerState()
        #expect(ScalerPolicy.evaluate([gpuPool(queued: 100, workers: busy, pending: 3, max: 5)],
                                      nowMs: 0, state: &full).isEmpty)
        // Nothing decided, so no cooldown starts.
        #expect(full.lastScaleUpMs.isEmpty)
        // Permanent workers do not use up the ephemeral budget.
        var withPermanent = ScalerState()
        #expect(ScalerPolicy.evaluate([gpuPool(queued: 100, workers: [permanent("p1"), permanent("p2")], max: 2)],
                                      nowMs: 0, state: &withPermanent) == [.scaleUp(pool: "GPU", count: 2)])
    }

    @Test("below min: keepMin, counting pending spawns but not leaving workers")
    func keepMin() {
        var state = ScalerState()
        #expect(ScalerPolicy.evaluate([gpuPool(queued: 0, min: 2)], nowMs: 0, state: &state)
            == [.keepMin(pool: "GPU", count: 2)])
        var pending = ScalerState()
        #expect(ScalerPolicy.evaluate([gpuPool(queued: 0, pending: 2, min: 2)], nowMs: 0, state: &pending).isEmpty)
        var draining = ScalerState()
        let workers = [ephemeral("e1", idleSince: 0), ephemeral("e2", draining: true)]
        #expect(ScalerPolicy.evaluate([gpuPool(queued: 0, workers: workers, min: 2)], nowMs: 0, state: &draining)
            == [.keepMin(pool: "GPU", count: 1)])
    }

    @Test("keepMin and scaleUp together: the minimum's workers count toward the queue")
    func keepMinWithQueue() {
        var state = ScalerState()
        // 2 workers for the minimum bring 8 slots; 10 queued need 1 more.
        #expect(ScalerPolicy.evaluate([gpuPool(queued: 10, min: 2)], nowMs: 0, state: &state)
            == [.keepMin(pool: "GPU", count: 2), .scaleUp(pool: "GPU", count: 1)])
        #expect(ScalerPolicy.evaluate([gpuPool(queued: 10, min: 2)], nowMs: 1, state: &state).isEmpty)
    }

    @Test("idle ephemeral workers retire after the idle period; permanent ones never")
    func retiresIdleEphemeral() {
        var state = ScalerState()
        let pool = gpuPool(queued: 0, free: 12, workers: [
            permanent("p1", idleSince: 0), ephemeral("e1", idleSince: 0), ephemeral("busy"),
        ])
        #expect(ScalerPolicy.evaluate([pool], nowMs: 44_999, state: &state).isEmpty)
        #expect(ScalerPolicy.evaluate([pool], nowMs: 45_000, state: &state) == [.retire(workerId: "e1")])
        #expect(state.retiring == ["e1"])
        #expect(ScalerPolicy.evaluate([pool], nowMs: 500_000, state: &state).isEmpty)
    }

    @Test("never below min: the longest idle ones go first")
    func retireKeepsMin() {
        var state = ScalerState()
        let pool = gpuPool(queued: 0, free: 12, workers: [
            ephemeral("b", idleSince: 1_000), ephemeral("a", idleSince: 2_000), ephemeral("c", idleSince: 1_000),
        ], min: 1)
        #expect(ScalerPolicy.evaluate([pool], nowMs: 100_000, state: &state)
            == [.retire(workerId: "b"), .retire(workerId: "c")])
        #expect(ScalerPolicy.evaluate([pool], nowMs: 200_000, state: &state).isEmpty)
        // Draining workers are leaving anyway: they don't count toward the minimum.
        var fresh = ScalerState()
        let leaving = gpuPool(queued: 0, free: 4, workers: [
            ephemeral("d", draining: true), ephemeral("e", idleSince: 0),
        ], min: 1)
        #expect(ScalerPolicy.evaluate([leaving], nowMs: 100_000, state: &fresh).isEmpty)
    }

    @Test("no retirement while the pool has queued work, even when it is not scaling up")
    func noRetireWithQueue() {
        var state = ScalerState()
        let pool = gpuPool(queued: 1, free: 8, workers: [ephemeral("e1", idleSince: 0), ephemeral("e2", idleSince: 0)])
        #expect(ScalerPolicy.evaluate([pool], nowMs: 1_000_000, state: &state).isEmpty)
    }

    @Test("decisions are not repeated; the memory of retirements forgets workers that left")
    func noRepeats() {
        var state = ScalerState()
        let idle = gpuPool(queued: 0, free: 4, workers: [ephemeral("e1", idleSince: 0)])
        #expect(ScalerPolicy.evaluate([idle], nowMs: 50_000, state: &state) == [.retire(workerId: "e1")])
        // Same snapshot (the caller has not marked it draining yet), then marked draining.
        #expect(ScalerPolicy.evaluate([idle], nowMs: 60_000, state: &state).isEmpty)
        let draining = gpuPool(queued: 0, workers: [ephemeral("e1", idleSince: 0, draining: true)])
        #expect(ScalerPolicy.evaluate([draining], nowMs: 70_000, state: &state).isEmpty)
        #expect(state.retiring == ["e1"])
        // Gone from the snapshot: forgotten.
        #expect(ScalerPolicy.evaluate([gpuPool(queued: 0)], nowMs: 80_000, state: &state).isEmpty)
        #expect(state.retiring.isEmpty)
    }

    @Test("pools are independent, each with its own cooldown, in snapshot order")
    func poolsIndependent() {
        var state = ScalerState()
        let cpu = PoolSnapshot(pool: "GENERAL", config: PoolConfig(slotsPerWorker: 8, maxEphemeral: 4),
                               queued: 20, freeSlots: 3, workers: [ephemeral("c1", idleSince: 0)])
        #expect(ScalerPolicy.evaluate([gpuPool(queued: 4)], nowMs: 0, state: &state)
            == [.scaleUp(pool: "GPU", count: 1)])
        // GPU is cooling down; GENERAL is not (and has queued work, so its idle worker stays).
        #expect(ScalerPolicy.evaluate([gpuPool(queued: 8), cpu], nowMs: 10_000, state: &state)
            == [.scaleUp(pool: "GENERAL", count: 3)])
        #expect(state.lastScaleUpMs == ["GPU": 0, "GENERAL": 10_000])
        #expect(ScalerPolicy.evaluate([cpu, gpuPool(queued: 8)], nowMs: 30_000, state: &state)
            == [.scaleUp(pool: "GPU", count: 2)])
    }
}
