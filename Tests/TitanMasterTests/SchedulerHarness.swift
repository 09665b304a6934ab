import Logging
import Testing
import TitanLoop
@testable import TitanMaster

/// Runs `body` on a scheduler of its own (on a loop of its own, no sockets), then closes both and
/// checks every handle was closed.
func withScheduler(config: SchedulerConfig = SchedulerConfig(),
                   _ body: @escaping @Sendable (isolated SchedulerActor) -> Void) async {
    let loop = EventLoop()
    var logger = Logger(label: "test")
    logger.logLevel = .critical
    let scheduler = SchedulerActor(loop: loop, config: config, logger: logger)
    await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
        loop.execute {
            scheduler.assumeIsolated { s in
                body(s)
                s.close()
            }
            c.resume()
        }
    }
    #expect(await loop.shutdown() == 0)
}
