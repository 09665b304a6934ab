import Foundation
import Logging
import TitanLoop
import TitanPolicy
import TitanProtocol

/// How the master grows and shrinks capacity.
public struct ScalingConfig: Sendable {
    /// Pools by capability tag (GENERAL: jobs without requirements).
    public var pools: [String: PoolConfig]
    /// The program and arguments that start a local worker (`titan-node` and `--role worker`
    /// style); the scaler adds `--master`, `--cap`, `--slots`, `--id`, `--data-dir`. Nil: no
    /// local workers.
    public var spawnCommand: [String]?
    /// A shell command run to grow (`HOOK up POOL COUNT`) or shrink (`HOOK down POOL WORKER`) a
    /// pool elsewhere (cloud VMs...). Nil: none.
    public var hook: String?
    public var evaluateEveryMs: UInt64 = 500

    public init(pools: [String: PoolConfig], spawnCommand: [String]?, hook: String?) {
        self.pools = pools
        self.spawnCommand = spawnCommand
        self.hook = hook
    }
}

/// Runs `ScalerPolicy` on a timer against the scheduler's queues and workers, and carries out
/// its decisions: local ephemeral worker processes (and/or the hook) to grow a pool; to shrink
/// it, a worker the scaler started is drained (no new work) and stopped once idle.
public actor ScalerActor: LoopBound {
    public nonisolated let eventLoop: EventLoop
    private let config: ScalingConfig
    private let scheduler: SchedulerActor
    private let logger: Logger
    private let masterAddress: String
    private let workDirectory: String
    private var state = ScalerState()
    private var timer: LoopTimer?
    /// Workers it started, by id: their process (local ones), their pool, and since when idle.
    private var started: [String: (pool: String, process: ChildProcess?, idleSinceMs: Int64?)] = [:]
    /// Spawned but not registered yet, by pool.
    private var pending: [String: Set<String>] = [:]
    private var nextNumber = 1
    /// Hook commands running, by a number of their own.
    private var hooks: [Int: ChildProcess] = [:]
    private var nextHook = 0

    init(loop: EventLoop, config: ScalingConfig, scheduler: SchedulerActor, masterAddress: String, workDirectory: String,
         logger: Logger) {
        eventLoop = loop
        self.config = config
        self.scheduler = scheduler
        self.masterAddress = masterAddress
        self.workDirectory = workDirectory
        self.logger = logger
    }

    func start() {
        let timer = LoopTimer(loop: eventLoop)
        self.timer = timer
        timer.assumeIsolated { t in
            t.start(afterMs: config.evaluateEveryMs, repeatMs: config.evaluateEveryMs) { [weak self] in
                self?.assumeIsolated { $0.evaluate() }
            }
        }
    }

    /// Workers it started that are still alive (for tests and `titan workers`).
    public var startedWorkers: [String] { started.keys.sorted() }

    func evaluate() {
        let now = Time.wallMs()
        let view = scheduler.assumeIsolated { s in (s.registry.entries, s.queue) }
        let (entries, queue) = view
        // Pending spawns that registered are pending no more.
        for (pool, ids) in pending { pending[pool] = ids.filter { entries[$0] == nil } }
        var snapshots: [PoolSnapshot] = []
        for (pool, poolConfig) in config.pools.sorted(by: { $0.key < $1.key }) {
            let queued = queue.requirementSets.filter { Self.serves(pool, $0) }.reduce(0) { $0 + queue.count($1) }
            var free = 0
            var workers: [PoolWorker] = []
            for entry in entries.values where entry.capabilities.contains(pool) {
                let capacity = entry.capacity
                if capacity.accepting { free += max(0, capacity.slots - capacity.running) }
                let id = entry.registration.workerId
                guard var mine = started[id], mine.pool == pool else {
                    workers.append(PoolWorker(id: id, ephemeral: false, idleSinceMs: nil))
                    continue
                }
                if entry.running.isEmpty {
                    if mine.idleSinceMs == nil { mine.idleSinceMs = now }
                } else {
                    mine.idleSinceMs = nil
                }
                started[id] = mine
                workers.append(PoolWorker(id: id, ephemeral: true, idleSinceMs: mine.idleSinceMs, draining: entry.draining))
            }
            snapshots.append(PoolSnapshot(pool: pool, config: poolConfig, queued: queued, freeSlots: free, workers: workers,
                                          pendingSpawns: pending[pool]?.count ?? 0))
        }
        for decision in ScalerPolicy.evaluate(snapshots, nowMs: now, state: &state) {
            switch decision {
            case .scaleUp(let pool, let count), .keepMin(let pool, let count):
                grow(pool, by: count)
            case .retire(let workerId):
                retire(workerId)
            }
        }
        finishRetirements(entries)
    }

    /// Jobs a pool's workers can run: those needing its tag (and nothing else), and, for the
    /// GENERAL pool, those needing nothing.
    static func serves(_ pool: String, _ requirements: Set<String>) -> Bool {
        requirements == [pool] || (pool == "GENERAL" && requirements.isEmpty)
    }

    private func grow(_ pool: String, by count: Int) {
        logger.info("scaling up", metadata: ["pool": "\(pool)", "workers": "\(count)"])
        if let hook = config.hook { runHook(hook, ["up", pool, "\(count)"]) }
        guard let command = config.spawnCommand, let slots = config.pools[pool]?.slotsPerWorker else { return }
        for _ in 0 ..< count {
            let id = "scale-\(pool.lowercased())-\(nextNumber)"
            nextNumber += 1
            let arguments = command + ["--master", masterAddress, "--cap", pool, "--slots", "\(slots)", "--id", id,
                                       "--data-dir", workDirectory + "/" + id]
            do {
                let process = try ChildProcess.spawn(
                    loop: eventLoop, arguments: arguments, environment: ProcessInfo.processInfo.environment.map { "\($0.key)=\($0.value)" },
                    workingDirectory: FileManager.default.currentDirectoryPath,
                    onOutput: { _, _ in },
                    onExit: { [self] exit in self.assumeIsolated { $0.exited(id, exit) } })
                started[id] = (pool, process, nil)
                pending[pool, default: []].insert(id)
            } catch {
                logger.error("cannot start a worker: \(error)", metadata: ["pool": "\(pool)"])
            }
        }
    }

    private func exited(_ id: String, _ exit: ProcessExit) {
        started[id] = nil
        for pool in pending.keys { pending[pool]?.remove(id) }
        logger.info("scaled worker exited", metadata: ["worker": "\(id)", "exit": "\(exit.exitCode ?? -1)"])
        // A clean exit left nothing running: its directory (job directories, caches) goes, off
        // the loop. After a crash it stays: its PID registry lets a successor kill leftovers.
        guard exit.exitCode == 0 else { return }
        let directory = workDirectory + "/" + id
        DispatchQueue.global(qos: .utility).async { try? FileManager.default.removeItem(atPath: directory) }
    }

    /// Drains the worker: the scheduler gives it nothing new; it is stopped once idle.
    private func retire(_ id: String) {
        logger.info("retiring idle worker", metadata: ["worker": "\(id)"])
        scheduler.assumeIsolated { $0.drain(id) }
        if let hook = config.hook, let pool = started[id]?.pool { runHook(hook, ["down", pool, id]) }
    }

    private func finishRetirements(_ entries: [String: WorkerRegistry.Entry]) {
        for (id, worker) in started {
            guard let entry = entries[id], entry.draining, entry.running.isEmpty else { continue }
            // SIGTERM: the worker shuts down gracefully (it runs nothing) and its process exits.
            worker.process?.assumeIsolated { _ = $0.signalGroup(SIGTERM) }
        }
    }

    private func runHook(_ hook: String, _ arguments: [String]) {
        let number = nextHook
        nextHook += 1
        do {
            hooks[number] = try ChildProcess.spawn(
                loop: eventLoop, arguments: ["/bin/sh", "-c", hook + " \"$@\"", "titan-hook"] + arguments,
                environment: ProcessInfo.processInfo.environment.map { "\($0.key)=\($0.value)" },
                workingDirectory: FileManager.default.currentDirectoryPath,
                onOutput: { _, _ in },
                onExit: { [self] _ in self.assumeIsolated { $0.hooks[number] = nil } })
        } catch {
            logger.error("cannot run the scaling hook: \(error)")
        }
    }

    private func stopLocally() {
        timer?.assumeIsolated { $0.close() }
        timer = nil
        for worker in started.values { worker.process?.assumeIsolated { _ = $0.signalGroup(SIGTERM) } }
    }

    /// Stops the timer and the workers it started, and waits (10 s at most) for them to exit.
    func stop() async {
        stopLocally()
        let deadline = ContinuousClock.now + .seconds(10)
        while !started.isEmpty && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }
}

extension SchedulerActor {
    /// The scaler retires this worker: no new work for it.
    func drain(_ workerId: String) {
        registry.drain(workerId)
    }
}
