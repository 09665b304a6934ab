import TitanLoop
import TitanPolicy

/// Runs the ``FailureDetector`` on a loop timer and hands its verdicts to the scheduler.
public actor HeartbeatMonitor: LoopBound {
    public nonisolated let eventLoop: EventLoop
    private var detector: FailureDetector
    private let scheduler: SchedulerActor
    private let clockMs: @Sendable () -> Int64
    private var timer: LoopTimer?

    init(loop: EventLoop, scheduler: SchedulerActor, detector: FailureDetector,
         clockMs: @escaping @Sendable () -> Int64 = { Time.monotonicMs() }) {
        eventLoop = loop
        self.scheduler = scheduler
        self.detector = detector
        self.clockMs = clockMs
    }

    /// Starts checking every `everyMs`. Loop thread only.
    func start(everyMs: UInt64) {
        let timer = LoopTimer(loop: eventLoop)
        self.timer = timer
        timer.assumeIsolated { t in
            t.start(afterMs: everyMs, repeatMs: everyMs) { [weak self] in
                self?.assumeIsolated { $0.check() }
            }
        }
    }

    func heard(_ worker: String) {
        if let change = detector.heard(worker, atMs: clockMs()) {
            scheduler.assumeIsolated { $0.workerHealth(change.worker, change.health) }
        }
    }

    /// A worker that left on purpose (retired): no verdicts about it.
    func forget(_ worker: String) {
        detector.remove(worker)
    }

    func check() {
        let changes = detector.evaluate(nowMs: clockMs())
        guard !changes.isEmpty else { return }
        scheduler.assumeIsolated { s in
            for change in changes { s.workerHealth(change.worker, change.health) }
            s.schedule()
        }
    }

    func stop() {
        timer?.assumeIsolated { $0.close() }
        timer = nil
    }
}
