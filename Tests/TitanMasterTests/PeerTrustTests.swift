import Logging
import Testing
import TitanLoop
import TitanProtocol
@testable import TitanMaster

/// Nothing a peer claims is believed: results, output and service reports count only from the
/// connection of the worker that holds the attempt, and a worker's identity cannot be taken over.
/// Driven through the scheduler without sockets.
@Suite struct PeerTrustTests {
    static func registration(_ id: String, instance: String, running: [AttemptRef] = []) -> Registration {
        Registration(workerId: id, name: id, capabilities: ["GENERAL"], slots: 2, permanent: true,
                     running: running, instance: instance)
    }

    static func dispatches(_ peer: RecordingPeer) -> [Dispatch] {
        peer.sent.withLock { $0.compactMap { if case .dispatch(let d) = $0.message { d } else { nil } } }
    }

    static func kills(_ peer: RecordingPeer) -> [AttemptRef] {
        peer.sent.withLock { $0.compactMap { if case .kill(let ref) = $0.message { ref } else { nil } } }
    }

    static func lastError(_ peer: RecordingPeer) -> String? {
        peer.sent.withLock { $0.compactMap { if case .error(_, let text) = $0.message { text } else { nil } }.last }
    }

    static let success = JobResult(exitCode: 0, startedAtMs: 1, finishedAtMs: 2)

    @Test func aResultOrOutputFromAConnectionThatDoesNotHoldTheAttemptIsIgnored() async {
        await withScheduler { s in
            let worker = RecordingPeer(), other = RecordingPeer(), client = RecordingPeer()
            s.handle(Envelope(requestId: 1, message: .register(Self.registration("w1", instance: "instance-w1"))), from: worker)
            s.handle(Envelope(requestId: 2, message: .register(Self.registration("w2", instance: "instance-w2"))), from: other)
            s.handle(Envelope(requestId: 3, message: .submit(JobSpec(command: ["sleep", "60"], requirements: ["GENERAL"]), follow: false)), from: client)
            s.schedule()
            let holder = Self.dispatches(worker).isEmpty ? other : worker
            let bystander = holder === worker ? other : worker
            guard let dispatch = Self.dispatches(holder).first else {
                Issue.record("the job was not dispatched")
                return
            }
            let ref = AttemptRef(jobId: dispatch.jobId, attempt: dispatch.attempt)
            // A plain client, then another registered worker, claim the attempt finished.
            s.handle(Envelope(requestId: 0, message: .jobFinished(ref, Self.success)), from: client)
            s.handle(Envelope(requestId: 0, message: .jobOutput(ref, .stdout, Array("forged\n".utf8))), from: client)
            s.handle(Envelope(requestId: 0, message: .jobFinished(ref, Self.success)), from: bystander)
            s.handle(Envelope(requestId: 0, message: .jobOutput(ref, .stdout, Array("forged\n".utf8))), from: bystander)
            #expect(s.jobs[ref.jobId]?.info.state == .running)
            #expect(s.jobs[ref.jobId]?.logs.bytes == 0)
            #expect(Self.lastError(client)?.contains("registered worker") == true)
            // A stale attempt number from the holder counts neither.
            s.handle(Envelope(requestId: 0, message: .jobFinished(AttemptRef(jobId: ref.jobId, attempt: ref.attempt + 1), Self.success)),
                     from: holder)
            #expect(s.jobs[ref.jobId]?.info.state == .running)
            // The holder's own report does.
            s.handle(Envelope(requestId: 0, message: .jobOutput(ref, .stdout, Array("real\n".utf8))), from: holder)
            s.handle(Envelope(requestId: 0, message: .jobFinished(ref, Self.success)), from: holder)
            #expect(s.jobs[ref.jobId]?.info.state == .completed)
            #expect(s.jobs[ref.jobId]?.logs.retained.map(\.bytes) == [Array("real\n".utf8)])
        }
    }

    @Test func aWorkerIdCannotBeTakenOver() async {
        await withScheduler { s in
            let real = RecordingPeer(), impostor = RecordingPeer(), client = RecordingPeer()
            s.handle(Envelope(requestId: 1, message: .register(Self.registration("w1", instance: "instance-real"))), from: real)
            s.handle(Envelope(requestId: 2, message: .submit(JobSpec(command: ["sleep", "60"]), follow: false)), from: client)
            s.schedule()
            guard let dispatch = Self.dispatches(real).first else {
                Issue.record("the job was not dispatched")
                return
            }
            let ref = AttemptRef(jobId: dispatch.jobId, attempt: dispatch.attempt)
            // An empty or short token, and another process's token while the real one is connected.
            for instance in ["", "short", "instance-other"] {
                s.handle(Envelope(requestId: 3, message: .register(Self.registration("w1", instance: instance, running: [ref]))),
                         from: impostor)
                #expect(s.registry.workerId(of: impostor) == nil, "registration with token '\(instance)' was accepted")
            }
            #expect(Self.lastError(impostor)?.contains("in use by another connected worker") == true)
            #expect(s.registry.workerId(of: real) == "w1")
            #expect(s.jobs[ref.jobId]?.info.state == .running)

            // A connection registered as one worker cannot register as another.
            s.handle(Envelope(requestId: 4, message: .register(Self.registration("w9", instance: "instance-real"))), from: real)
            #expect(Self.lastError(real)?.contains("already registered as worker 'w1'") == true)
            #expect(s.registry["w9"] == nil)

            // Once the real worker's connection is gone, a new process may use the id, but what the
            // old process held is re-queued, not handed to the newcomer.
            s.peerClosed(real)
            let newcomer = RecordingPeer()
            s.handle(Envelope(requestId: 5, message: .register(Self.registration("w1", instance: "instance-new", running: [ref]))),
                     from: newcomer)
            #expect(s.registry.workerId(of: newcomer) == "w1")
            #expect(Self.kills(newcomer).contains(ref))
            #expect(s.jobs[ref.jobId]?.info.state != .running || s.jobs[ref.jobId]?.info.attempts != ref.attempt)
        }
    }

    @Test func theSameProcessReconnectingKeepsItsAttemptsAndItsHeldResultCounts() async {
        await withScheduler { s in
            let first = RecordingPeer(), client = RecordingPeer()
            s.handle(Envelope(requestId: 1, message: .register(Self.registration("w1", instance: "instance-w1"))), from: first)
            s.handle(Envelope(requestId: 2, message: .submit(JobSpec(command: ["true"]), follow: false)), from: client)
            s.schedule()
            guard let dispatch = Self.dispatches(first).first else {
                Issue.record("the job was not dispatched")
                return
            }
            let ref = AttemptRef(jobId: dispatch.jobId, attempt: dispatch.attempt)
            // The connection drops before the result is sent; the worker comes back on a new one,
            // naming the attempt it holds the result of, then sends the result.
            s.peerClosed(first)
            let second = RecordingPeer()
            s.handle(Envelope(requestId: 3, message: .register(Self.registration("w1", instance: "instance-w1", running: [ref]))),
                     from: second)
            #expect(Self.kills(second).isEmpty)
            s.handle(Envelope(requestId: 0, message: .jobFinished(ref, Self.success)), from: second)
            #expect(s.jobs[ref.jobId]?.info.state == .completed)
            #expect(s.jobs[ref.jobId]?.info.attempts == 1)
        }
    }

    @Test func registrationsWithBadNamesAreRefusedWithTheReason() async {
        await withScheduler { s in
            for (id, reason) in [("", "must not be empty"), ("..", "must start with"), ("w\u{0}1", "a NUL byte"),
                                 ("w\u{1b}[31m", "control character"), ("a/b", "contains '/'"),
                                 (String(repeating: "w", count: 129), "longer than 128")] {
                let peer = RecordingPeer()
                s.handle(Envelope(requestId: 1, message: .register(Self.registration(id, instance: "instance-x"))), from: peer)
                #expect(s.registry.workerId(of: peer) == nil)
                let error = Self.lastError(peer) ?? ""
                #expect(error.contains(reason), "\(Names.printable(id)): \(error)")
                #expect(!error.contains("\u{0}") && !error.contains("\u{1b}"))
            }
            #expect(s.registry.entries.isEmpty)
        }
    }
}
