/// A close upper estimate of how many bytes a message takes on the wire, without encoding it.
///
/// The master holds replies until their journal records are written; a connection's budget must
/// count them before they become bytes, so that a client pipelining requests whose replies are
/// large cannot grow the master's memory without bound. Small fixed messages cost a constant;
/// the ones that carry user data or listings walk what they carry (strings and bytes), which is
/// cheap next to encoding them.
extension Message {
    /// Bytes this message takes on the wire, give or take its fixed-width fields.
    public var approximateWireSize: Int {
        let frame = TitanProto.headerSize + 4
        switch self {
        case .jobOutput(_, _, let bytes), .output(_, _, let bytes):
            return frame + 96 + bytes.count
        case .error(_, let text):
            return frame + 8 + text.utf8.count
        case .dispatch(let dispatch):
            return frame + 64 + Self.size(dispatch.spec)
        case .submit(let spec, _):
            return frame + Self.size(spec)
        case .status(let info):
            return frame + Self.size(info)
        case .jobs(let infos):
            return frame + infos.reduce(0) { $0 + Self.size($1) }
        case .logs(_, let chunks):
            return frame + 64 + chunks.reduce(0) { $0 + 8 + $1.bytes.count }
        case .dag(let info):
            return frame + Self.size(info)
        case .dags(let infos):
            return frame + infos.reduce(0) { $0 + Self.size($1) }
        case .workers(let infos):
            return frame + infos.reduce(0) { $0 + Self.size($1) }
        case .stats(let stats):
            return frame + 64 + stats.workers.reduce(0) { $0 + Self.size($1) } + stats.recent.reduce(0) { $0 + Self.size($1) }
        case .serviceInfos(let infos):
            return frame + infos.reduce(0) { $0 + 128 + Self.size($1.spec) + $1.lastExit.utf8.count }
        case .runService(_, _, let spec), .deployService(let spec):
            return frame + 64 + Self.size(spec)
        case .schedules(let infos):
            return frame + infos.reduce(0) { $0 + 160 + $1.name.utf8.count + $1.cron.utf8.count + $1.lastDagId.utf8.count }
        case .artifactData(let data):
            return frame + 96 + data.bytes.count
        case .kvResult(let result):
            switch result {
            case .value(let bytes): return frame + 16 + (bytes?.count ?? 0)
            case .integer: return frame + 16
            case .members(let members): return frame + 16 + members.reduce(0) { $0 + 4 + $1.utf8.count }
            }
        case .dagSubmitted(let dagId, let jobIds):
            return frame + 8 + dagId.utf8.count + jobIds.reduce(0) { $0 + 4 + $1.utf8.count }
        default:
            // Fixed-size or tiny: acks, events, ids, pings.
            return frame + 128
        }
    }

    private static func size(_ spec: JobSpec) -> Int {
        var total = 128 + spec.workingDirectory.utf8.count + spec.name.utf8.count
        for arg in spec.command { total += 4 + arg.utf8.count }
        for (key, value) in spec.environment { total += 8 + key.utf8.count + value.utf8.count }
        for tag in spec.requirements { total += 4 + tag.utf8.count }
        total += spec.artifacts.reduce(0) { $0 + 32 + $1.hash.utf8.count + $1.destination.utf8.count }
        if let gate = spec.gate { total += 16 + gate.message.utf8.count }
        if let service = spec.service { total += 32 + service.name.utf8.count + service.health.utf8.count + service.restart.utf8.count }
        return total
    }

    private static func size(_ spec: ServiceSpec) -> Int {
        var total = 96 + spec.name.utf8.count + spec.restart.utf8.count + spec.health.utf8.count + spec.dag.utf8.count
        for arg in spec.command { total += 4 + arg.utf8.count }
        for (key, value) in spec.environment { total += 8 + key.utf8.count + value.utf8.count }
        for tag in spec.requirements { total += 4 + tag.utf8.count }
        total += spec.artifacts.reduce(0) { $0 + 32 + $1.hash.utf8.count + $1.destination.utf8.count }
        return total
    }

    private static func size(_ info: JobInfo) -> Int {
        96 + info.id.utf8.count + size(info.spec) + info.workerId.utf8.count + info.pendingReason.utf8.count
            + info.dagId.utf8.count + info.parents.reduce(0) { $0 + 4 + $1.utf8.count }
            + (info.result?.error?.utf8.count ?? 0) + 32
    }

    private static func size(_ info: DagInfo) -> Int {
        96 + info.id.utf8.count + info.name.utf8.count + info.jobs.reduce(0) { $0 + size($1) }
    }

    private static func size(_ info: WorkerInfo) -> Int {
        96 + info.id.utf8.count + info.name.utf8.count + info.health.utf8.count + info.address.utf8.count
            + info.capabilities.reduce(0) { $0 + 4 + $1.utf8.count }
            + info.runningJobs.reduce(0) { $0 + 4 + $1.utf8.count } + info.services.reduce(0) { $0 + 4 + $1.utf8.count }
    }
}
