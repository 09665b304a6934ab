import Logging
import Synchronization
import Testing
import TitanLoop
import TitanProtocol
@testable import TitanMaster

/// A peer that records what the scheduler sends it.
final class RecordingPeer: Peer {
    let sent = Mutex<[Envelope]>([])
    nonisolated func send(_ envelope: Envelope) { sent.withLock { $0.append(envelope) } }
    nonisolated func close() {}
    nonisolated var label: String { "recording" }

    func replies() -> [Message] { sent.withLock { $0.filter { $0.requestId != 0 }.map(\.message) } }
}

/// A clock the test moves by hand.
final class ManualClock: Sendable {
    let ms = Mutex<Int64>(0)
    func now() -> Int64 { ms.withLock { $0 } }
    func set(_ value: Int64) { ms.withLock { $0 = value } }
}

/// Cron schedules through the scheduler, with a hand-moved clock: no sockets, no sleeps.
@Suite struct CronSchedulingTests {
    /// 2026-01-01T00:00:00Z
    static let t0: Int64 = 1_767_225_600_000
    static let dag = DagSpec(name: "nightly", jobs: [DagJobSpec(id: "a", spec: JobSpec(command: ["true"]))])

    func withScheduler(_ body: @escaping @Sendable (isolated SchedulerActor, ManualClock, RecordingPeer) -> Void) async throws {
        let loop = EventLoop()
        let clock = ManualClock()
        clock.set(Self.t0)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let scheduler = SchedulerActor(loop: loop, logger: logger, wallClockMs: { clock.now() })
        let peer = RecordingPeer()
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            loop.execute {
                scheduler.assumeIsolated { s in
                    body(s, clock, peer)
                    s.close()
                }
                c.resume()
            }
        }
        #expect(await loop.shutdown() == 0)
    }

    @Test func aScheduleFiresWhenDueAndSkipsAnOverlappingRun() async throws {
        try await withScheduler { s, clock, peer in
            s.handle(Envelope(requestId: 1, message: .schedule(ScheduleSpec(name: "nightly", cron: "0 * * * *", dag: Self.dag))), from: peer)
            guard case .scheduled(let info) = peer.replies().last else {
                Issue.record("no scheduled reply: \(peer.replies())")
                return
            }
            #expect(info.nextFireMs == Self.t0 + 3_600_000)
            #expect(info.runs == 0)
            // Not yet due: nothing happens.
            s.cronDue()
            #expect(s.dags.isEmpty)
            clock.set(Self.t0 + 3_600_000)
            s.cronDue()
            #expect(s.dags.count == 1)
            #expect(s.schedules["nightly"]?.runs == 1)
            #expect(s.schedules["nightly"]?.nextFireMs == Self.t0 + 2 * 3_600_000)
            // The first run never got a worker, so it still runs: the default overlap skips.
            clock.set(Self.t0 + 2 * 3_600_000)
            s.cronDue()
            #expect(s.dags.count == 1)
            #expect(s.schedules["nightly"]?.skipped == 1)
        }
    }

    @Test func cancelPreviousCancelsTheRunningRunAndStartsANewOne() async throws {
        try await withScheduler { s, clock, peer in
            s.handle(Envelope(requestId: 1, message: .schedule(ScheduleSpec(name: "n", cron: "@hourly", overlap: "cancel-previous",
                                                                          dag: Self.dag))), from: peer)
            clock.set(Self.t0 + 3_600_000)
            s.cronDue()
            let first = s.schedules["n"]?.lastDagId
            clock.set(Self.t0 + 2 * 3_600_000)
            s.cronDue()
            let second = s.schedules["n"]?.lastDagId
            #expect(first != nil && second != nil && first != second)
            #expect(s.dags[first!]?.state == .cancelled)
            #expect(s.dags[second!]?.state == .running)
        }
    }

    @Test func badSchedulesAreRefusedNamingTheField() async throws {
        try await withScheduler { s, _, peer in
            let cases: [(ScheduleSpec, String)] = [
                (ScheduleSpec(name: "", cron: "@daily", dag: Self.dag), "'name'"),
                (ScheduleSpec(name: "x", cron: "61 * * * *", dag: Self.dag), "'cron'"),
                (ScheduleSpec(name: "x", cron: "* * *", dag: Self.dag), "'cron'"),
                (ScheduleSpec(name: "x", cron: "@daily", timeZone: "Mars/Olympus", dag: Self.dag), "'cron'"),
                (ScheduleSpec(name: "x", cron: "@daily", overlap: "sometimes", dag: Self.dag), "'overlap'"),
                (ScheduleSpec(name: "x", cron: "@daily", missed: "never", dag: Self.dag), "'missed'"),
                (ScheduleSpec(name: "x", cron: "@daily", dag: DagSpec(name: "x", jobs: [])), "at least one job"),
            ]
            for (i, (spec, field)) in cases.enumerated() {
                s.handle(Envelope(requestId: UInt32(i + 1), message: .schedule(spec)), from: peer)
                guard case .error(.invalidRequest, let text) = peer.replies().last else {
                    Issue.record("accepted \(spec)")
                    continue
                }
                #expect(text.contains(field), "\(text)")
            }
            #expect(s.schedules.isEmpty)
        }
    }

    @Test func unscheduleRemovesItAndNamesUnknownOnes() async throws {
        try await withScheduler { s, _, peer in
            s.handle(Envelope(requestId: 1, message: .schedule(ScheduleSpec(name: "n", cron: "@daily", dag: Self.dag))), from: peer)
            s.handle(Envelope(requestId: 2, message: .listSchedules), from: peer)
            guard case .schedules(let list) = peer.replies().last else {
                Issue.record("no list")
                return
            }
            #expect(list.map(\.name) == ["n"])
            s.handle(Envelope(requestId: 3, message: .unschedule(name: "n")), from: peer)
            #expect(peer.replies().last == .ok)
            s.handle(Envelope(requestId: 4, message: .unschedule(name: "n")), from: peer)
            #expect(peer.replies().last == .error(.notFound, "no schedule 'n'"))
            #expect(s.schedules.isEmpty)
        }
    }
}
