/// The native TITAN_PROTO codec (frame version 2).
///
/// A native frame's payload is the request id (u32 big-endian) followed by the message's fields in
/// declaration order, encoded as described in BinaryCoding.swift. Nothing may follow the last field.
/// Requests use a non-zero request id, replies echo it, server pushes use 0. Frame flags are
/// currently unused (written as given, ignored when decoding).
///
/// Opcodes:
///
///     replies (either direction)   worker → master            master → worker
///     0x01 ok                      0x10 register              0x20 registered
///     0x02 error                   0x11 heartbeat             0x21 dispatch
///     0x03 ping                    (0x12 retired)             0x22 kill
///     0x04 pong                    0x13 jobOutput             0x23 ackFinished
///                                  0x14 jobFinished           0x24 artifactData
///                                  0x15 fetchArtifact
///
///     client → master              master → client
///     0x30 submit                  0x40 submitted
///     0x31 getStatus               0x41 status
///     0x32 listWorkers             0x42 workers
///     0x33 listJobs                0x43 jobs
///     0x34 subscribe               0x44 logs
///     0x35 unsubscribe             0x45 event
///     0x36 cancel                  0x46 output
///     0x37 getLogs                 0x47 dagSubmitted
///     0x38 submitDag               0x48 dag
///     0x39 getDag                  0x49 dags
///     0x3A listDags                0x4A dagEvent
///     0x3B schedule                0x4B scheduled
///     0x3C listSchedules           0x4C schedules
///     0x3D unschedule              0x4D artifactStored
///     0x3E uploadArtifact
///     0x3F getArtifact
///     0x60 kv                      0x61 kvResult
///     0x62 extendDag
///     0x63 getStats                0x64 stats
///     0x65 deployService           0x66 serviceInfos
///     0x67 listServices
///     0x68 stopService             (master → worker) 0x6A runService, 0x6B endService
///     0x69 restartService          (worker → master) 0x6C serviceReport
///     0x6D readLogs                0x6E logPage
///
///     authentication (client → master, master → client), token administration
///     0x70 authHello               0x71 authChallenge
///     0x72 authProof               0x73 authOk
///     0x74 token                   0x75 tokenResult
///
/// Payloads (after the request id):
///
///     ok, ping, pong, listWorkers   (empty)
///     error          code u16, message string
///     register       Registration
///     heartbeat      running [AttemptRef]
///     jobOutput      AttemptRef, stream u8, bytes
///     jobFinished    AttemptRef, JobResult
///     registered     workerId string, heartbeatIntervalMs u32, masterId string
///     fetchArtifact  hash string, offset u64, length u32
///     artifactData   hash string, offset u64, total u64, bytes
///     uploadArtifact uploadId u32, name string, kind u8, offset u64, bytes, last bool
///     getArtifact    name string
///     artifactStored name string, hash string, size u64, kind u8
///     kv             op u8, key string, then by op: set value bytes, ttlMs u64; sadd/srem member
///                    string; incr by i64; get/del/smembers nothing
///     kvResult       kind u8, then value bytes? | integer i64 | members [string]
///     extendDag      dagId string, DagSpec (its name is ignored)
///     getStats       (empty)
///     stats          queued u32, JobCounts, workers [WorkerInfo], recent [JobInfo]
///     deployService  ServiceSpec      serviceInfos [ServiceInfo]      listServices (empty)
///     stopService, restartService     name string
///     runService     name string, generation u32, ServiceSpec
///     endService     name string, generation u32
///     serviceReport  name, generation u32, state, pid i32, port i32, restarts u32, lastExit, startedAtMs i64
///     authHello      tokenId string, nonce bytes          authChallenge  nonce bytes
///     authProof      proof bytes                          authOk         role string, signature bytes
///     token          op u8, then by op: create role string, name string, ttlMs u64; list nothing;
///                    revoke id string
///     tokenResult    kind u8, then created TokenInfo, token string | list [TokenInfo]
///     TokenInfo      id, role, name: string; createdAtMs i64, expiresAtMs i64
///     ServiceSpec    name, command [string], environment {string: string}, requirements [string],
///                    restart string, port i32, health string, artifacts [ArtifactRef], replicas u32,
///                    dag string
///     ServiceInfo    ServiceSpec, state, workerId, pid i32, port i32, restarts u32, lastExit, startedAtMs i64,
///                    replica u32, host string
///     dispatch       Dispatch
///     kill           AttemptRef
///     ackFinished    AttemptRef
///     submit         JobSpec, follow bool
///     getStatus, unsubscribe, cancel, getLogs, submitted, getDag   id string
///     listJobs, listDags   limit u32
///     submitDag      name string, jobs [DagJobSpec], follow bool
///     dagSubmitted   dagId string, jobIds [string]
///     dag            DagInfo
///     dags           [DagInfo]
///     dagEvent       dagId string, state u8, JobCounts
///     schedule       name, cron, timeZone, overlap, missed: string; DagSpec
///     listSchedules  (empty)
///     unschedule     name string
///     scheduled      ScheduleInfo
///     schedules      [ScheduleInfo]
///     subscribe      jobId string, logs bool
///     status         JobInfo
///     workers        [WorkerInfo]
///     jobs           [JobInfo]
///     logs           jobId string, [LogChunk]   (getLogs: the last 4 MiB at most, after a line
///                    saying how many earlier bytes were omitted)
///     readLogs       jobId string, cursor u64 (0: the beginning), limit u32 (max output bytes; the
///                    master caps it at 1 MiB), tailLines u32 (0: none), sinceMs i64 (0: none)
///     logPage        jobId string, chunks [LogChunk], next u64 (the cursor of the next page),
///                    end bool (finished, nothing after next), skipped u64 (bytes lost before the page)
///     event          JobEvent
///     output         jobId string, stream u8, bytes
///
///     DagSpec        name string, jobs [DagJobSpec]
///     DagJobSpec     id string, spec JobSpec, dependsOn [string], affinity u8
///     ScheduleInfo   name, cron, timeZone, overlap, missed: string; nextFireMs i64, lastFireMs i64,
///                    lastDagId string, runs u32, skipped u32
///     DagInfo        id string, name string, state u8, submittedAtMs i64, finishedAtMs i64,
///                    JobCounts, jobs [JobInfo]
///     JobCounts      pending, running, completed, failed, cancelled, skipped: u32 each
///
///     AttemptRef     jobId string, attempt u32
///     JobSpec        command [string], environment {string: string}, workingDirectory string,
///                    requirements [string], priority i32, name string, retries u32,
///                    retryDelayMs u64, timeoutMs u64, delayMs u64, artifacts [ArtifactRef],
///                    gate (message string, timeoutMs u64)?, service ServiceOptions?
///     ServiceOptions name string, restart string, port i32, health string, replicas u32, keep bool
///     ArtifactRef    hash string, size u64, kind u8, destination string, executable bool
///     JobResult      exitCode i32?, signal i32?, error string?, startedAtMs i64, finishedAtMs i64,
///                    timedOut bool
///     Registration   workerId string, name string, capabilities [string], slots u32, permanent bool,
///                    running [AttemptRef], instance string, address string
///     Dispatch       jobId string, attempt u32, spec JobSpec
///     JobInfo        id string, spec JobSpec, state u8, attempts u32, workerId string,
///                    submittedAtMs i64, result JobResult?, pendingReason string, notBeforeMs i64,
///                    dagId string, parents [string]
///     WorkerInfo     id string, name string, capabilities [string], slots u32, running u32,
///                    permanent bool, lastSeenAgoMs i64, runningJobs [string], health string,
///                    services [string], idleMs i64 (-1: busy), address string
///     JobEvent       jobId string, state u8, attempt u32, workerId string, result JobResult?
///     LogChunk       stream u8, bytes
///
/// `JobState`, `OutputChannel`, `ArtifactKind` (u8) and `ErrorCode` (u16) are their raw values; unknown values are
/// malformed.

/// The native opcodes, one per `Message` case.
public enum NativeOpcode: UInt8, Sendable, CaseIterable {
    case ok = 0x01
    case error = 0x02
    case ping = 0x03
    case pong = 0x04

    case register = 0x10
    case heartbeat = 0x11
    case jobOutput = 0x13
    case jobFinished = 0x14
    case fetchArtifact = 0x15

    case registered = 0x20
    case dispatch = 0x21
    case kill = 0x22
    case ackFinished = 0x23
    case artifactData = 0x24

    case submit = 0x30
    case getStatus = 0x31
    case listWorkers = 0x32
    case listJobs = 0x33
    case subscribe = 0x34
    case unsubscribe = 0x35
    case cancel = 0x36
    case getLogs = 0x37
    case submitDag = 0x38
    case getDag = 0x39
    case listDags = 0x3A
    case schedule = 0x3B
    case listSchedules = 0x3C
    case unschedule = 0x3D
    case uploadArtifact = 0x3E
    case getArtifact = 0x3F

    case submitted = 0x40
    case status = 0x41
    case workers = 0x42
    case jobs = 0x43
    case logs = 0x44
    case event = 0x45
    case output = 0x46
    case dagSubmitted = 0x47
    case dag = 0x48
    case dags = 0x49
    case dagEvent = 0x4A
    case scheduled = 0x4B
    case schedules = 0x4C
    case artifactStored = 0x4D
    case kv = 0x60
    case kvResult = 0x61
    case extendDag = 0x62
    case getStats = 0x63
    case stats = 0x64
    case deployService = 0x65
    case serviceInfos = 0x66
    case listServices = 0x67
    case stopService = 0x68
    case restartService = 0x69
    case runService = 0x6A
    case endService = 0x6B
    case serviceReport = 0x6C
    case readLogs = 0x6D
    case logPage = 0x6E

    case authHello = 0x70
    case authChallenge = 0x71
    case authProof = 0x72
    case authOk = 0x73
    case token = 0x74
    case tokenResult = 0x75

    /// The message's name, as in `Message`.
    public var name: String {
        switch self {
        case .ok: "ok"
        case .error: "error"
        case .ping: "ping"
        case .pong: "pong"
        case .register: "register"
        case .heartbeat: "heartbeat"
        case .jobOutput: "jobOutput"
        case .jobFinished: "jobFinished"
        case .registered: "registered"
        case .dispatch: "dispatch"
        case .kill: "kill"
        case .ackFinished: "ackFinished"
        case .submit: "submit"
        case .getStatus: "getStatus"
        case .listWorkers: "listWorkers"
        case .listJobs: "listJobs"
        case .subscribe: "subscribe"
        case .unsubscribe: "unsubscribe"
        case .cancel: "cancel"
        case .getLogs: "getLogs"
        case .submitted: "submitted"
        case .status: "status"
        case .workers: "workers"
        case .jobs: "jobs"
        case .logs: "logs"
        case .event: "event"
        case .output: "output"
        case .submitDag: "submitDag"
        case .getDag: "getDag"
        case .listDags: "listDags"
        case .dagSubmitted: "dagSubmitted"
        case .dag: "dag"
        case .dags: "dags"
        case .dagEvent: "dagEvent"
        case .schedule: "schedule"
        case .listSchedules: "listSchedules"
        case .unschedule: "unschedule"
        case .scheduled: "scheduled"
        case .schedules: "schedules"
        case .fetchArtifact: "fetchArtifact"
        case .artifactData: "artifactData"
        case .uploadArtifact: "uploadArtifact"
        case .getArtifact: "getArtifact"
        case .artifactStored: "artifactStored"
        case .kv: "kv"
        case .kvResult: "kvResult"
        case .extendDag: "extendDag"
        case .getStats: "getStats"
        case .stats: "stats"
        case .deployService: "deployService"
        case .serviceInfos: "serviceInfos"
        case .listServices: "listServices"
        case .stopService: "stopService"
        case .restartService: "restartService"
        case .runService: "runService"
        case .endService: "endService"
        case .serviceReport: "serviceReport"
        case .authHello: "authHello"
        case .authChallenge: "authChallenge"
        case .authProof: "authProof"
        case .authOk: "authOk"
        case .token: "token"
        case .tokenResult: "tokenResult"
        case .readLogs: "readLogs"
        case .logPage: "logPage"
        }
    }
}

/// A frame whose payload cannot be decoded. The framing is intact: reply with an `.error` and keep
/// the connection.
public enum ProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
    case unknownOpcode(UInt8)
    /// `reason` names the field and the problem, e.g. `field 'command[2]': truncated ...`.
    case malformed(opcode: UInt8, reason: String)

    public var description: String {
        switch self {
        case .unknownOpcode(let opcode):
            return "unknown opcode \(hex(opcode))"
        case .malformed(let opcode, let reason):
            if let name = NativeCodec.name(ofOpcode: opcode) {
                return "malformed payload for opcode \(hex(opcode)) (\(name)): \(reason)"
            }
            return "malformed payload for opcode \(hex(opcode)): \(reason)"
        }
    }

    /// The code to send back in an `.error` reply.
    public var code: ErrorCode {
        switch self {
        case .unknownOpcode: .unknownOpcode
        case .malformed: .malformedPayload
        }
    }
}

/// `0x3a`-style formatting of a byte.
private func hex(_ byte: UInt8) -> String {
    let digits = String(byte, radix: 16)
    return byte < 0x10 ? "0x0" + digits : "0x" + digits
}

public enum NativeCodec {
    /// A complete version-2 frame carrying `envelope`.
    public static func encode(_ envelope: Envelope, flags: UInt8 = 0) -> [UInt8] {
        var writer = BinaryWriter(capacity: TitanProto.headerSize + estimatedPayloadSize(envelope.message))
        write(envelope, flags: flags, to: &writer)
        return writer.bytes
    }

    /// Appends a complete version-2 frame carrying `envelope` to `buffer`.
    public static func encode(_ envelope: Envelope, flags: UInt8 = 0, into buffer: inout [UInt8]) {
        var writer = BinaryWriter()
        swap(&writer.bytes, &buffer)
        writer.reserveCapacity(additional: TitanProto.headerSize + estimatedPayloadSize(envelope.message))
        write(envelope, flags: flags, to: &writer)
        swap(&writer.bytes, &buffer)
    }

    /// The envelope carried by a native frame. The frame's version and flags are not looked at:
    /// route frames to this codec by version.
    public static func decode(_ frame: Frame) throws(ProtocolError) -> Envelope {
        guard let opcode = NativeOpcode(rawValue: frame.opcode) else {
            throw .unknownOpcode(frame.opcode)
        }
        var reader = BinaryReader(frame.payload, opcode: frame.opcode)
        let requestId = try reader.readU32("requestId")
        let message = try reader.readMessage(opcode)
        try reader.expectEnd()
        return Envelope(requestId: requestId, message: message)
    }

    public static func opcode(of message: Message) -> UInt8 {
        nativeOpcode(of: message).rawValue
    }

    /// The message name for a native opcode, or nil if the opcode is unknown.
    public static func name(ofOpcode opcode: UInt8) -> String? {
        NativeOpcode(rawValue: opcode)?.name
    }

    public static func nativeOpcode(of message: Message) -> NativeOpcode {
        switch message {
        case .ok: .ok
        case .error: .error
        case .ping: .ping
        case .pong: .pong
        case .register: .register
        case .heartbeat: .heartbeat
        case .jobOutput: .jobOutput
        case .jobFinished: .jobFinished
        case .registered: .registered
        case .dispatch: .dispatch
        case .kill: .kill
        case .ackFinished: .ackFinished
        case .submit: .submit
        case .getStatus: .getStatus
        case .listWorkers: .listWorkers
        case .listJobs: .listJobs
        case .subscribe: .subscribe
        case .unsubscribe: .unsubscribe
        case .cancel: .cancel
        case .getLogs: .getLogs
        case .submitted: .submitted
        case .status: .status
        case .workers: .workers
        case .jobs: .jobs
        case .logs: .logs
        case .event: .event
        case .output: .output
        case .submitDag: .submitDag
        case .getDag: .getDag
        case .listDags: .listDags
        case .dagSubmitted: .dagSubmitted
        case .dag: .dag
        case .dags: .dags
        case .dagEvent: .dagEvent
        case .schedule: .schedule
        case .listSchedules: .listSchedules
        case .unschedule: .unschedule
        case .scheduled: .scheduled
        case .schedules: .schedules
        case .fetchArtifact: .fetchArtifact
        case .artifactData: .artifactData
        case .uploadArtifact: .uploadArtifact
        case .getArtifact: .getArtifact
        case .artifactStored: .artifactStored
        case .kv: .kv
        case .kvResult: .kvResult
        case .extendDag: .extendDag
        case .getStats: .getStats
        case .stats: .stats
        case .deployService: .deployService
        case .serviceInfos: .serviceInfos
        case .listServices: .listServices
        case .stopService: .stopService
        case .restartService: .restartService
        case .runService: .runService
        case .endService: .endService
        case .serviceReport: .serviceReport
        case .authHello: .authHello
        case .authChallenge: .authChallenge
        case .authProof: .authProof
        case .authOk: .authOk
        case .token: .token
        case .tokenResult: .tokenResult
        case .readLogs: .readLogs
        case .logPage: .logPage
        }
    }

    // MARK: encoding

    private static func write(_ envelope: Envelope, flags: UInt8, to w: inout BinaryWriter) {
        let header = w.beginFrame(version: TitanProto.nativeVersion, opcode: opcode(of: envelope.message), flags: flags)
        w.writeU32(envelope.requestId)
        switch envelope.message {
        case .ok, .ping, .pong, .listWorkers, .listSchedules, .getStats, .listServices:
            break
        case .error(let code, let message):
            w.writeU16(code.rawValue)
            w.writeString(message)
        case .register(let registration):
            w.write(registration)
        case .heartbeat(let running):
            w.writeArray(running) { $0.write($1) }
        case .jobOutput(let ref, let stream, let bytes):
            w.write(ref)
            w.writeU8(stream.rawValue)
            w.writeBytes(bytes)
        case .jobFinished(let ref, let result):
            w.write(ref)
            w.write(result)
        case .registered(let workerId, let heartbeatIntervalMs, let masterId):
            w.writeString(workerId)
            w.writeU32(heartbeatIntervalMs)
            w.writeString(masterId)
        case .dispatch(let dispatch):
            w.writeString(dispatch.jobId)
            w.writeU32(dispatch.attempt)
            w.write(dispatch.spec)
        case .kill(let ref), .ackFinished(let ref):
            w.write(ref)
        case .submit(let spec, let follow):
            w.write(spec)
            w.writeBool(follow)
        case .getStatus(let jobId), .unsubscribe(let jobId), .cancel(let jobId), .getLogs(let jobId),
             .submitted(let jobId), .getDag(let jobId), .unschedule(let jobId), .getArtifact(let jobId):
            w.writeString(jobId)
        case .fetchArtifact(let range):
            w.writeString(range.hash)
            w.writeU64(range.offset)
            w.writeU32(range.length)
        case .artifactData(let data):
            w.writeString(data.hash)
            w.writeU64(data.offset)
            w.writeU64(data.total)
            w.writeBytes(data.bytes)
        case .uploadArtifact(let chunk):
            w.writeU32(chunk.uploadId)
            w.writeString(chunk.name)
            w.writeU8(chunk.kind.rawValue)
            w.writeU64(chunk.offset)
            w.writeBytes(chunk.bytes)
            w.writeBool(chunk.last)
        case .kv(let op):
            w.write(op)
        case .extendDag(let dagId, let jobs):
            w.writeString(dagId)
            w.write(DagSpec(name: "", jobs: jobs))
        case .deployService(let spec):
            w.write(spec)
        case .serviceInfos(let infos):
            w.writeArray(infos) { $0.write($1) }
        case .stopService(let name), .restartService(let name):
            w.writeString(name)
        case .runService(let name, let generation, let spec):
            w.writeString(name)
            w.writeU32(generation)
            w.write(spec)
        case .endService(let name, let generation):
            w.writeString(name)
            w.writeU32(generation)
        case .serviceReport(let report):
            w.write(report)
        case .authHello(let tokenId, let nonce):
            w.writeString(tokenId)
            w.writeBytes(nonce)
        case .authChallenge(let nonce):
            w.writeBytes(nonce)
        case .authProof(let proof):
            w.writeBytes(proof)
        case .authOk(let role, let signature):
            w.writeString(role)
            w.writeBytes(signature)
        case .token(let op):
            w.write(op)
        case .tokenResult(let result):
            w.write(result)
        case .stats(let stats):
            w.writeU32(stats.queued)
            w.write(stats.counts)
            w.writeArray(stats.workers) { $0.write($1) }
            w.writeArray(stats.recent) { $0.write($1) }
        case .kvResult(let result):
            w.write(result)
        case .artifactStored(let info):
            w.writeString(info.name)
            w.writeString(info.hash)
            w.writeU64(info.size)
            w.writeU8(info.kind.rawValue)
        case .listJobs(let limit), .listDags(let limit):
            w.writeU32(limit)
        case .submitDag(let dag, let follow):
            w.write(dag)
            w.writeBool(follow)
        case .schedule(let spec):
            w.write(spec)
        case .scheduled(let info):
            w.write(info)
        case .schedules(let infos):
            w.writeArray(infos) { $0.write($1) }
        case .dagSubmitted(let dagId, let jobIds):
            w.writeString(dagId)
            w.writeStringArray(jobIds)
        case .dag(let info):
            w.write(info)
        case .dags(let infos):
            w.writeArray(infos) { $0.write($1) }
        case .dagEvent(let event):
            w.writeString(event.dagId)
            w.writeU8(event.state.rawValue)
            w.write(event.counts)
        case .subscribe(let jobId, let logs):
            w.writeString(jobId)
            w.writeBool(logs)
        case .status(let info):
            w.write(info)
        case .workers(let workers):
            w.writeArray(workers) { $0.write($1) }
        case .jobs(let jobs):
            w.writeArray(jobs) { $0.write($1) }
        case .logs(let jobId, let chunks):
            w.writeString(jobId)
            w.writeLogChunks(chunks)
        case .readLogs(let read):
            w.writeString(read.jobId)
            w.writeU64(read.cursor)
            w.writeU32(read.limit)
            w.writeU32(read.tailLines)
            w.writeI64(read.sinceMs)
        case .logPage(let page):
            w.writeString(page.jobId)
            w.writeLogChunks(page.chunks)
            w.writeU64(page.next)
            w.writeBool(page.end)
            w.writeU64(page.skipped)
        case .event(let event):
            w.writeString(event.jobId)
            w.writeU8(event.state.rawValue)
            w.writeU32(event.attempt)
            w.writeString(event.workerId)
            w.writeOptional(event.result) { $0.write($1) }
        case .output(let jobId, let stream, let bytes):
            w.writeString(jobId)
            w.writeU8(stream.rawValue)
            w.writeBytes(bytes)
        }
        w.endFrame(headerAt: header)
    }

    /// A cheap guess of the payload size, so encoding usually allocates once.
    private static func estimatedPayloadSize(_ message: Message) -> Int {
        switch message {
        case .jobOutput(let ref, _, let bytes):
            32 + ref.jobId.utf8.count + bytes.count
        case .output(let jobId, _, let bytes):
            32 + jobId.utf8.count + bytes.count
        case .artifactData(let data):
            128 + data.bytes.count
        case .uploadArtifact(let chunk):
            64 + chunk.name.utf8.count + chunk.bytes.count
        case .logs(let jobId, let chunks):
            32 + jobId.utf8.count + chunks.reduce(0) { $0 + 5 + $1.bytes.count }
        case .logPage(let page):
            64 + page.jobId.utf8.count + page.chunks.reduce(0) { $0 + 5 + $1.bytes.count }
        case .workers(let workers):
            16 + workers.count * 160
        case .jobs(let jobs):
            16 + jobs.count * 256
        case .heartbeat(let running):
            16 + running.count * 48
        default:
            192
        }
    }
}

// MARK: - struct encoders
//
// Public: the master's journal writes the same structs in the same layouts.

extension BinaryWriter {
    mutating func writeLogChunks(_ chunks: [LogChunk]) {
        writeArray(chunks) { w, chunk in
            w.writeU8(chunk.stream.rawValue)
            w.writeBytes(chunk.bytes)
        }
    }

    public mutating func write(_ ref: AttemptRef) {
        writeString(ref.jobId)
        writeU32(ref.attempt)
    }

    public mutating func write(_ spec: JobSpec) {
        writeStringArray(spec.command)
        writeStringDictionary(spec.environment)
        writeString(spec.workingDirectory)
        writeStringArray(spec.requirements)
        writeI32(spec.priority)
        writeString(spec.name)
        writeU32(spec.retries)
        writeU64(spec.retryDelayMs)
        writeU64(spec.timeoutMs)
        writeU64(spec.delayMs)
        writeArray(spec.artifacts) { $0.write($1) }
        writeOptional(spec.gate) { w, gate in
            w.writeString(gate.message)
            w.writeU64(gate.timeoutMs)
        }
        writeOptional(spec.service) { $0.write($1) }
    }

    public mutating func write(_ ref: ArtifactRef) {
        writeString(ref.hash)
        writeU64(ref.size)
        writeU8(ref.kind.rawValue)
        writeString(ref.destination)
        writeBool(ref.executable)
    }

    public mutating func write(_ result: JobResult) {
        writeOptionalI32(result.exitCode)
        writeOptionalI32(result.signal)
        writeOptionalString(result.error)
        writeI64(result.startedAtMs)
        writeI64(result.finishedAtMs)
        writeBool(result.timedOut)
    }

    public mutating func write(_ registration: Registration) {
        writeString(registration.workerId)
        writeString(registration.name)
        writeStringArray(registration.capabilities)
        writeU32(registration.slots)
        writeBool(registration.permanent)
        writeArray(registration.running) { $0.write($1) }
        writeString(registration.instance)
        writeString(registration.address)
    }

    public mutating func write(_ info: JobInfo) {
        writeString(info.id)
        write(info.spec)
        writeU8(info.state.rawValue)
        writeU32(info.attempts)
        writeString(info.workerId)
        writeI64(info.submittedAtMs)
        writeOptional(info.result) { $0.write($1) }
        writeString(info.pendingReason)
        writeI64(info.notBeforeMs)
        writeString(info.dagId)
        writeStringArray(info.parents)
    }

    public mutating func write(_ dag: DagSpec) {
        writeString(dag.name)
        writeArray(dag.jobs) { w, job in
            w.writeString(job.id)
            w.write(job.spec)
            w.writeStringArray(job.dependsOn)
            w.writeU8(job.affinity.rawValue)
        }
    }

    public mutating func write(_ spec: ScheduleSpec) {
        writeString(spec.name)
        writeString(spec.cron)
        writeString(spec.timeZone)
        writeString(spec.overlap)
        writeString(spec.missed)
        write(spec.dag)
    }

    public mutating func write(_ info: ScheduleInfo) {
        writeString(info.name)
        writeString(info.cron)
        writeString(info.timeZone)
        writeString(info.overlap)
        writeString(info.missed)
        writeI64(info.nextFireMs)
        writeI64(info.lastFireMs)
        writeString(info.lastDagId)
        writeU32(info.runs)
        writeU32(info.skipped)
    }

    public mutating func write(_ counts: JobCounts) {
        for state in JobState.allCases { writeU32(counts[state]) }
    }

    public mutating func write(_ info: DagInfo) {
        writeString(info.id)
        writeString(info.name)
        writeU8(info.state.rawValue)
        writeI64(info.submittedAtMs)
        writeI64(info.finishedAtMs)
        write(info.counts)
        writeArray(info.jobs) { $0.write($1) }
    }

    public mutating func write(_ worker: WorkerInfo) {
        writeString(worker.id)
        writeString(worker.name)
        writeStringArray(worker.capabilities)
        writeU32(worker.slots)
        writeU32(worker.running)
        writeBool(worker.permanent)
        writeI64(worker.lastSeenAgoMs)
        writeStringArray(worker.runningJobs)
        writeString(worker.health)
        writeStringArray(worker.services)
        writeI64(worker.idleMs)
        writeString(worker.address)
    }
}

// MARK: - struct decoders
//
// Each takes `p`, the field-path prefix of the struct ("" at the top level, "workers[3]." inside an
// array), evaluated only when building an error.

/// Smallest encodings, used to bound element counts before allocating.
enum MinimumSize {
    static let attemptRef = 4 + 4
    static let jobSpec = 4 + 4 + 4 + 4 + 4 + 4 + 4 + 8 + 8 + 8 + 4 + 1
    static let artifactRef = 4 + 8 + 1 + 4 + 1
    static let jobResult = 1 + 1 + 1 + 8 + 8 + 1
    static let jobInfo = 4 + jobSpec + 1 + 4 + 4 + 8 + 1 + 4 + 8 + 4 + 4
    static let dagJobSpec = 4 + jobSpec + 4 + 1
    static let dagInfo = 4 + 4 + 1 + 8 + 8 + 6 * 4 + 4
    static let scheduleInfo = 5 * 4 + 8 + 8 + 4 + 4 + 4
    static let workerInfo = 4 + 4 + 4 + 4 + 4 + 1 + 8 + 4 + 4
    static let logChunk = 1 + 4
}

extension BinaryReader {
    mutating func readLogChunks() throws(ProtocolError) -> [LogChunk] {
        try readArray("chunks", minElementSize: MinimumSize.logChunk) {
            (r: inout BinaryReader, i: Int) throws(ProtocolError) in
            let stream = try r.readOutputStream("chunks[\(i)].stream")
            return LogChunk(stream: stream, bytes: try r.readBytes("chunks[\(i)].bytes"))
        }
    }

    mutating func readMessage(_ opcode: NativeOpcode) throws(ProtocolError) -> Message {
        switch opcode {
        case .ok:
            return .ok
        case .error:
            let code = try readErrorCode("code")
            return .error(code, try readString("message"))
        case .ping:
            return .ping
        case .pong:
            return .pong
        case .register:
            return .register(try readRegistration { "" })
        case .heartbeat:
            return .heartbeat(running: try readAttemptRefs("running"))
        case .jobOutput:
            let ref = try readAttemptRef { "" }
            let stream = try readOutputStream("stream")
            return .jobOutput(ref, stream, try readBytes("bytes"))
        case .jobFinished:
            let ref = try readAttemptRef { "" }
            return .jobFinished(ref, try readJobResult { "result." })
        case .registered:
            let workerId = try readString("workerId")
            let heartbeatIntervalMs = try readU32("heartbeatIntervalMs")
            return .registered(workerId: workerId, heartbeatIntervalMs: heartbeatIntervalMs, masterId: try readString("masterId"))
        case .dispatch:
            let jobId = try readString("jobId")
            let attempt = try readU32("attempt")
            return .dispatch(Dispatch(jobId: jobId, attempt: attempt, spec: try readJobSpec { "spec." }))
        case .kill:
            return .kill(try readAttemptRef { "" })
        case .ackFinished:
            return .ackFinished(try readAttemptRef { "" })
        case .submit:
            let spec = try readJobSpec { "" }
            return .submit(spec, follow: try readBool("follow"))
        case .getStatus:
            return .getStatus(jobId: try readString("jobId"))
        case .listWorkers:
            return .listWorkers
        case .listJobs:
            return .listJobs(limit: try readU32("limit"))
        case .subscribe:
            let jobId = try readString("jobId")
            return .subscribe(jobId: jobId, logs: try readBool("logs"))
        case .unsubscribe:
            return .unsubscribe(jobId: try readString("jobId"))
        case .cancel:
            return .cancel(jobId: try readString("jobId"))
        case .getLogs:
            return .getLogs(jobId: try readString("jobId"))
        case .submitted:
            return .submitted(jobId: try readString("jobId"))
        case .status:
            return .status(try readJobInfo { "" })
        case .workers:
            let workers = try readArray("workers", minElementSize: MinimumSize.workerInfo) {
                (r: inout BinaryReader, i: Int) throws(ProtocolError) in
                try r.readWorkerInfo { "workers[\(i)]." }
            }
            return .workers(workers)
        case .jobs:
            let jobs = try readArray("jobs", minElementSize: MinimumSize.jobInfo) {
                (r: inout BinaryReader, i: Int) throws(ProtocolError) in
                try r.readJobInfo { "jobs[\(i)]." }
            }
            return .jobs(jobs)
        case .logs:
            let jobId = try readString("jobId")
            return .logs(jobId: jobId, try readLogChunks())
        case .readLogs:
            let jobId = try readString("jobId")
            let cursor = try readU64("cursor")
            let limit = try readU32("limit")
            let tailLines = try readU32("tailLines")
            return .readLogs(LogRead(jobId: jobId, cursor: cursor, limit: limit, tailLines: tailLines,
                                     sinceMs: try readI64("sinceMs")))
        case .logPage:
            let jobId = try readString("jobId")
            let chunks = try readLogChunks()
            let next = try readU64("next")
            let end = try readBool("end")
            return .logPage(LogPage(jobId: jobId, chunks: chunks, next: next, end: end, skipped: try readU64("skipped")))
        case .event:
            let jobId = try readString("jobId")
            let state = try readJobState("state")
            let attempt = try readU32("attempt")
            let workerId = try readString("workerId")
            let result = try readOptional("result") { (r: inout BinaryReader) throws(ProtocolError) in
                try r.readJobResult { "result." }
            }
            return .event(JobEvent(jobId: jobId, state: state, attempt: attempt, workerId: workerId, result: result))
        case .output:
            let jobId = try readString("jobId")
            let stream = try readOutputStream("stream")
            return .output(jobId: jobId, stream, try readBytes("bytes"))
        case .submitDag:
            let dag = try readDagSpec { "" }
            return .submitDag(dag, follow: try readBool("follow"))
        case .schedule:
            return .schedule(try readScheduleSpec())
        case .listSchedules:
            return .listSchedules
        case .unschedule:
            return .unschedule(name: try readString("name"))
        case .scheduled:
            return .scheduled(try readScheduleInfo { "" })
        case .schedules:
            let infos = try readArray("schedules", minElementSize: MinimumSize.scheduleInfo) {
                (r: inout BinaryReader, i: Int) throws(ProtocolError) in
                try r.readScheduleInfo { "schedules[\(i)]." }
            }
            return .schedules(infos)
        case .getDag:
            return .getDag(dagId: try readString("dagId"))
        case .getArtifact:
            return .getArtifact(name: try readString("name"))
        case .kv:
            return .kv(try readKVOperation())
        case .extendDag:
            let dagId = try readString("dagId")
            return .extendDag(dagId: dagId, jobs: try readDagSpec { "" }.jobs)
        case .getStats:
            return .getStats
        case .deployService:
            return .deployService(try readServiceSpec { "" })
        case .serviceInfos:
            return .serviceInfos(try readArray("services", minElementSize: 40) {
                (r: inout BinaryReader, i: Int) throws(ProtocolError) in try r.readServiceInfo { "services[\(i)]." }
            })
        case .listServices:
            return .listServices
        case .stopService:
            return .stopService(name: try readString("name"))
        case .restartService:
            return .restartService(name: try readString("name"))
        case .runService:
            let name = try readString("name")
            let generation = try readU32("generation")
            return .runService(name: name, generation: generation, try readServiceSpec { "spec." })
        case .endService:
            let name = try readString("name")
            return .endService(name: name, generation: try readU32("generation"))
        case .serviceReport:
            return .serviceReport(try readServiceReport())
        case .authHello:
            let tokenId = try readString("tokenId")
            return .authHello(tokenId: tokenId, nonce: try readBytes("nonce"))
        case .authChallenge:
            return .authChallenge(nonce: try readBytes("nonce"))
        case .authProof:
            return .authProof(try readBytes("proof"))
        case .authOk:
            let role = try readString("role")
            return .authOk(role: role, signature: try readBytes("signature"))
        case .token:
            return .token(try readTokenOperation())
        case .tokenResult:
            return .tokenResult(try readTokenResult())
        case .stats:
            let queued = try readU32("queued")
            let counts = try readJobCounts { "counts." }
            let workers = try readArray("workers", minElementSize: MinimumSize.workerInfo) {
                (r: inout BinaryReader, i: Int) throws(ProtocolError) in
                try r.readWorkerInfo { "workers[\(i)]." }
            }
            let recent = try readArray("recent", minElementSize: MinimumSize.jobInfo) {
                (r: inout BinaryReader, i: Int) throws(ProtocolError) in
                try r.readJobInfo { "recent[\(i)]." }
            }
            return .stats(ClusterStats(queued: queued, counts: counts, workers: workers, recent: recent))
        case .kvResult:
            return .kvResult(try readKVResult())
        case .fetchArtifact:
            let hash = try readString("hash")
            let offset = try readU64("offset")
            return .fetchArtifact(ArtifactRange(hash: hash, offset: offset, length: try readU32("length")))
        case .artifactData:
            let hash = try readString("hash")
            let offset = try readU64("offset")
            let total = try readU64("total")
            return .artifactData(ArtifactData(hash: hash, offset: offset, total: total, bytes: try readBytes("bytes")))
        case .uploadArtifact:
            let uploadId = try readU32("uploadId")
            let name = try readString("name")
            let kind = try readArtifactKind("kind")
            let offset = try readU64("offset")
            let bytes = try readBytes("bytes")
            return .uploadArtifact(UploadChunk(uploadId: uploadId, name: name, kind: kind, offset: offset, bytes: bytes,
                                               last: try readBool("last")))
        case .artifactStored:
            let name = try readString("name")
            let hash = try readString("hash")
            let size = try readU64("size")
            return .artifactStored(ArtifactInfo(name: name, hash: hash, size: size, kind: try readArtifactKind("kind")))
        case .listDags:
            return .listDags(limit: try readU32("limit"))
        case .dagSubmitted:
            let dagId = try readString("dagId")
            return .dagSubmitted(dagId: dagId, jobIds: try readStringArray("jobIds"))
        case .dag:
            return .dag(try readDagInfo { "" })
        case .dags:
            let infos = try readArray("dags", minElementSize: MinimumSize.dagInfo) {
                (r: inout BinaryReader, i: Int) throws(ProtocolError) in
                try r.readDagInfo { "dags[\(i)]." }
            }
            return .dags(infos)
        case .dagEvent:
            let dagId = try readString("dagId")
            let state = try readDagState("state")
            return .dagEvent(DagEvent(dagId: dagId, state: state, counts: try readJobCounts { "counts." }))
        }
    }

    public mutating func readAttemptRef(_ p: () -> String) throws(ProtocolError) -> AttemptRef {
        let jobId = try readString(p() + "jobId")
        return AttemptRef(jobId: jobId, attempt: try readU32(p() + "attempt"))
    }

    public mutating func readAttemptRefs(_ field: @autoclosure () -> String) throws(ProtocolError) -> [AttemptRef] {
        try readArray(field(), minElementSize: MinimumSize.attemptRef) {
            (r: inout BinaryReader, i: Int) throws(ProtocolError) in
            try r.readAttemptRef { "\(field())[\(i)]." }
        }
    }

    public mutating func readJobSpec(_ p: () -> String) throws(ProtocolError) -> JobSpec {
        let command = try readStringArray(p() + "command")
        let environment = try readStringDictionary(p() + "environment")
        let workingDirectory = try readString(p() + "workingDirectory")
        let requirements = try readStringArray(p() + "requirements")
        let priority = try readI32(p() + "priority")
        let name = try readString(p() + "name")
        let retries = try readU32(p() + "retries")
        let retryDelayMs = try readU64(p() + "retryDelayMs")
        let timeoutMs = try readU64(p() + "timeoutMs")
        let delayMs = try readU64(p() + "delayMs")
        let artifacts = try readArtifactRefs { p() + "artifacts" }
        let gate = try readOptional(p() + "gate") { (r: inout BinaryReader) throws(ProtocolError) in
            let message = try r.readString(p() + "gate.message")
            return GateSpec(message: message, timeoutMs: try r.readU64(p() + "gate.timeoutMs"))
        }
        let service = try readOptional(p() + "service") { (r: inout BinaryReader) throws(ProtocolError) in
            try r.readServiceOptions { p() + "service." }
        }
        return JobSpec(command: command, environment: environment, workingDirectory: workingDirectory,
                       requirements: requirements, priority: priority, name: name, retries: retries,
                       retryDelayMs: retryDelayMs, timeoutMs: timeoutMs, delayMs: delayMs, artifacts: artifacts,
                       gate: gate, service: service)
    }

    public mutating func readArtifactRefs(_ field: () -> String) throws(ProtocolError) -> [ArtifactRef] {
        try readArray(field(), minElementSize: MinimumSize.artifactRef) { (r: inout BinaryReader, i: Int) throws(ProtocolError) in
            let hash = try r.readString(field() + "[\(i)].hash")
            let size = try r.readU64(field() + "[\(i)].size")
            let kind = try r.readArtifactKind(field() + "[\(i)].kind")
            let destination = try r.readString(field() + "[\(i)].destination")
            return ArtifactRef(hash: hash, size: size, kind: kind, destination: destination,
                               executable: try r.readBool(field() + "[\(i)].executable"))
        }
    }

    public mutating func readArtifactKind(_ field: @autoclosure () -> String) throws(ProtocolError) -> ArtifactKind {
        let raw = try readU8(field())
        guard let kind = ArtifactKind(rawValue: raw) else { throw malformed(field: field(), "unknown artifact kind \(raw)") }
        return kind
    }

    public mutating func readJobResult(_ p: () -> String) throws(ProtocolError) -> JobResult {
        let exitCode = try readOptionalI32(p() + "exitCode")
        let signal = try readOptionalI32(p() + "signal")
        let error = try readOptionalString(p() + "error")
        let startedAtMs = try readI64(p() + "startedAtMs")
        let finishedAtMs = try readI64(p() + "finishedAtMs")
        let timedOut = try readBool(p() + "timedOut")
        return JobResult(exitCode: exitCode, signal: signal, error: error, startedAtMs: startedAtMs,
                         finishedAtMs: finishedAtMs, timedOut: timedOut)
    }

    public mutating func readRegistration(_ p: () -> String) throws(ProtocolError) -> Registration {
        let workerId = try readString(p() + "workerId")
        let name = try readString(p() + "name")
        let capabilities = try readStringArray(p() + "capabilities")
        let slots = try readU32(p() + "slots")
        let permanent = try readBool(p() + "permanent")
        let running = try readAttemptRefs(p() + "running")
        let instance = try readString(p() + "instance")
        return Registration(workerId: workerId, name: name, capabilities: capabilities, slots: slots,
                            permanent: permanent, running: running, instance: instance,
                            address: try readString(p() + "address"))
    }

    public mutating func readJobInfo(_ p: () -> String) throws(ProtocolError) -> JobInfo {
        let id = try readString(p() + "id")
        let spec = try readJobSpec { p() + "spec." }
        let state = try readJobState(p() + "state")
        let attempts = try readU32(p() + "attempts")
        let workerId = try readString(p() + "workerId")
        let submittedAtMs = try readI64(p() + "submittedAtMs")
        let result = try readOptional(p() + "result") { (r: inout BinaryReader) throws(ProtocolError) in
            try r.readJobResult { p() + "result." }
        }
        let pendingReason = try readString(p() + "pendingReason")
        let notBeforeMs = try readI64(p() + "notBeforeMs")
        let dagId = try readString(p() + "dagId")
        let parents = try readStringArray(p() + "parents")
        return JobInfo(id: id, spec: spec, state: state, attempts: attempts, workerId: workerId,
                       submittedAtMs: submittedAtMs, result: result, pendingReason: pendingReason,
                       notBeforeMs: notBeforeMs, dagId: dagId, parents: parents)
    }

    public mutating func readDagSpec(_ p: () -> String) throws(ProtocolError) -> DagSpec {
        let name = try readString(p() + "name")
        let jobs = try readArray(p() + "jobs", minElementSize: MinimumSize.dagJobSpec) {
            (r: inout BinaryReader, i: Int) throws(ProtocolError) in
            let id = try r.readString(p() + "jobs[\(i)].id")
            let spec = try r.readJobSpec { p() + "jobs[\(i)].spec." }
            let dependsOn = try r.readStringArray(p() + "jobs[\(i)].dependsOn")
            let raw = try r.readU8(p() + "jobs[\(i)].affinity")
            guard let affinity = Affinity(rawValue: raw) else {
                throw r.malformed(field: p() + "jobs[\(i)].affinity", "unknown affinity \(raw)")
            }
            return DagJobSpec(id: id, spec: spec, dependsOn: dependsOn, affinity: affinity)
        }
        return DagSpec(name: name, jobs: jobs)
    }

    public mutating func readScheduleSpec() throws(ProtocolError) -> ScheduleSpec {
        let name = try readString("name")
        let cron = try readString("cron")
        let timeZone = try readString("timeZone")
        let overlap = try readString("overlap")
        let missed = try readString("missed")
        let dag = try readDagSpec { "dag." }
        return ScheduleSpec(name: name, cron: cron, timeZone: timeZone, overlap: overlap, missed: missed, dag: dag)
    }

    public mutating func readScheduleInfo(_ p: () -> String) throws(ProtocolError) -> ScheduleInfo {
        let name = try readString(p() + "name")
        let cron = try readString(p() + "cron")
        let timeZone = try readString(p() + "timeZone")
        let overlap = try readString(p() + "overlap")
        let missed = try readString(p() + "missed")
        let nextFireMs = try readI64(p() + "nextFireMs")
        let lastFireMs = try readI64(p() + "lastFireMs")
        let lastDagId = try readString(p() + "lastDagId")
        let runs = try readU32(p() + "runs")
        let skipped = try readU32(p() + "skipped")
        return ScheduleInfo(name: name, cron: cron, timeZone: timeZone, overlap: overlap, missed: missed,
                            nextFireMs: nextFireMs, lastFireMs: lastFireMs, lastDagId: lastDagId, runs: runs,
                            skipped: skipped)
    }

    public mutating func readJobCounts(_ p: () -> String) throws(ProtocolError) -> JobCounts {
        var counts = JobCounts()
        for state in JobState.allCases { counts[state] = try readU32(p() + "\(state)".lowercased()) }
        return counts
    }

    public mutating func readDagState(_ field: @autoclosure () -> String) throws(ProtocolError) -> DagState {
        let raw = try readU8(field())
        guard let state = DagState(rawValue: raw) else { throw malformed(field: field(), "unknown DAG state \(raw)") }
        return state
    }

    public mutating func readDagInfo(_ p: () -> String) throws(ProtocolError) -> DagInfo {
        let id = try readString(p() + "id")
        let name = try readString(p() + "name")
        let state = try readDagState(p() + "state")
        let submittedAtMs = try readI64(p() + "submittedAtMs")
        let finishedAtMs = try readI64(p() + "finishedAtMs")
        let counts = try readJobCounts { p() + "counts." }
        let jobs = try readArray(p() + "jobs", minElementSize: MinimumSize.jobInfo) {
            (r: inout BinaryReader, i: Int) throws(ProtocolError) in
            try r.readJobInfo { p() + "jobs[\(i)]." }
        }
        return DagInfo(id: id, name: name, state: state, submittedAtMs: submittedAtMs, finishedAtMs: finishedAtMs,
                       counts: counts, jobs: jobs)
    }

    public mutating func readWorkerInfo(_ p: () -> String) throws(ProtocolError) -> WorkerInfo {
        let id = try readString(p() + "id")
        let name = try readString(p() + "name")
        let capabilities = try readStringArray(p() + "capabilities")
        let slots = try readU32(p() + "slots")
        let running = try readU32(p() + "running")
        let permanent = try readBool(p() + "permanent")
        let lastSeenAgoMs = try readI64(p() + "lastSeenAgoMs")
        let runningJobs = try readStringArray(p() + "runningJobs")
        let health = try readString(p() + "health")
        let services = try readStringArray(p() + "services")
        let idleMs = try readI64(p() + "idleMs")
        return WorkerInfo(id: id, name: name, capabilities: capabilities, slots: slots, running: running,
                          permanent: permanent, lastSeenAgoMs: lastSeenAgoMs, runningJobs: runningJobs,
                          health: health, services: services, idleMs: idleMs, address: try readString(p() + "address"))
    }
}
