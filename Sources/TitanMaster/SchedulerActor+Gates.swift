import TitanLoop
import TitanProtocol
import TitanStore

/// Human approval gates. A gate job runs no process and holds no worker slot: when its parents
/// are done it opens (RUNNING, no worker) and waits for its decision in the KV store, under the
/// original Titan's keys, so an approval given through either protocol, the CLI or an agent
/// works, and the DAG resumes as soon as it is written:
///
///     titan:hitl:status:<job id>    WAITING, then APPROVED or REJECTED (or TIMEOUT)
///     titan:hitl:message:<job id>   what the approver is asked
///     titan:hitl:ts:<job id>        when it opened (seconds since the epoch)
///     titan:hitl:queue              the set of open gates
extension SchedulerActor {
    static let gateStatusPrefix = "titan:hitl:status:"
    static let gateQueueKey = "titan:hitl:queue"

    /// Puts a ready job where it runs: the ready queue, or, for a gate, open.
    func enqueue(_ job: JobRecord) {
        if job.isGate { return openGate(job) }
        if job.isService { return startServiceJob(job) }
        queue.push(jobId: job.info.id, priority: job.info.spec.priority, requirements: job.requirements)
    }

    func openGate(_ job: JobRecord) {
        guard let gate = job.info.spec.gate else { return }
        let id = job.info.id
        let key = Self.gateStatusPrefix + id
        let now = wallClockMs()
        job.info.attempts += 1
        job.info.workerId = ""
        move(job, to: .running)
        publish(job)
        openGates[key] = id
        // Decided before it opened (an approval given early)?
        if resolveIfDecided(key) { return }
        kvWrite(.set(key: key, value: Array("WAITING".utf8), expiresAtMs: nil))
        kvWrite(.set(key: "titan:hitl:message:" + id, value: Array(gate.message.utf8), expiresAtMs: nil))
        kvWrite(.set(key: "titan:hitl:ts:" + id, value: Array("\(now / 1_000)".utf8), expiresAtMs: nil))
        kvWrite(.sadd(key: Self.gateQueueKey, member: id))
        armGateTimer(job, deadlineMs: gate.timeoutMs > 0 ? now + Int64(clamping: gate.timeoutMs) : nil)
    }

    /// After a restart: open gates wait again, with their original deadline.
    func reopenGate(_ job: JobRecord) {
        guard let gate = job.info.spec.gate else { return }
        let key = Self.gateStatusPrefix + job.info.id
        openGates[key] = job.info.id
        if resolveIfDecided(key) { return }
        let opened = (try? kv.get("titan:hitl:ts:" + job.info.id, nowMs: wallClockMs()))
            .flatMap { $0 }.flatMap { Int64(String(decoding: $0, as: UTF8.self)) }.map { $0 * 1_000 } ?? wallClockMs()
        armGateTimer(job, deadlineMs: gate.timeoutMs > 0 ? opened + Int64(clamping: gate.timeoutMs) : nil)
    }

    private func armGateTimer(_ job: JobRecord, deadlineMs: Int64?) {
        guard let deadlineMs else { return }
        let id = job.info.id
        let timer = LoopTimer(loop: eventLoop)
        gateTimers[id] = timer
        timer.assumeIsolated { t in
            t.start(afterMs: UInt64(max(0, deadlineMs - wallClockMs()))) { [weak self] in
                self?.assumeIsolated { s in
                    guard let job = s.jobs[id], job.info.state == .running else { return }
                    s.kvWrite(.set(key: Self.gateStatusPrefix + id, value: Array("TIMEOUT".utf8), expiresAtMs: nil))
                    let seconds = Double(job.info.spec.gate?.timeoutMs ?? 0) / 1_000
                    s.decide(job, approved: false, reason: "no decision within \(seconds) s (TIMEOUT)")
                    s.schedule()
                }
            }
        }
    }

    /// What ends a gate's wait, whoever writes it.
    static let gateOutcomes: Set<String> = ["APPROVED", "REJECTED", "TIMEOUT"]

    /// A KV write: if it decides an open gate, the DAG goes on at once. A gate run as a job (the
    /// original Titan's `hitl_gate.py` over v1, the Python SDK's script gates) has no state here:
    /// once its status is decided it waits no longer, so it leaves the queue of open gates as a
    /// native gate does (the original's script never took itself out, so decided gates stayed
    /// listed).
    func gateStatusWritten(_ key: String) {
        guard key.hasPrefix(Self.gateStatusPrefix) else { return }
        if openGates[key] != nil {
            _ = resolveIfDecided(key)
            return
        }
        guard let value = (try? kv.get(key, nowMs: wallClockMs())).flatMap({ $0 }),
              Self.gateOutcomes.contains(String(decoding: value, as: UTF8.self)) else { return }
        leaveGateQueue(String(key.dropFirst(Self.gateStatusPrefix.count)))
    }

    /// A DAG job that is not a native gate ended. If it ran a gate script, the script registered
    /// itself in the queue under its job id (the SDK's) or its own name (the original's
    /// `hitl-gate-x`, for the v1 job `dag-3/DAG-hitl-gate-x`): decided or not, it waits no
    /// longer. Two set lookups per finished DAG job; nothing is written unless it was there.
    func scriptGateEnded(_ job: JobRecord) {
        let id = job.info.id
        leaveGateQueue(id)
        if let alias = Self.aliasKey(id), resolve(alias) == id {
            leaveGateQueue(String(alias.dropFirst(V1Codec.idPrefix.count)))
        }
    }

    /// Takes `member` out of the queue of open gates, journaled, if it is there.
    private func leaveGateQueue(_ member: String) {
        guard (try? kv.srem(Self.gateQueueKey, member: member, nowMs: wallClockMs())) == true else { return }
        journal(.kv(KVMutation.srem(key: Self.gateQueueKey, member: member).encoded()))
    }

    private func resolveIfDecided(_ key: String) -> Bool {
        guard let id = openGates[key], let job = jobs[id], job.info.state == .running,
              let value = (try? kv.get(key, nowMs: wallClockMs())).flatMap({ $0 }) else { return false }
        switch String(decoding: value, as: UTF8.self) {
        case "APPROVED": decide(job, approved: true, reason: "")
        case "REJECTED": decide(job, approved: false, reason: "rejected")
        default: return false
        }
        return true
    }

    private func decide(_ job: JobRecord, approved: Bool, reason: String) {
        let now = wallClockMs()
        job.info.result = JobResult(exitCode: approved ? 0 : 1, error: approved ? nil : reason, startedAtMs: now, finishedAtMs: now)
        finish(job, state: approved ? .completed : .failed)
    }

    /// The gate reached a final state (decided, cancelled, skipped): forget its bookkeeping.
    func gateClosed(_ job: JobRecord) {
        let id = job.info.id
        openGates[Self.gateStatusPrefix + id] = nil
        gateTimers.removeValue(forKey: id)?.assumeIsolated { $0.close() }
        if job.info.state == .running { kvWrite(.srem(key: Self.gateQueueKey, member: id)) }
    }

    /// A KV change made by the master itself, journaled like a client's.
    func kvWrite(_ mutation: KVMutation) {
        do {
            try kv.apply(mutation)
            journal(.kv(mutation.encoded()))
        } catch {
            logger.error("KV write failed: \(error)")
        }
    }
}
