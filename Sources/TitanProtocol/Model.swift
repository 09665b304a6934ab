/// The value types that travel in messages. Both codecs (native and v1) decode into these; the
/// actors never see bytes.

/// What a user asks to run.
public struct JobSpec: Sendable, Equatable, Encodable {
    /// Program and arguments. `command[0]` is looked up in `PATH` when it has no `/`.
    public var command: [String]
    /// Extra environment variables, added to the worker's environment.
    public var environment: [String: String]
    /// Working directory on the worker; empty means the worker's job directory.
    public var workingDirectory: String
    /// Capability tags a worker must have, all of them. Empty means any worker.
    public var requirements: [String]
    /// Higher runs first; FIFO among equals.
    public var priority: Int32
    /// Optional user-chosen name, shown in status.
    public var name: String
    /// How many times a failed attempt is retried (0: never). A worker that dies does not use
    /// up a retry: its attempt is simply run again.
    public var retries: UInt32
    /// Delay before the first retry; doubles for each further one (capped at 5 minutes), with
    /// jitter.
    public var retryDelayMs: UInt64
    /// An attempt running longer than this is killed (its whole process group) and fails as
    /// timed out. 0: no limit.
    public var timeoutMs: UInt64
    /// The job is not started before this many milliseconds after submission.
    public var delayMs: UInt64
    /// Files and archives stored on the master that the worker puts in the job's working
    /// directory before starting it (fetched once per worker, cached by content hash).
    public var artifacts: [ArtifactRef]
    /// Set for an approval gate: no process runs; the job waits (holding no worker slot) until
    /// someone approves or rejects it, or its time runs out.
    public var gate: GateSpec?
    /// Set for a service in a DAG: the command is deployed as a service, and the job completes
    /// once it is healthy (its dependents can then use it).
    public var service: ServiceOptions?

    public init(command: [String], environment: [String: String] = [:], workingDirectory: String = "",
                requirements: [String] = [], priority: Int32 = 1, name: String = "", retries: UInt32 = 0,
                retryDelayMs: UInt64 = 1_000, timeoutMs: UInt64 = 0, delayMs: UInt64 = 0,
                artifacts: [ArtifactRef] = [], gate: GateSpec? = nil, service: ServiceOptions? = nil) {
        self.command = command
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.requirements = requirements
        self.priority = priority
        self.name = name
        self.retries = retries
        self.retryDelayMs = retryDelayMs
        self.timeoutMs = timeoutMs
        self.delayMs = delayMs
        self.artifacts = artifacts
        self.gate = gate
        self.service = service
    }
}

/// A human approval gate. Its decision is the KV key `titan:hitl:status:<job id>` (`APPROVED` or
/// `REJECTED`): the original Titan's gate convention, so approvals given either way work.
public struct GateSpec: Sendable, Equatable, Encodable {
    /// What the approver is asked.
    public var message: String
    /// The gate fails (TIMEOUT) if nobody decides within this; 0: no limit.
    public var timeoutMs: UInt64

    public init(message: String, timeoutMs: UInt64 = 172_800_000) {
        self.message = message
        self.timeoutMs = timeoutMs
    }
}

/// A job's life. `pending → running → completed | failed`, and `cancelled` from either.
public enum JobState: UInt8, Sendable, Equatable, CaseIterable, CustomStringConvertible {
    case pending = 0
    case running = 1
    case completed = 2
    case failed = 3
    case cancelled = 4
    /// Never ran: a job it depends on failed or was cancelled.
    case skipped = 5

    public var isFinal: Bool { self != .pending && self != .running }

    public var description: String {
        switch self {
        case .pending: "PENDING"
        case .running: "RUNNING"
        case .completed: "COMPLETED"
        case .failed: "FAILED"
        case .cancelled: "CANCELLED"
        case .skipped: "SKIPPED"
        }
    }
}

/// How one attempt of a job ended, as the worker saw it.
public struct JobResult: Sendable, Equatable, Encodable {
    /// Exit status when the process exited normally, else nil.
    public var exitCode: Int32?
    /// Signal number when the process was killed by a signal, else nil.
    public var signal: Int32?
    /// Set when the process could not be started (program not found, not executable, ...).
    public var error: String?
    /// Wall-clock times in milliseconds since the Unix epoch.
    public var startedAtMs: Int64
    public var finishedAtMs: Int64
    /// True when the worker killed the attempt for running past its timeout.
    public var timedOut: Bool

    public init(exitCode: Int32? = nil, signal: Int32? = nil, error: String? = nil,
                startedAtMs: Int64 = 0, finishedAtMs: Int64 = 0, timedOut: Bool = false) {
        self.exitCode = exitCode
        self.signal = signal
        self.error = error
        self.startedAtMs = startedAtMs
        self.finishedAtMs = finishedAtMs
        self.timedOut = timedOut
    }

    /// True when the process exited with status 0 in time.
    public var succeeded: Bool { exitCode == 0 && signal == nil && error == nil && !timedOut }
}

/// Which output stream a chunk of job output came from.
public enum OutputChannel: UInt8, Sendable, Equatable {
    case stdout = 1
    case stderr = 2
}

/// Everything the master knows about one job, as shown by `titan status`.
public struct JobInfo: Sendable, Equatable, Encodable {
    public var id: String
    public var spec: JobSpec
    public var state: JobState
    /// Number of dispatches so far.
    public var attempts: UInt32
    /// The worker of the current or last attempt; empty if never dispatched.
    public var workerId: String
    public var submittedAtMs: Int64
    /// The result of the last finished attempt, if any.
    public var result: JobResult?
    /// Why a pending job is not running yet (empty when not pending).
    public var pendingReason: String
    /// A pending job is not started before this time (ms since the epoch; 0: no constraint):
    /// its delay, or the backoff before a retry.
    public var notBeforeMs: Int64
    /// The DAG it belongs to; empty for a lone job.
    public var dagId: String
    /// The full ids of the jobs it depends on.
    public var parents: [String]

    public init(id: String, spec: JobSpec, state: JobState, attempts: UInt32 = 0, workerId: String = "",
                submittedAtMs: Int64 = 0, result: JobResult? = nil, pendingReason: String = "",
                notBeforeMs: Int64 = 0, dagId: String = "", parents: [String] = []) {
        self.id = id
        self.spec = spec
        self.state = state
        self.attempts = attempts
        self.workerId = workerId
        self.submittedAtMs = submittedAtMs
        self.result = result
        self.pendingReason = pendingReason
        self.notBeforeMs = notBeforeMs
        self.dagId = dagId
        self.parents = parents
    }

    /// Its id within its DAG (`extract` for `dag-3/extract`); the full id for a lone job.
    public var localId: String { dagId.isEmpty ? id : String(id.dropFirst(dagId.count + 1)) }
}

/// A worker as the master sees it.
public struct WorkerInfo: Sendable, Equatable, Encodable {
    public var id: String
    public var name: String
    public var capabilities: [String]
    public var slots: UInt32
    public var running: UInt32
    public var permanent: Bool
    /// Milliseconds since the master last heard from it.
    public var lastSeenAgoMs: Int64
    /// Jobs it is running now.
    public var runningJobs: [String]
    /// `ALIVE`; `SUSPECT` (missed heartbeats: no new work); `DISCONNECTED` (its attempts wait
    /// for it to come back until it is declared dead).
    public var health: String
    /// Service copies it runs (`NAME` or `NAME#i`).
    public var services: [String]
    /// How long it has had nothing to run, in milliseconds; -1 while busy.
    public var idleMs: Int64
    /// Where its services are reached ("" if unknown).
    public var address: String

    public init(id: String, name: String, capabilities: [String], slots: UInt32, running: UInt32,
                permanent: Bool, lastSeenAgoMs: Int64, runningJobs: [String], health: String = "ALIVE",
                services: [String] = [], idleMs: Int64 = -1, address: String = "") {
        self.id = id
        self.name = name
        self.capabilities = capabilities
        self.slots = slots
        self.running = running
        self.permanent = permanent
        self.lastSeenAgoMs = lastSeenAgoMs
        self.runningJobs = runningJobs
        self.health = health
        self.services = services
        self.idleMs = idleMs
        self.address = address
    }
}

/// A change of a job's state, pushed to subscribers.
public struct JobEvent: Sendable, Equatable, Encodable {
    public var jobId: String
    public var state: JobState
    public var attempt: UInt32
    public var workerId: String
    /// Present when the event ends an attempt.
    public var result: JobResult?

    public init(jobId: String, state: JobState, attempt: UInt32, workerId: String, result: JobResult? = nil) {
        self.jobId = jobId
        self.state = state
        self.attempt = attempt
        self.workerId = workerId
        self.result = result
    }
}

/// One attempt of a job sent to a worker.
public struct Dispatch: Sendable, Equatable {
    public var jobId: String
    /// Unique per dispatch of this job; completions for any other attempt are stale.
    public var attempt: UInt32
    public var spec: JobSpec

    public init(jobId: String, attempt: UInt32, spec: JobSpec) {
        self.jobId = jobId
        self.attempt = attempt
        self.spec = spec
    }
}

/// What a (re)registering worker tells the master.
public struct Registration: Sendable, Equatable {
    /// Stable across reconnects of the same worker process.
    public var workerId: String
    public var name: String
    public var capabilities: [String]
    public var slots: UInt32
    public var permanent: Bool
    /// Attempts it is running now (after a reconnect), as (jobId, attempt).
    public var running: [AttemptRef]
    /// Random per worker process: tells a reconnect of the same process from a second process
    /// started with the same id.
    public var instance: String
    /// The address jobs on other machines reach its services at ("": unknown): `--advertise`,
    /// else the local address of its connection to the master.
    public var address: String

    public init(workerId: String, name: String, capabilities: [String], slots: UInt32, permanent: Bool,
                running: [AttemptRef] = [], instance: String = "", address: String = "") {
        self.workerId = workerId
        self.name = name
        self.capabilities = capabilities
        self.slots = slots
        self.permanent = permanent
        self.running = running
        self.instance = instance
        self.address = address
    }
}

/// Names one attempt of one job.
public struct AttemptRef: Sendable, Equatable, Hashable {
    public var jobId: String
    public var attempt: UInt32

    public init(jobId: String, attempt: UInt32) {
        self.jobId = jobId
        self.attempt = attempt
    }
}
