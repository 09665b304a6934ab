import Testing
import TitanPolicy

/// Health probes against a virtual clock: start deadline, timeouts as failures, a healthy
/// service's failure threshold.
@Suite("HealthProbePolicy (injected clock)")
struct HealthProbePolicyTests {
    static let config = HealthProbePolicy.Config(intervalMs: 1_000, timeoutMs: 2_000, startDeadlineMs: 10_000, failureThreshold: 3)

    @Test("a starting service whose probes keep timing out is unhealthy at its start deadline, not before")
    func hangingProbeFailsAtTheDeadline() {
        var p = HealthProbePolicy(config: Self.config, startedAtMs: 100)
        #expect(p.firstProbeAfterMs == 250)
        var now: Int64 = 100 + p.firstProbeAfterMs
        var verdicts = 0
        while true {
            now += 2_000  // each probe hangs until its timeout
            let v = p.record(.timedOut(afterMs: 2_000), atMs: now)
            verdicts += 1
            if case .probeAgain(let after) = v {
                #expect(now < 100 + 10_000)
                #expect(after >= 0 && after <= 250)
                now += after
                continue
            }
            #expect(now >= 100 + 10_000)
            #expect(now < 100 + 10_000 + 2_000 + 250)  // judged by the first probe ending after the deadline
            guard case .unhealthy(let reason) = v else { Issue.record("expected unhealthy, got \(v)"); return }
            #expect(reason.contains("not healthy within 10000 ms"))
            #expect(reason.contains("probe timed out after 2000 ms"))
            break
        }
        #expect(verdicts == 5)
        #expect(!p.healthy)
    }

    @Test("the last probe before the deadline is scheduled at the deadline")
    func probesLandOnTheDeadline() {
        var p = HealthProbePolicy(config: Self.config, startedAtMs: 0)
        #expect(p.record(.failed("refused"), atMs: 9_900) == .probeAgain(afterMs: 100))
        #expect(p.record(.failed("refused"), atMs: 10_000)
                == .unhealthy(reason: "health check failed: not healthy within 10000 ms of start (last: refused)"))
    }

    @Test("failures before the deadline do not count once a probe passes")
    func passesBeforeTheDeadline() {
        var p = HealthProbePolicy(config: Self.config, startedAtMs: 0)
        for t in stride(from: Int64(250), to: 9_000, by: 250) {
            #expect(p.record(.failed("refused"), atMs: t) == .probeAgain(afterMs: 250))
        }
        #expect(p.record(.passed, atMs: 9_500) == .becameHealthy(probeAgainAfterMs: 1_000))
        #expect(p.healthy && p.failures == 0)
        // Long after the start deadline, a healthy service tolerates fewer than 3 failures in a row.
        #expect(p.record(.timedOut(afterMs: 2_000), atMs: 60_000) == .probeAgain(afterMs: 1_000))
        #expect(p.record(.failed("HTTP 500"), atMs: 61_000) == .probeAgain(afterMs: 1_000))
        #expect(p.record(.passed, atMs: 62_000) == .probeAgain(afterMs: 1_000))
        #expect(p.failures == 0)
        #expect(p.record(.failed("x"), atMs: 63_000) == .probeAgain(afterMs: 1_000))
        #expect(p.record(.failed("x"), atMs: 64_000) == .probeAgain(afterMs: 1_000))
        #expect(p.record(.timedOut(afterMs: 2_000), atMs: 67_000)
                == .unhealthy(reason: "health check failed 3 times in a row (last: probe timed out after 2000 ms)"))
    }

    @Test("a zero start deadline judges the first probe")
    func zeroDeadline() {
        var p = HealthProbePolicy(config: .init(intervalMs: 1_000, timeoutMs: 500, startDeadlineMs: 0), startedAtMs: 0)
        #expect(p.firstProbeAfterMs == 0)
        guard case .unhealthy = p.record(.timedOut(afterMs: 500), atMs: 500) else { Issue.record("expected unhealthy"); return }
    }

    @Test("a run given up on by its probes counts toward CRASH_LOOP with the supervisor")
    func probeFailuresCrashLoop() {
        var s = ServiceSupervisor(config: .init(mode: .always, initialBackoffMs: 100, maxBackoffMs: 1_000,
                                                stableAfterMs: 60_000, crashLoopFailures: 3))
        var now: Int64 = 0
        var last = RestartDecision.none
        for _ in 0..<3 {
            _ = s.handle(.started(atMs: now))
            var p = HealthProbePolicy(config: Self.config, startedAtMs: now)
            var verdict = HealthVerdict.probeAgain(afterMs: p.firstProbeAfterMs)
            while case .probeAgain(let after) = verdict {
                now += after + 2_000
                verdict = p.record(.timedOut(afterMs: 2_000), atMs: now)
            }
            last = s.handle(.healthCheckFailed(atMs: now))
            if case .restart(let after) = last { now += after }
        }
        #expect(s.state == .crashLoop)
        #expect(last == .crashLoop(lastExit: ServiceExit(atMs: now, exitCode: nil, signal: nil, healthCheckFailed: true)))
        #expect(s.restarts == 2)
    }
}
