import Foundation
import TitanArtifacts
import TitanProtocol

/// The original Titan protocol (v1), served beside the native one: each v1 request becomes a
/// native message for the scheduler (which never knows the codec it came through), and the
/// scheduler's typed reply becomes the text the original SDK matches on. Work that touches the
/// disk or big base64 (inline scripts, uploads, downloads) runs on the artifact queue first.
enum V1Bridge {
    /// How a request is carried out.
    enum Plan {
        /// Send this to the scheduler; format its reply.
        case native(Message, Expect)
        /// Build the message off the loop (decoding and storing files), then as `.native`.
        case prepare(@Sendable (ArtifactStore) throws(V1Error) -> Message, Expect)
        /// Answer from the artifact store, off the loop.
        case answer(@Sendable (ArtifactStore) -> V1Reply)
        case reply(V1Reply)
    }

    /// What the scheduler's reply means to a v1 client.
    enum Expect: Sendable {
        case accepted(String)
        case status
        case logs
        case cancel
        case stop(String)
        case kvSet, kvGet, kvSadd, kvSmembers
        case queued(deploy: Bool)
        case stats(json: Bool)
    }

    static func plan(_ request: V1Request) -> Plan {
        switch request {
        case .submitDag(let jobs):
            return .prepare({ (store) throws(V1Error) in .submitDag(try dag(jobs, store: store), follow: false) },
                            .accepted("DAG_ACCEPTED"))
        case .submitJob(var job):
            if job.id.isEmpty { job.id = V1Codec.prefixed("job-" + String(UInt32.random(in: 0...UInt32.max), radix: 36)) }
            let one = job
            return .prepare({ (store) throws(V1Error) in .submitDag(try dag([one], store: store), follow: false) },
                            .accepted("JOB_ACCEPTED"))
        case .getJobStatus(let id):
            return .native(.getStatus(jobId: id), .status)
        case .getLogs(let id):
            // The last 100 lines, as the original: found on the master, whatever the job printed.
            return .native(.readLogs(LogRead(jobId: id, tailLines: 100)), .logs)
        case .cancelJob(let id):
            return .native(.cancel(jobId: id), .cancel)
        case .stop(let id):
            // A service (DEPLOY, or a DAG's DEPLOY_PAYLOAD job), or else the job of that id.
            return .native(.stopService(name: V1Codec.prefixed(id)), .stop(id))
        case .stats:
            return .native(.getStats, .stats(json: false))
        case .statsJSON:
            return .native(.getStats, .stats(json: true))
        case .cleanStats:
            return .reply(V1Reply(.ack, "STATS_CLEANED"))
        case .uploadAsset(let name, let base64):
            return .answer { store in
                guard let bytes = decode(base64) else { return V1Reply(.error, "ERROR: the content of '\(name)' is not valid base64") }
                do throws(ArtifactError) {
                    try store.store(bytes, name: name, kind: name.lowercased().hasSuffix(".zip") ? .archive : .file)
                    return V1Reply(.ack, "UPLOAD_SUCCESS")
                } catch {
                    return V1Reply(.error, "ERROR: \(error.message)")
                }
            }
        case .deployScript(let name, let base64):
            return .answer { store in
                guard let bytes = decode(base64) else { return V1Reply(.error, "DEPLOY_FAILED: the content of '\(name)' is not valid base64") }
                do throws(ArtifactError) {
                    try store.store(bytes, name: name, kind: .file)
                    return V1Reply(.ack, "DEPLOY_SUCCESS")
                } catch {
                    return V1Reply(.error, "DEPLOY_FAILED: \(error.message)")
                }
            }
        case .fetchAsset(let name):
            return .answer { store in
                do throws(ArtifactError) {
                    return V1Reply(.data, Data(try store.readAll(named: name)).base64EncodedString())
                } catch {
                    return V1Reply(.error, error.kind == .notFound ? "ERROR_NOT_FOUND" : "ERROR: \(error.message)")
                }
            }
        case .run(let file, let requirement):
            return .prepare({ (store) throws(V1Error) in
                .submit(try deployed(file, requirement: requirement, store: store), follow: false)
            }, .queued(deploy: false))
        case .deploy(let file, let port, let requirement):
            // A supervised service named `DAG-<file>` (STOP takes the file name), on its port or a
            // free one (the original stalled the cluster on port 0).
            return .prepare({ (store) throws(V1Error) in
                let job = try deployed(file, requirement: requirement, store: store)
                return .deployService(ServiceSpec(name: V1Codec.prefixed(file), command: job.command,
                                                  requirements: job.requirements, port: Int32(clamping: max(0, port)),
                                                  artifacts: job.artifacts))
            }, .queued(deploy: true))
        case .killWorker(let host, let port):
            return .reply(V1Reply(.error, "ERROR: workers are not addressed by host and port here (\(host):\(port)); stop the worker's titan-node process"))
        case .kvSet(let key, let value):
            return .native(.kv(.set(key: key, value: Array(value.utf8), ttlMs: 0)), .kvSet)
        case .kvGet(let key):
            return .native(.kv(.get(key: key)), .kvGet)
        case .kvSadd(let key, let member):
            return .native(.kv(.sadd(key: key, member: member)), .kvSadd)
        case .kvSmembers(let key):
            return .native(.kv(.smembers(key: key)), .kvSmembers)
        }
    }

    /// The v1 answer to the scheduler's reply.
    static func reply(to message: Message, _ expect: Expect) -> V1Reply {
        if case .error(let code, let text) = message {
            switch (expect, code) {
            case (.status, .notFound): return V1Reply(.ack, "NULL")
            case (.logs, .notFound): return V1Reply(.ack, "")
            case (.cancel, .notFound): return V1Reply(.ack, "NOT_FOUND")
            case (.stop(let id), .notFound): return V1Reply(.error, "ERROR: no service or job '\(id)'")
            case (.queued(true), _): return V1Reply(.error, "DEPLOY_FAILED: \(text)")
            default: return V1Reply(.error, "ERROR: \(text)")
            }
        }
        switch (expect, message) {
        case (.accepted(let text), .dagSubmitted):
            return V1Reply(.ack, text)
        case (.status, .status(let info)):
            return V1Reply(.ack, statusName(info))
        case (.logs, .logPage(let page)):
            // The last 100 lines, as the original (at most a page: 1 MiB).
            let text = String(decoding: page.chunks.flatMap(\.bytes), as: UTF8.self)
            var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            if lines.last == "" { lines.removeLast() }
            return V1Reply(.data, lines.suffix(100).joined(separator: "\n"))
        case (.cancel, .ok):
            return V1Reply(.ack, "CANCELLED")
        case (.stop(let id), .ok):
            return V1Reply(.ack, "STOPPED: \(id)")
        case (.kvSet, .kvResult):
            return V1Reply(.ack, "OK")
        case (.kvGet, .kvResult(.value(let value))):
            return value.map { V1Reply(.data, String(decoding: $0, as: UTF8.self)) } ?? V1Reply(.ack, "NULL")
        case (.kvSadd, .kvResult(.integer(let n))):
            return V1Reply(.ack, "\(n)")
        case (.kvSmembers, .kvResult(.members(let members))):
            return V1Reply(.data, members.joined(separator: ","))
        case (.queued(true), .serviceInfos):
            return V1Reply(.ack, "DEPLOY_QUEUED")
        case (.queued(let deploy), .submitted(let id)):
            return V1Reply(.ack, deploy ? "DEPLOY_QUEUED" : "JOB_QUEUED \(id)")
        case (.stats(let json), .stats(let stats)):
            return V1Reply(.data, json ? statsJSON(stats) : statsText(stats))
        default:
            return V1Reply(.error, "ERROR: unexpected reply \(message.name)")
        }
    }

    /// The original's status names. A skipped job reports what happened above it: FAILED below
    /// a failure, CANCELLED below a cancel.
    static func statusName(_ info: JobInfo) -> String {
        switch info.state {
        case .pending: "PENDING"
        case .running: "RUNNING"
        case .completed: "COMPLETED"
        case .failed: "FAILED"
        case .cancelled: "CANCELLED"
        case .skipped: info.result?.error?.hasSuffix("CANCELLED") == true ? "CANCELLED" : "FAILED"
        }
    }

    // MARK: jobs

    static func decode(_ base64: String) -> [UInt8]? {
        Data(base64Encoded: base64, options: .ignoreUnknownCharacters).map { [UInt8]($0) }
    }

    /// A v1 DAG as a native one: inline scripts stored as artifacts, archives looked up by name.
    static func dag(_ jobs: [V1Job], store: ArtifactStore) throws(V1Error) -> DagSpec {
        var specs: [DagJobSpec] = []
        for job in jobs {
            specs.append(DagJobSpec(id: job.id, spec: try spec(job, store: store), dependsOn: job.parents,
                                    affinity: job.affinity ? .soft : .none))
        }
        return DagSpec(name: "v1 " + (jobs.first?.id ?? "dag"), jobs: specs)
    }

    static func spec(_ job: V1Job, store: ArtifactStore) throws(V1Error) -> JobSpec {
        let ref: ArtifactRef
        let entry: String
        switch job.kind {
        case .runPayload, .deployPayload:
            guard let bytes = decode(job.scriptBase64) else {
                throw V1Error("ERROR: job '\(job.id)': the script '\(job.file)' is not valid base64")
            }
            let info: ArtifactInfo
            do throws(ArtifactError) {
                info = try store.store(bytes, name: nil, kind: .file)
            } catch {
                throw V1Error("ERROR: job '\(job.id)': cannot store its script: \(error.message)")
            }
            entry = job.file
            ref = ArtifactRef(hash: info.hash, size: info.size, kind: .file, destination: job.file,
                              executable: ScriptCommand.interpreter(for: job.file) == nil)
        case .runArchive, .startArchiveService:
            let slash = job.file.firstIndex(of: "/")!
            let zip = String(job.file[..<slash])
            entry = String(job.file[job.file.index(after: slash)...])
            guard let info = store.info(named: zip) else {
                throw V1Error("ERROR: job '\(job.id)': the archive '\(zip)' has not been uploaded (UPLOAD_ASSET)")
            }
            ref = ArtifactRef(hash: info.hash, size: info.size, kind: .archive, destination: "")
        }
        // Services outlive their DAG, as in the original, under the job's id (what STOP takes).
        let service = job.kind.isService
            ? ServiceOptions(name: job.id, port: Int32(clamping: max(0, job.port)), keep: true) : nil
        return JobSpec(command: ScriptCommand.command(for: entry) + job.args,
                       requirements: [job.requirement.uppercased()], priority: job.priority, name: job.id,
                       delayMs: job.delayMs, artifacts: [ref], service: service)
    }

    /// A script uploaded with DEPLOY_SCRIPT (or UPLOAD_ASSET), run by RUN or DEPLOY.
    static func deployed(_ file: String, requirement: String, store: ArtifactStore) throws(V1Error) -> JobSpec {
        guard let info = store.info(named: file) else {
            throw V1Error("ERROR: '\(file)' has not been deployed (DEPLOY_SCRIPT)")
        }
        return JobSpec(command: ScriptCommand.command(for: file), requirements: [requirement.uppercased()], name: file,
                       artifacts: [ArtifactRef(hash: info.hash, size: info.size, kind: .file, destination: file,
                                               executable: ScriptCommand.interpreter(for: file) == nil)])
    }

    // MARK: stats

    static func statsText(_ stats: ClusterStats) -> String {
        var lines = ["Titan cluster: \(stats.workers.count) worker(s), \(stats.queued) job(s) queued",
                     "jobs: \(stats.counts.pending) pending, \(stats.counts.running) running, \(stats.counts.completed) completed, "
                         + "\(stats.counts.failed) failed, \(stats.counts.cancelled) cancelled, \(stats.counts.skipped) skipped"]
        for w in stats.workers {
            lines.append("worker \(w.id) [\(w.capabilities.joined(separator: ","))] load \(w.running)/\(w.slots) \(w.health)"
                         + (w.runningJobs.isEmpty ? "" : " running \(w.runningJobs.joined(separator: ","))"))
        }
        return lines.joined(separator: "\n")
    }

    /// The original's keys (`active_workers`, `queue_size`, `workers` with `port`,
    /// `capabilities`, `load`, `active_job`, `history`, `services`), plus a few more.
    static func statsJSON(_ stats: ClusterStats) -> String {
        struct History: Encodable {
            var id: String
            var status: String
            var time: String
            var completed_at: Int64
        }
        struct Worker: Encodable {
            var id: String
            var port: Int
            var capabilities: String
            var load: String
            var active_job: String?
            var history: [History]
            var services: [String]
            var health: String
        }
        struct Stats: Encodable {
            var active_workers: Int
            var queue_size: UInt32
            var workers: [Worker]
            var jobs: JobCounts
        }
        let workers = stats.workers.map { w in
            let history = stats.recent.filter { $0.workerId == w.id }.suffix(20).map { job in
                History(id: job.id, status: statusName(job),
                        time: "\(max(0, (job.result?.finishedAtMs ?? 0) - (job.result?.startedAtMs ?? 0)))ms",
                        completed_at: job.result?.finishedAtMs ?? 0)
            }
            return Worker(id: w.id, port: 0, capabilities: "[\(w.capabilities.joined(separator: ", "))]",
                          load: "\(w.running)/\(w.slots)", active_job: w.runningJobs.first, history: Array(history),
                          services: [], health: w.health)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = (try? encoder.encode(Stats(active_workers: stats.workers.count, queue_size: stats.queued,
                                                 workers: workers, jobs: stats.counts))) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}

/// A v1 answer: the reply opcode and its text.
struct V1Reply: Sendable, Equatable {
    var opcode: V1ReplyOpcode
    var text: String

    init(_ opcode: V1ReplyOpcode, _ text: String) {
        self.opcode = opcode
        self.text = text
    }

    var frame: Frame {
        Frame(version: TitanProto.v1Version, opcode: opcode.rawValue, flags: 0, payload: Array(text.utf8))
    }
}
