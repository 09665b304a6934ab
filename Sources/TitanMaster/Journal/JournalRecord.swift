import TitanProtocol

/// One state change of the master, as the append-only file keeps it. Replaying the records in
/// order rebuilds the scheduler's state; creation records carry what was submitted, `jobState`
/// records carry a job's fields after a change (one per job per batch of changes).
///
/// Layout: a tag byte, then the fields in order, in the native codec's encodings.
enum JournalRecord: Equatable, Sendable {
    /// First record of every file: the master instance (workers key DAG directories by it).
    case instance(masterId: String)
    /// Id counters, so ids are never reused after a restart.
    case counters(nextJob: UInt64, nextDag: UInt64)
    /// A lone job was submitted.
    case jobCreated(JobInfo)
    /// A DAG was submitted (or fired by a schedule); its jobs are `ID/jobId`.
    case dagCreated(id: String, spec: DagSpec, submittedAtMs: Int64)
    /// Jobs added to a running DAG.
    case dagExtended(id: String, jobs: [DagJobSpec], atMs: Int64)
    /// A job's fields after a change.
    case jobState(JobStateChange)
    case dagFinished(id: String, atMs: Int64)
    case scheduleSet(ScheduleSpec, createdAtMs: Int64)
    case scheduleState(name: String, lastFireMs: Int64, lastDagId: String, runs: UInt32, skipped: UInt32)
    case scheduleRemoved(name: String)
    /// A KV write (a `KVMutation`'s bytes).
    case kv([UInt8])
    /// A service deployed (or replaced), and stopped for good.
    case serviceSet(ServiceSpec)
    case serviceStopped(name: String)

    enum Tag: UInt8 {
        case instance = 1, counters, jobCreated, dagCreated, jobState, dagFinished, scheduleSet, scheduleState,
             scheduleRemoved, kv, dagExtended, serviceSet, serviceStopped
    }
}

/// The fields of a job that change after it is created.
struct JobStateChange: Equatable, Sendable {
    var id: String
    var state: JobState
    var attempts: UInt32
    var workerId: String
    var result: JobResult?
    var notBeforeMs: Int64
    /// Failed attempts so far (counts retries).
    var failures: UInt32
}

/// A journal record that cannot be decoded: the file is not what this master wrote.
struct JournalDecodeError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

extension JournalRecord {
    func encoded() -> [UInt8] {
        var w = BinaryWriter(capacity: 128)
        switch self {
        case .instance(let masterId):
            w.writeU8(Tag.instance.rawValue)
            w.writeString(masterId)
        case .counters(let nextJob, let nextDag):
            w.writeU8(Tag.counters.rawValue)
            w.writeU64(nextJob)
            w.writeU64(nextDag)
        case .jobCreated(let info):
            w.writeU8(Tag.jobCreated.rawValue)
            w.write(info)
        case .dagCreated(let id, let spec, let submittedAtMs):
            w.writeU8(Tag.dagCreated.rawValue)
            w.writeString(id)
            w.write(spec)
            w.writeI64(submittedAtMs)
        case .serviceSet(let spec):
            w.writeU8(Tag.serviceSet.rawValue)
            w.write(spec)
        case .serviceStopped(let name):
            w.writeU8(Tag.serviceStopped.rawValue)
            w.writeString(name)
        case .dagExtended(let id, let jobs, let atMs):
            w.writeU8(Tag.dagExtended.rawValue)
            w.writeString(id)
            w.write(DagSpec(name: "", jobs: jobs))
            w.writeI64(atMs)
        case .jobState(let change):
            w.writeU8(Tag.jobState.rawValue)
            w.writeString(change.id)
            w.writeU8(change.state.rawValue)
            w.writeU32(change.attempts)
            w.writeString(change.workerId)
            w.writeOptional(change.result) { $0.write($1) }
            w.writeI64(change.notBeforeMs)
            w.writeU32(change.failures)
        case .dagFinished(let id, let atMs):
            w.writeU8(Tag.dagFinished.rawValue)
            w.writeString(id)
            w.writeI64(atMs)
        case .scheduleSet(let spec, let createdAtMs):
            w.writeU8(Tag.scheduleSet.rawValue)
            w.write(spec)
            w.writeI64(createdAtMs)
        case .scheduleState(let name, let lastFireMs, let lastDagId, let runs, let skipped):
            w.writeU8(Tag.scheduleState.rawValue)
            w.writeString(name)
            w.writeI64(lastFireMs)
            w.writeString(lastDagId)
            w.writeU32(runs)
            w.writeU32(skipped)
        case .scheduleRemoved(let name):
            w.writeU8(Tag.scheduleRemoved.rawValue)
            w.writeString(name)
        case .kv(let bytes):
            w.writeU8(Tag.kv.rawValue)
            w.writeBytes(bytes)
        }
        return w.bytes
    }

    init(decoding bytes: [UInt8]) throws(JournalDecodeError) {
        var r = BinaryReader(bytes, opcode: 0)
        do {
            let raw = try r.readU8("tag")
            guard let tag = Tag(rawValue: raw) else { throw JournalDecodeError(message: "unknown record type \(raw)") }
            switch tag {
            case .instance:
                self = .instance(masterId: try r.readString("masterId"))
            case .counters:
                let job = try r.readU64("nextJob")
                self = .counters(nextJob: job, nextDag: try r.readU64("nextDag"))
            case .jobCreated:
                self = .jobCreated(try r.readJobInfo { "job." })
            case .dagCreated:
                let id = try r.readString("id")
                let spec = try r.readDagSpec { "dag." }
                self = .dagCreated(id: id, spec: spec, submittedAtMs: try r.readI64("submittedAtMs"))
            case .jobState:
                let id = try r.readString("id")
                let state = try r.readJobState("state")
                let attempts = try r.readU32("attempts")
                let workerId = try r.readString("workerId")
                let result = try r.readOptional("result") { (r: inout BinaryReader) throws(ProtocolError) in
                    try r.readJobResult { "result." }
                }
                let notBeforeMs = try r.readI64("notBeforeMs")
                self = .jobState(JobStateChange(id: id, state: state, attempts: attempts, workerId: workerId, result: result,
                                                notBeforeMs: notBeforeMs, failures: try r.readU32("failures")))
            case .dagFinished:
                let id = try r.readString("id")
                self = .dagFinished(id: id, atMs: try r.readI64("atMs"))
            case .scheduleSet:
                let spec = try r.readScheduleSpec()
                self = .scheduleSet(spec, createdAtMs: try r.readI64("createdAtMs"))
            case .scheduleState:
                let name = try r.readString("name")
                let lastFireMs = try r.readI64("lastFireMs")
                let lastDagId = try r.readString("lastDagId")
                let runs = try r.readU32("runs")
                self = .scheduleState(name: name, lastFireMs: lastFireMs, lastDagId: lastDagId, runs: runs,
                                      skipped: try r.readU32("skipped"))
            case .scheduleRemoved:
                self = .scheduleRemoved(name: try r.readString("name"))
            case .kv:
                self = .kv(try r.readBytes("bytes"))
            case .serviceSet:
                self = .serviceSet(try r.readServiceSpec { "service." })
            case .serviceStopped:
                self = .serviceStopped(name: try r.readString("name"))
            case .dagExtended:
                let id = try r.readString("id")
                let jobs = try r.readDagSpec { "" }.jobs
                self = .dagExtended(id: id, jobs: jobs, atMs: try r.readI64("atMs"))
            }
            try r.expectEnd()
        } catch let error as JournalDecodeError {
            throw error
        } catch {
            throw JournalDecodeError(message: "\(error)")
        }
    }
}
