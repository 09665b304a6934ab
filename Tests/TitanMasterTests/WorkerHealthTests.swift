import Logging
import Testing
import TitanLoop
import TitanProtocol
@testable import TitanMaster

/// What `titan workers` says about a worker's health, driven without sockets.
@Suite struct WorkerHealthTests {
    @Test func aWorkerIsAliveThenSuspectThenDisconnected() async throws {
        let loop = EventLoop()
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let scheduler = SchedulerActor(loop: loop, logger: logger)
        let worker = RecordingPeer()
        let client = RecordingPeer()
        let healths: [String] = await withCheckedContinuation { c in
            loop.execute {
                let result = scheduler.assumeIsolated { s -> [String] in
                    var seen: [String] = []
                    s.handle(Envelope(requestId: 1, message: .register(Registration(
                        workerId: "w", name: "w", capabilities: ["GENERAL"], slots: 1, permanent: true, instance: "test-instance-w"))), from: worker)
                    seen.append(s.workerInfos().first?.health ?? "none")
                    s.workerHealth("w", .suspect)
                    seen.append(s.workerInfos().first?.health ?? "none")
                    s.workerHealth("w", .alive)
                    seen.append(s.workerInfos().first?.health ?? "none")
                    s.peerClosed(worker)
                    seen.append(s.workerInfos().first?.health ?? "none")
                    s.handle(Envelope(requestId: 2, message: .listWorkers), from: client)
                    s.close()
                    return seen
                }
                c.resume(returning: result)
            }
        }
        #expect(healths == ["ALIVE", "SUSPECT", "ALIVE", "DISCONNECTED"])
        guard case .workers(let list) = client.replies().last else {
            Issue.record("no workers reply")
            return
        }
        #expect(list.map(\.health) == ["DISCONNECTED"])
        #expect(await loop.shutdown() == 0)
    }
}
