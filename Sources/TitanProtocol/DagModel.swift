/// DAGs: jobs with dependencies, submitted together and validated before anything runs.

/// Whether a job should run on the worker its first parent ran on (so it can read files the
/// parent left in the DAG's directory there).
public enum Affinity: UInt8, Sendable, Equatable, CaseIterable, Encodable {
    /// Any matching worker.
    case none = 0
    /// The parent's worker when it can take the job now, else any matching worker.
    case soft = 1
    /// Only the parent's worker: the job waits for it.
    case hard = 2

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(self == .none ? "none" : self == .soft ? "soft" : "hard")
    }
}

/// One job of a DAG as submitted.
public struct DagJobSpec: Sendable, Equatable, Encodable {
    /// Unique within the DAG (the master's id for it is `DAGID/ID`). Letters, digits, `-`, `_`,
    /// `.`; at most 128 characters.
    public var id: String
    public var spec: JobSpec
    /// Ids (within the same DAG) of the jobs that must complete first.
    public var dependsOn: [String]
    public var affinity: Affinity

    public init(id: String, spec: JobSpec, dependsOn: [String] = [], affinity: Affinity = .none) {
        self.id = id
        self.spec = spec
        self.dependsOn = dependsOn
        self.affinity = affinity
    }
}

/// The cluster at a glance (`getStats`): what the original Titan's STATS showed, and more.
public struct ClusterStats: Sendable, Equatable, Encodable {
    /// Jobs ready to run, waiting for a worker.
    public var queued: UInt32
    /// Jobs the master knows, by state.
    public var counts: JobCounts
    public var workers: [WorkerInfo]
    /// Recently finished jobs, oldest first.
    public var recent: [JobInfo]

    public init(queued: UInt32, counts: JobCounts, workers: [WorkerInfo], recent: [JobInfo]) {
        self.queued = queued
        self.counts = counts
        self.workers = workers
        self.recent = recent
    }
}

/// A DAG as submitted: lands whole or not at all.
public struct DagSpec: Sendable, Equatable, Encodable {
    /// A label shown in `titan dags` (need not be unique).
    public var name: String
    public var jobs: [DagJobSpec]

    public init(name: String, jobs: [DagJobSpec]) {
        self.name = name
        self.jobs = jobs
    }
}

/// A DAG's state, derived from its jobs': running while any job is pending or running; then
/// completed if all completed, cancelled if any was cancelled and none failed, else failed.
public enum DagState: UInt8, Sendable, Equatable, CaseIterable, CustomStringConvertible, Encodable {
    case running = 1
    case completed = 2
    case failed = 3
    case cancelled = 4

    public var isFinal: Bool { self != .running }

    public var description: String {
        switch self {
        case .running: "RUNNING"
        case .completed: "COMPLETED"
        case .failed: "FAILED"
        case .cancelled: "CANCELLED"
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// How many of a DAG's jobs are in each state.
public struct JobCounts: Sendable, Equatable, Encodable {
    public var pending: UInt32 = 0
    public var running: UInt32 = 0
    public var completed: UInt32 = 0
    public var failed: UInt32 = 0
    public var cancelled: UInt32 = 0
    public var skipped: UInt32 = 0

    public init() {}

    public init(pending: UInt32, running: UInt32, completed: UInt32, failed: UInt32, cancelled: UInt32, skipped: UInt32) {
        self.pending = pending
        self.running = running
        self.completed = completed
        self.failed = failed
        self.cancelled = cancelled
        self.skipped = skipped
    }

    public var total: UInt32 { pending + running + completed + failed + cancelled + skipped }

    public subscript(state: JobState) -> UInt32 {
        get {
            switch state {
            case .pending: pending
            case .running: running
            case .completed: completed
            case .failed: failed
            case .cancelled: cancelled
            case .skipped: skipped
            }
        }
        set {
            switch state {
            case .pending: pending = newValue
            case .running: running = newValue
            case .completed: completed = newValue
            case .failed: failed = newValue
            case .cancelled: cancelled = newValue
            case .skipped: skipped = newValue
            }
        }
    }
}

/// A DAG as the master knows it.
public struct DagInfo: Sendable, Equatable, Encodable {
    public var id: String
    public var name: String
    public var state: DagState
    public var submittedAtMs: Int64
    /// When it reached a final state; 0 while running.
    public var finishedAtMs: Int64
    public var counts: JobCounts
    /// Its jobs in submission order (empty in listings).
    public var jobs: [JobInfo]

    public init(id: String, name: String, state: DagState, submittedAtMs: Int64, finishedAtMs: Int64 = 0,
                counts: JobCounts, jobs: [JobInfo] = []) {
        self.id = id
        self.name = name
        self.state = state
        self.submittedAtMs = submittedAtMs
        self.finishedAtMs = finishedAtMs
        self.counts = counts
        self.jobs = jobs
    }
}

/// A DAG's state changed; pushed to its subscribers (after the job events that caused it).
public struct DagEvent: Sendable, Equatable, Encodable {
    public var dagId: String
    public var state: DagState
    public var counts: JobCounts

    public init(dagId: String, state: DagState, counts: JobCounts) {
        self.dagId = dagId
        self.state = state
        self.counts = counts
    }
}

/// A pipeline run on a cron schedule: each firing submits `dag` as a new DAG.
public struct ScheduleSpec: Sendable, Equatable, Encodable {
    /// Unique among schedules; submitting the same name again replaces the schedule.
    public var name: String
    /// 5-field cron or a macro (`@hourly`, `@daily`, ...).
    public var cron: String
    /// IANA time zone the cron fields are read in; empty means UTC.
    public var timeZone: String
    /// What to do when a run is due while the previous one still runs: `skip` (default),
    /// `allow`, or `cancel-previous`.
    public var overlap: String
    /// What to do with runs missed while the master was down: `skip` (default) or `run-once`.
    public var missed: String
    public var dag: DagSpec

    public init(name: String, cron: String, timeZone: String = "", overlap: String = "skip", missed: String = "skip",
                dag: DagSpec) {
        self.name = name
        self.cron = cron
        self.timeZone = timeZone
        self.overlap = overlap
        self.missed = missed
        self.dag = dag
    }
}

/// A schedule as the master knows it.
public struct ScheduleInfo: Sendable, Equatable, Encodable {
    public var name: String
    public var cron: String
    public var timeZone: String
    public var overlap: String
    public var missed: String
    /// When it fires next (ms since the epoch); 0 if never again.
    public var nextFireMs: Int64
    /// When it last fired; 0 if never.
    public var lastFireMs: Int64
    /// The DAG its last run submitted; empty if none.
    public var lastDagId: String
    /// Runs started so far.
    public var runs: UInt32
    /// Firings skipped (overlap) or missed so far.
    public var skipped: UInt32

    public init(name: String, cron: String, timeZone: String, overlap: String, missed: String, nextFireMs: Int64,
                lastFireMs: Int64, lastDagId: String, runs: UInt32, skipped: UInt32) {
        self.name = name
        self.cron = cron
        self.timeZone = timeZone
        self.overlap = overlap
        self.missed = missed
        self.nextFireMs = nextFireMs
        self.lastFireMs = lastFireMs
        self.lastDagId = lastDagId
        self.runs = runs
        self.skipped = skipped
    }
}
