import TitanTestSupport
import Testing
import TitanPolicy

/// The ways a run can end, for the policy matrix.
enum ExitKind: CaseIterable, Sendable {
    case clean, failed, signalled, unhealthy

    func event(atMs now: Int64) -> ServiceEvent {
        switch self {
        case .clean: .exited(atMs: now, exitCode: 0, signal: nil)
        case .failed: .exited(atMs: now, exitCode: 3, signal: nil)
        case .signalled: .exited(atMs: now, exitCode: nil, signal: 9)
        case .unhealthy: .healthCheckFailed(atMs: now)
        }
    }

    var reason: String {
        switch self {
        case .clean: "exited 0"
        case .failed: "exited 3"
        case .signalled: "killed by signal 9"
        case .unhealthy: "health check failed"
        }
    }
}

/// A supervisor whose first launch happened at `atMs`.
func running(_ mode: RestartMode, atMs start: Int64 = 0, crashLoopFailures: Int = 5) -> ServiceSupervisor {
    var s = ServiceSupervisor(config: .init(mode: mode, crashLoopFailures: crashLoopFailures))
    _ = s.handle(.started(atMs: start))
    return s
}

@Suite("ServiceSupervisor (injected clock)")
struct ServiceSupervisorTests {
    @Test("restart modes parse from their CLI strings")
    func parseModes() {
        #expect(RestartMode(rawValue: "always") == .always)
        #expect(RestartMode(rawValue: "on-failure") == .onFailure)
        #expect(RestartMode(rawValue: "never") == .never)
        #expect(RestartMode(rawValue: "onFailure") == nil)
        #expect(RestartMode.allCases.map(\.rawValue) == ["always", "on-failure", "never"])
    }

    @Test("every mode × exit kind: restart or stay down, with the exit kept",
          arguments: RestartMode.allCases, ExitKind.allCases)
    func policyMatrix(mode: RestartMode, kind: ExitKind) {
        let restarts = switch mode {
        case .always: true
        case .onFailure: kind != .clean
        case .never: false
        }
        var s = running(mode)
        #expect(s.handle(.healthy(atMs: 100)) == .none)
        let decision = s.handle(kind.event(atMs: 1_000))
        if restarts {
            #expect(decision == .restart(afterMs: 500))
            #expect(s.state == .restarting)
        } else {
            #expect(decision == .stayDown(reason: kind.reason))
            #expect(s.state == .exited)
        }
        #expect(s.lastExit?.atMs == 1_000)
        #expect(s.lastExit?.description == kind.reason)
        #expect(s.lastExit?.isSuccess == (kind == .clean))
    }

    @Test("lifecycle: STARTING → HEALTHY → RESTARTING → STARTING, counting restarts")
    func lifecycle() {
        var s = ServiceSupervisor(config: .init(mode: .always))
        #expect(s.state == .starting && s.startedAtMs == nil && s.restarts == 0 && s.lastExit == nil)
        #expect(s.handle(.started(atMs: 10)) == .none)
        #expect(s.state == .starting && s.startedAtMs == 10)
        #expect(s.handle(.healthy(atMs: 20)) == .none)
        #expect(s.state == .healthy)
        #expect(s.handle(.exited(atMs: 30, exitCode: 1, signal: nil)) == .restart(afterMs: 500))
        #expect(s.state == .restarting && s.restarts == 0)
        // A stale health report from the dead process changes nothing.
        #expect(s.handle(.healthy(atMs: 40)) == .none)
        #expect(s.state == .restarting)
        #expect(s.handle(.started(atMs: 530)) == .none)
        #expect(s.state == .starting && s.startedAtMs == 530 && s.restarts == 1)
        #expect(s.lastExit == ServiceExit(atMs: 30, exitCode: 1, signal: nil))
    }

    @Test("backoff doubles per quick failure and stops at the cap")
    func backoffDoublesAndCaps() {
        var s = ServiceSupervisor(config: .init(mode: .onFailure, crashLoopFailures: .max))
        var now: Int64 = 0
        var delays: [Int64] = []
        for _ in 0..<9 {
            _ = s.handle(.started(atMs: now))
            now += 100
            guard case .restart(let d) = s.handle(.exited(atMs: now, exitCode: 1, signal: nil)) else {
                Issue.record("expected a restart")
                return
            }
            delays.append(d)
            now += d
        }
        #expect(delays == [500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000])
        #expect(s.quickFailures == 9 && s.restarts == 8)
    }

    @Test("backoff arithmetic: custom values, initial above the cap, huge attempts")
    func backoffArithmetic() {
        let c = ServiceSupervisor.Config(mode: .always, initialBackoffMs: 3, maxBackoffMs: 20)
        #expect((0..<5).map { c.backoffMs(attempt: $0) } == [3, 6, 12, 20, 20])
        #expect(c.backoffMs(attempt: .max) == 20)
        let above = ServiceSupervisor.Config(mode: .always, initialBackoffMs: 1_000, maxBackoffMs: 10)
        #expect(above.backoffMs(attempt: 0) == 10 && above.backoffMs(attempt: 4) == 10)
        let zero = ServiceSupervisor.Config(mode: .always, initialBackoffMs: 0)
        #expect(zero.backoffMs(attempt: 1_000) == 0)
        let huge = ServiceSupervisor.Config(mode: .always, initialBackoffMs: 1, maxBackoffMs: .max)
        #expect(huge.backoffMs(attempt: 62) == 1 << 62 && huge.backoffMs(attempt: .max) == 1 << 62)
    }

    @Test("a run of stableAfterMs resets the backoff and the quick-failure count")
    func stableRunResets() {
        var s = running(.always)
        #expect(s.handle(.exited(atMs: 100, exitCode: 1, signal: nil)) == .restart(afterMs: 500))
        _ = s.handle(.started(atMs: 600))
        #expect(s.handle(.exited(atMs: 700, exitCode: 1, signal: nil)) == .restart(afterMs: 1_000))
        _ = s.handle(.started(atMs: 1_700))
        #expect(s.handle(.exited(atMs: 1_800, exitCode: 1, signal: nil)) == .restart(afterMs: 2_000))
        #expect(s.quickFailures == 3)
        // Exactly stableAfterMs (10 s) counts as stable.
        _ = s.handle(.started(atMs: 3_800))
        #expect(s.handle(.exited(atMs: 13_800, exitCode: 1, signal: nil)) == .restart(afterMs: 500))
        #expect(s.quickFailures == 0)
        // One millisecond short is quick again, and the backoff goes on from there.
        _ = s.handle(.started(atMs: 14_300))
        #expect(s.handle(.exited(atMs: 24_299, exitCode: 1, signal: nil)) == .restart(afterMs: 1_000))
        #expect(s.quickFailures == 1)
    }

    @Test("crashLoopFailures quick failures make a crash loop; a manual restart recovers")
    func crashLoopAndRecovery() {
        var s = running(.onFailure)
        var now: Int64 = 0
        for expected: Int64 in [500, 1_000, 2_000, 4_000] {
            now += 100
            #expect(s.handle(.exited(atMs: now, exitCode: 2, signal: nil)) == .restart(afterMs: expected))
            now += expected
            _ = s.handle(.started(atMs: now))
        }
        now += 100
        let fifth = ServiceExit(atMs: now, exitCode: 2, signal: nil)
        #expect(s.handle(.exited(atMs: now, exitCode: 2, signal: nil)) == .crashLoop(lastExit: fifth))
        #expect(s.state == .crashLoop && s.lastExit == fifth && s.quickFailures == 5)
        // Nothing starts it by itself: launches and stray exits are ignored.
        #expect(s.handle(.started(atMs: now + 60_000)) == .none)
        #expect(s.handle(.exited(atMs: now + 60_000, exitCode: 1, signal: nil)) == .none)
        #expect(s.state == .crashLoop && s.lastExit == fifth)

        #expect(s.handle(.restartRequested) == .restart(afterMs: 0))
        #expect(s.state == .restarting && s.quickFailures == 0)
        _ = s.handle(.started(atMs: 100_000))
        #expect(s.restarts == 5)
        // A fresh start: the backoff and the count begin again.
        #expect(s.handle(.exited(atMs: 100_100, exitCode: 2, signal: nil)) == .restart(afterMs: 500))
        #expect(s.quickFailures == 1)
    }

    @Test("under always, quick clean exits loop too; stable ones never count")
    func alwaysCountsQuickCleanExits() {
        var s = running(.always, crashLoopFailures: 2)
        #expect(s.handle(.exited(atMs: 100, exitCode: 0, signal: nil)) == .restart(afterMs: 500))
        _ = s.handle(.started(atMs: 600))
        #expect(s.handle(.exited(atMs: 700, exitCode: 0, signal: nil))
            == .crashLoop(lastExit: ServiceExit(atMs: 700, exitCode: 0, signal: nil)))

        var stable = running(.always, crashLoopFailures: 1)
        for i: Int64 in 1...5 {
            #expect(stable.handle(.exited(atMs: i * 20_000, exitCode: 0, signal: nil)) == .restart(afterMs: 500))
            _ = stable.handle(.started(atMs: i * 20_000 + 500))
        }
    }

    @Test("stop is final: later exits, launches and manual restarts change nothing")
    func stopIsFinal() {
        var s = running(.always)
        _ = s.handle(.healthy(atMs: 50))
        #expect(s.handle(.stopRequested) == .none)
        #expect(s.state == .stopped)
        #expect(s.handle(.exited(atMs: 200, exitCode: nil, signal: 15)) == .stayDown(reason: "stop requested"))
        #expect(s.lastExit == ServiceExit(atMs: 200, exitCode: nil, signal: 15))
        #expect(s.handle(.healthCheckFailed(atMs: 300)) == .stayDown(reason: "stop requested"))
        #expect(s.lastExit?.signal == 15)
        #expect(s.handle(.restartRequested) == .stayDown(reason: "stop requested"))
        #expect(s.handle(.started(atMs: 400)) == .none)
        #expect(s.handle(.healthy(atMs: 400)) == .none)
        #expect(s.state == .stopped && s.restarts == 0)
    }

    @Test("a stop while waiting for the backoff cancels the restart")
    func stopWhileRestarting() {
        var s = running(.always)
        #expect(s.handle(.exited(atMs: 100, exitCode: 1, signal: nil)) == .restart(afterMs: 500))
        _ = s.handle(.stopRequested)
        #expect(s.handle(.started(atMs: 600)) == .none)
        #expect(s.state == .stopped && s.restarts == 0)
    }

    @Test("a failed health check restarts per mode; the killed process's exit is ignored")
    func healthCheckFailure() {
        var s = running(.onFailure)
        _ = s.handle(.healthy(atMs: 100))
        #expect(s.handle(.healthCheckFailed(atMs: 5_000)) == .restart(afterMs: 500))
        #expect(s.handle(.exited(atMs: 5_010, exitCode: nil, signal: 9)) == .none)
        #expect(s.lastExit == ServiceExit(atMs: 5_000, exitCode: nil, signal: nil, healthCheckFailed: true))
        #expect(s.quickFailures == 1)

        var never = running(.never)
        #expect(never.handle(.healthCheckFailed(atMs: 5_000)) == .stayDown(reason: "health check failed"))
        #expect(never.handle(.exited(atMs: 5_010, exitCode: nil, signal: 9)) == .none)
        #expect(never.state == .exited && never.lastExit?.healthCheckFailed == true)
    }

    @Test("health-check failures count toward a crash loop, even before the first healthy")
    func healthCheckCrashLoop() {
        var s = running(.always, crashLoopFailures: 2)
        #expect(s.handle(.healthCheckFailed(atMs: 1_000)) == .restart(afterMs: 500))
        _ = s.handle(.started(atMs: 1_600))
        let decision = s.handle(.healthCheckFailed(atMs: 2_600))
        #expect(decision == .crashLoop(lastExit: ServiceExit(atMs: 2_600, exitCode: nil, signal: nil,
                                                             healthCheckFailed: true)))
    }

    @Test("a manual restart of a running service is immediate; the killed process's exit is ignored")
    func manualRestartWhileRunning() {
        var s = running(.never)
        _ = s.handle(.healthy(atMs: 100))
        #expect(s.handle(.restartRequested) == .restart(afterMs: 0))
        #expect(s.handle(.exited(atMs: 200, exitCode: nil, signal: 15)) == .none)
        #expect(s.lastExit == nil)
        _ = s.handle(.started(atMs: 210))
        #expect(s.state == .starting && s.restarts == 1)
    }

    @Test("a manual restart brings back a service that exited under never")
    func manualRestartAfterExit() {
        var s = running(.never)
        #expect(s.handle(.exited(atMs: 100, exitCode: 0, signal: nil)) == .stayDown(reason: "exited 0"))
        #expect(s.handle(.restartRequested) == .restart(afterMs: 0))
        _ = s.handle(.started(atMs: 150))
        #expect(s.state == .starting && s.restarts == 1)
    }

    @Test("a failed launch reported as started then exited counts as a quick failure")
    func failedLaunch() {
        var s = ServiceSupervisor(config: .init(mode: .onFailure))
        _ = s.handle(.started(atMs: 0))
        #expect(s.handle(.exited(atMs: 0, exitCode: nil, signal: nil)) == .restart(afterMs: 500))
        #expect(s.lastExit?.description == "exited with unknown status")
        #expect(s.quickFailures == 1)
    }

    @Test("jitter: seeded delays replay exactly and stay within [d/2, d]; immediate stays immediate")
    func jitter() {
        func delays(seed: UInt64) -> [Int64] {
            var rng = SplitMix64(seed: seed)
            var s = ServiceSupervisor(config: .init(mode: .always, crashLoopFailures: .max))
            var out: [Int64] = []
            for i: Int64 in 0..<8 {
                _ = s.handle(.started(atMs: i * 100_000), using: &rng)
                if case .restart(let d) = s.handle(.exited(atMs: i * 100_000 + 1, exitCode: 1, signal: nil),
                                                   using: &rng) {
                    out.append(d)
                }
            }
            return out
        }
        let a = delays(seed: 42)
        #expect(a == delays(seed: 42))
        #expect(a.count == 8)
        #expect(a != delays(seed: 43))
        let exact: [Int64] = [500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000]
        for (d, e) in zip(a, exact) { #expect(e / 2 <= d && d <= e) }

        var rng = SplitMix64(seed: 1)
        var s = running(.always)
        #expect(s.handle(.restartRequested, using: &rng) == .restart(afterMs: 0))
    }
}
