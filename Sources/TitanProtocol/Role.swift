/// What an authenticated connection may do, by the role of its token.
///
/// - `read`: status, logs, listings, KV reads, artifact downloads.
/// - `submit`: everything `read` may, plus jobs, DAGs, schedules, services, uploads, KV writes
///   (approvals are KV writes), cancel.
/// - `worker`: register and report; receives jobs; downloads artifacts. Cannot submit.
/// - `job`: the token a running job is given: `read`, KV, new jobs and DAGs, growing its own DAG
///   (checked by the master), uploads. Valid while its attempt runs.
/// - `admin`: everything, including tokens.
public enum Role: String, Sendable, CaseIterable, Codable {
    case read, submit, worker, job, admin

    /// True when a connection with this role may send `message`.
    public func allows(_ message: Message) -> Bool {
        switch self {
        case .admin: return true
        case .worker: return Self.workerMessage(message) || Self.anyone(message)
        case .read: return Self.reads(message) || Self.anyone(message)
        case .submit: return Self.reads(message) || Self.submits(message) || Self.anyone(message)
        case .job:
            if case .cancel = message { return false }
            if case .schedule = message { return false }
            if case .unschedule = message { return false }
            return Self.reads(message) || Self.submits(message) || Self.anyone(message)
        }
    }

    private static func anyone(_ message: Message) -> Bool {
        switch message {
        case .ping, .pong, .ok, .error: true
        default: false
        }
    }

    private static func workerMessage(_ message: Message) -> Bool {
        switch message {
        case .register, .heartbeat, .jobOutput, .jobFinished, .fetchArtifact, .serviceReport: true
        default: false
        }
    }

    private static func reads(_ message: Message) -> Bool {
        switch message {
        case .getStatus, .listWorkers, .listJobs, .subscribe, .unsubscribe, .getLogs, .getDag, .listDags,
             .listSchedules, .getArtifact, .fetchArtifact, .getStats, .listServices, .readLogs:
            return true
        case .kv(let op):
            return op.isRead
        default:
            return false
        }
    }

    private static func submits(_ message: Message) -> Bool {
        switch message {
        case .submit, .submitDag, .cancel, .schedule, .unschedule, .uploadArtifact, .kv, .extendDag,
             .deployService, .stopService, .restartService:
            true
        default:
            false
        }
    }
}
