/// Every native TITAN_PROTO message, in every direction. A frame carries one message plus a
/// request id: requests pick a non-zero id, replies echo it, server pushes use 0.
public enum Message: Sendable, Equatable {
    // MARK: replies (either direction)
    /// Success with nothing to say.
    case ok
    /// Failure, with a machine-readable code and a message for humans.
    case error(ErrorCode, String)
    /// Liveness / round-trip probe; answered with `.pong`.
    case ping
    case pong

    // MARK: worker → master
    case register(Registration)
    /// Periodic liveness; carries the attempts the worker is running.
    case heartbeat(running: [AttemptRef])
    /// Complete output lines (or a final partial line at EOF) of one attempt.
    case jobOutput(AttemptRef, OutputChannel, [UInt8])
    case jobFinished(AttemptRef, JobResult)
    /// Ask for part of a stored artifact (with a request id); answered with `.artifactData` or
    /// `.error`.
    case fetchArtifact(ArtifactRange)

    // MARK: master → worker
    /// Reply to `.register`: the id the master knows the worker by, the heartbeat period, and
    /// the master's instance id (workers keep DAG directories per master instance, since DAG ids
    /// are only unique within one).
    case registered(workerId: String, heartbeatIntervalMs: UInt32, masterId: String)
    case dispatch(Dispatch)
    /// Kill this attempt's process group (cancel, or a stale attempt after a reconnect).
    case kill(AttemptRef)
    /// The master recorded this attempt's completion; the worker may forget it.
    case ackFinished(AttemptRef)
    case artifactData(ArtifactData)

    // MARK: client → master
    /// Submit a job. With `follow`, this connection is subscribed to the job's events and output
    /// before it can be dispatched, so not one line is missed.
    case submit(JobSpec, follow: Bool)
    case getStatus(jobId: String)
    case listWorkers
    case listJobs(limit: UInt32)
    /// Subscribe to a job's events (and output when `logs`); known output is replayed first.
    case subscribe(jobId: String, logs: Bool)
    case unsubscribe(jobId: String)
    case cancel(jobId: String)
    /// Ask for the stored output of a job: its last few MiB at most, after a line saying how
    /// much came before (read all of it with `.readLogs`).
    case getLogs(jobId: String)
    /// Ask for one page of a job's output; answered with `.logPage`.
    case readLogs(LogRead)
    /// Submit a DAG: validated whole, lands whole or not at all. With `follow`, this connection
    /// gets every job event and the DAG's own events from the start.
    case submitDag(DagSpec, follow: Bool)
    case getDag(dagId: String)
    case listDags(limit: UInt32)
    /// Create or replace a cron schedule; replied with `.scheduled`.
    case schedule(ScheduleSpec)
    case listSchedules
    case unschedule(name: String)
    /// One chunk of an upload: `.ok` when stored, `.artifactStored` after the last one.
    case uploadArtifact(UploadChunk)
    /// Look up a stored artifact by name; answered with `.artifactStored` or `.error(.notFound)`.
    case getArtifact(name: String)
    /// A KV read or write; answered with `.kvResult` (or `.error`, e.g. a set used as a string).
    case kv(KVOperation)
    /// Adds jobs to a running DAG (a job growing its own DAG: agent loops). Idempotent by job
    /// id: ids the DAG already has are left as they are. New jobs may depend on existing ones and
    /// on each other. Answered with `.dagSubmitted` listing the full ids of all the given jobs.
    case extendDag(dagId: String, jobs: [DagJobSpec])
    /// Cluster-wide counts, workers and recent jobs; answered with `.stats`.
    case getStats
    /// Deploy (or replace) a service; answered with `.serviceInfos` holding it.
    case deployService(ServiceSpec)
    case listServices
    /// Stop a service for good (`.ok`), or restart it now.
    case stopService(name: String)
    case restartService(name: String)

    // MARK: services, master ↔ worker
    /// Run this service (placement `generation`) and keep it alive per its policy.
    case runService(name: String, generation: UInt32, ServiceSpec)
    /// Stop this placement of the service (SIGTERM, then SIGKILL).
    case endService(name: String, generation: UInt32)
    /// Worker → master: a service's state changed.
    case serviceReport(ServiceReport)

    // MARK: master → client
    case submitted(jobId: String)
    case status(JobInfo)
    case workers([WorkerInfo])
    case jobs([JobInfo])
    case logs(jobId: String, [LogChunk])
    /// Reply to `.readLogs`.
    case logPage(LogPage)
    /// Pushed to subscribers (request id 0).
    case event(JobEvent)
    /// Pushed to subscribers that asked for logs (request id 0).
    case output(jobId: String, OutputChannel, [UInt8])
    /// Reply to `.submitDag`: the DAG's id and its jobs' full ids, in submission order.
    case dagSubmitted(dagId: String, jobIds: [String])
    case dag(DagInfo)
    case dags([DagInfo])
    /// Pushed to a DAG's subscribers when its state or counts change (request id 0).
    case dagEvent(DagEvent)
    /// Reply to `.schedule`: the schedule as stored, with its next fire time.
    case scheduled(ScheduleInfo)
    case schedules([ScheduleInfo])
    case artifactStored(ArtifactInfo)
    case kvResult(KVResult)
    case stats(ClusterStats)
    case serviceInfos([ServiceInfo])

    // Authentication (see TitanAuth's AuthExchange) and token administration.
    /// Client → master: which token, and the client's nonce.
    case authHello(tokenId: String, nonce: [UInt8])
    /// Master → client: the master's nonce.
    case authChallenge(nonce: [UInt8])
    /// Client → master: proof of holding the token's secret.
    case authProof([UInt8])
    /// Master → client: authenticated with this role; the master's own proof.
    case authOk(role: String, signature: [UInt8])
    case token(TokenOperation)
    case tokenResult(TokenResult)
}

/// A piece of a job's stored output.
public struct LogChunk: Sendable, Equatable {
    public var stream: OutputChannel
    public var bytes: [UInt8]

    public init(stream: OutputChannel, bytes: [UInt8]) {
        self.stream = stream
        self.bytes = bytes
    }
}

/// Machine-readable error codes carried by `.error`.
public enum ErrorCode: UInt16, Sendable, Equatable {
    case badFrame = 1
    case unknownOpcode = 2
    case malformedPayload = 3
    case unsupportedVersion = 4
    case frameTooLarge = 5
    case notFound = 10
    case invalidRequest = 11
    case unavailable = 12
    case internalError = 99
}

/// An addressed message: what one frame carries.
public struct Envelope: Sendable, Equatable {
    public var requestId: UInt32
    public var message: Message

    public init(requestId: UInt32, message: Message) {
        self.requestId = requestId
        self.message = message
    }
}

extension Message {
    /// A short name for logs and errors (the name of its native opcode).
    public var name: String { NativeCodec.name(ofOpcode: NativeCodec.opcode(of: self)) ?? "unknown" }
}
