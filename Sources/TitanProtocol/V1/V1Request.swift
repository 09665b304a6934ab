/// The original Titan protocol (frame version 1): text payloads, `|`-separated fields, one
/// reply frame per request. See PROTOCOL-TITAN-V1 (shared docs). This file holds the requests
/// as parsed; `V1Codec` parses them and `V1Reply` formats answers.

/// The v1 opcodes a client may send.
public enum V1Opcode: UInt8, Sendable, CaseIterable {
    case submitJob = 0x03
    case submitDag = 0x04
    case deploy = 0x05
    case run = 0x06
    case stop = 0x07
    case stats = 0x08
    case statsJSON = 0x09
    case cleanStats = 0x0B
    case killWorker = 0x11
    case getLogs = 0x16
    case uploadAsset = 0x53
    case fetchAsset = 0x54
    case getJobStatus = 0x55
    case cancelJob = 0x56
    case deployScript = 0x57
    case kvSet = 0x60
    case kvGet = 0x61
    case kvSadd = 0x62
    case kvSmembers = 0x63
}

/// Reply opcodes. The original SDK ignores them and matches the text.
public enum V1ReplyOpcode: UInt8, Sendable {
    case ack = 0x50
    case error = 0x51
    case data = 0x52
}

/// One parsed v1 request.
public enum V1Request: Sendable, Equatable {
    case submitDag([V1Job])
    case submitJob(V1Job)
    case getJobStatus(id: String)
    case getLogs(id: String)
    case cancelJob(id: String)
    case stop(id: String)
    case stats
    case statsJSON
    case cleanStats
    /// Store a file under `name`; `base64` is decoded off the loop.
    case uploadAsset(name: String, base64: String)
    case fetchAsset(name: String)
    case deployScript(name: String, base64: String)
    /// Run a previously deployed script as a long-running process.
    case deploy(file: String, port: Int, requirement: String)
    /// Run a previously deployed script once.
    case run(file: String, requirement: String)
    case killWorker(host: String, port: Int)
    case kvSet(key: String, value: String)
    case kvGet(key: String)
    case kvSadd(key: String, member: String)
    case kvSmembers(key: String)
}

/// One job of a v1 DAG line or SUBMIT_JOB payload.
public struct V1Job: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        /// An inline script (base64), run to exit.
        case runPayload = "RUN_PAYLOAD"
        /// An inline script run as a long-running service.
        case deployPayload = "DEPLOY_PAYLOAD"
        /// An entry of an uploaded zip, run to exit.
        case runArchive = "RUN_ARCHIVE"
        /// An entry of an uploaded zip run as a service.
        case startArchiveService = "START_ARCHIVE_SERVICE"

        /// Fields between the header and the priority.
        var payloadFields: Int {
            switch self {
            case .runPayload: 4          // file, args, base64, requirement
            case .deployPayload: 4       // file, base64, port, requirement
            case .runArchive: 3          // zip/entry, args, requirement
            case .startArchiveService: 4 // zip/entry, args, port, requirement
            }
        }

        public var isService: Bool { self == .deployPayload || self == .startArchiveService }
    }

    /// With the `DAG-` prefix.
    public var id: String
    public var kind: Kind
    /// A file name (inline kinds) or `ZIP/ENTRY` (archive kinds).
    public var file: String
    public var args: [String]
    /// Inline kinds only.
    public var scriptBase64: String
    public var port: Int
    public var requirement: String
    public var priority: Int32
    public var delayMs: UInt64
    /// With the `DAG-` prefix.
    public var parents: [String]
    public var affinity: Bool

    public init(id: String, kind: Kind, file: String, args: [String] = [], scriptBase64: String = "", port: Int = 0,
                requirement: String = "GENERAL", priority: Int32 = 1, delayMs: UInt64 = 0, parents: [String] = [],
                affinity: Bool = false) {
        self.id = id
        self.kind = kind
        self.file = file
        self.args = args
        self.scriptBase64 = scriptBase64
        self.port = port
        self.requirement = requirement
        self.priority = priority
        self.delayMs = delayMs
        self.parents = parents
        self.affinity = affinity
    }
}

/// A v1 payload that cannot be understood; the message names the line and field.
public struct V1Error: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
