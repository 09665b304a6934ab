import Foundation
import Synchronization
import TitanLoop
import TitanProtocol
import TitanRuntime

// An in-process harness for the master's scheduling core alone: a `SchedulerActor` on an event
// loop with no sockets, a fake worker that runs nothing (it records what is dispatched to it and
// reports each attempt completed), and a fake client that ignores replies. What it measures is
// the scheduler's own work per job: accept, queue, place, dispatch, complete, release, retain.

/// A worker without processes: records every dispatch sent to it. `send` runs on the loop thread
/// (inside the scheduler); the recorded dispatches are taken there too, so the lock is never
/// contended and only satisfies `Sendable`.
final class RecordingWorker: Peer {
    let label: String
    private let dispatched = Mutex<[Dispatch]>([])

    /// Attempts it takes at once (1,000,000: never the limit).
    let slots: UInt32

    init(label: String = "bench-worker", slots: UInt32 = 1_000_000) {
        self.label = label
        self.slots = slots
    }

    func send(_ envelope: Envelope) {
        guard case .dispatch(let dispatch) = envelope.message else { return }
        dispatched.withLock { $0.append(dispatch) }
    }

    func close() {}

    /// Moves the dispatches recorded so far into `buffer` (emptied first; storage is reused).
    func take(into buffer: inout [Dispatch]) {
        buffer.removeAll(keepingCapacity: true)
        dispatched.withLock { swap(&$0, &buffer) }
    }

    var registration: Registration {
        Registration(workerId: label, name: label, capabilities: ["GENERAL"], slots: slots, permanent: true,
                     instance: "bench-instance-" + label)
    }
}

/// A client that ignores every reply and push (`submitted`, `dagSubmitted`, ...).
final class SilentClient: Peer {
    let label = "bench-client"
    func send(_ envelope: Envelope) {}
    func close() {}
}

extension SchedulerActor {
    /// Registers `worker`.
    func registerWorker(_ worker: RecordingWorker) {
        handle(Envelope(requestId: 1, message: .register(worker.registration)), from: worker)
    }

    /// Submits `count` lone jobs, as `count` requests from `client`.
    func submitJobs(_ count: Int, _ spec: JobSpec, from client: any Peer) {
        for i in 0..<count {
            handle(Envelope(requestId: UInt32(truncatingIfNeeded: i + 1), message: .submit(spec, follow: false)), from: client)
        }
    }

    /// Submits one DAG from `client`.
    func submitDag(_ dag: DagSpec, from client: any Peer) {
        handle(Envelope(requestId: 1, message: .submitDag(dag, follow: false)), from: client)
    }

    /// What a master does per batch of worker messages, until nothing more is dispatched:
    /// `schedule()`, then every dispatch comes back finished (exit 0), one `handle` each.
    /// Returns the number of attempts completed.
    func runToCompletion(on worker: RecordingWorker) -> Int {
        var batch: [Dispatch] = []
        var completed = 0
        while true {
            schedule()
            worker.take(into: &batch)
            if batch.isEmpty { return completed }
            for d in batch {
                let ref = AttemptRef(jobId: d.jobId, attempt: d.attempt)
                handle(Envelope(requestId: 0, message: .jobFinished(ref, JobResult(exitCode: 0))), from: worker)
            }
            completed += batch.count
        }
    }

    /// Submits `count` lone jobs and runs them all (`count` at a time when `batch` is nil, else
    /// `batch` submitted and run at a time); returns the attempts completed.
    func runJobs(_ count: Int, batch: Int? = nil, on worker: RecordingWorker, from client: any Peer) -> Int {
        let step = batch ?? count
        var completed = 0
        var submitted = 0
        while submitted < count {
            let n = min(step, count - submitted)
            submitJobs(n, DagShape.trueJob, from: client)
            submitted += n
            completed += runToCompletion(on: worker)
        }
        return completed
    }
}

/// The loop the scheduling-only benchmarks run their schedulers on (one per benchmark).
actor SchedulerLoopBox {
    static let shared = SchedulerLoopBox()
    var loop: EventLoop?

    func start() {
        loop = EventLoop(name: "titan-master")
    }

    func stop() async {
        await loop?.shutdown()
        loop = nil
    }
}

/// A fresh scheduler on `loop` (default config: 10,000 finished jobs retained) with a fake worker
/// of `slots` slots registered.
func makeBenchScheduler(on loop: EventLoop, slots: UInt32 = 1_000_000, config: SchedulerConfig = SchedulerConfig()) async
    -> (scheduler: SchedulerActor, worker: RecordingWorker, client: SilentClient) {
    let scheduler = SchedulerActor(loop: loop, config: config, logger: EmbeddedCluster.defaultLogger)
    let worker = RecordingWorker(slots: slots)
    await scheduler.registerWorker(worker)
    return (scheduler, worker, SilentClient())
}

// MARK: memory

/// Resident set size of this process, in bytes (/proc/self/statm).
func residentBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .ascii) else { return 0 }
    let fields = text.split(separator: " ")
    guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
    return pages * sysconf(Int32(_SC_PAGESIZE))
}

/// Returns free heap memory to the system (glibc `malloc_trim(0)`, every arena), so that RSS
/// follows what is live rather than the heap's high-water mark. Looked up at run time: the Glibc
/// module does not export it.
func trimHeap() {
    typealias MallocTrim = @convention(c) (Int) -> Int32
    guard let symbol = dlsym(nil, "malloc_trim") else { return }
    _ = unsafeBitCast(symbol, to: MallocTrim.self)(0)
}

/// RSS after trimming the heap.
func trimmedResidentBytes() -> Int {
    trimHeap()
    return residentBytes()
}
