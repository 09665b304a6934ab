/// Services: long-running processes the cluster keeps alive (restart policies, ports, health).

/// What a user deploys.
public struct ServiceSpec: Sendable, Equatable, Encodable {
    /// Unique; `titan stop NAME` and friends use it.
    public var name: String
    /// Program and arguments; `{port}` in an argument becomes the service's port.
    public var command: [String]
    public var environment: [String: String]
    /// Capability tags the worker must have.
    public var requirements: [String]
    /// `always`, `on-failure` or `never`.
    public var restart: String
    /// -1: no port; 0: a free one chosen by the worker; else that port. Passed as `PORT`.
    public var port: Int32
    /// "" (none: healthy once started), `tcp` (the port accepts connections) or `http:/path`
    /// (a GET answers 2xx or 3xx).
    public var health: String
    /// Files put in its directory before it starts (like a job's).
    public var artifacts: [ArtifactRef]
    /// How many copies run, each on its own slot, spread over workers where possible. Copy 0 is
    /// named `NAME`, the others `NAME#1`, `NAME#2`, ...
    public var replicas: UInt32
    /// The DAG that started it ("" if none): it is stopped when that DAG ends.
    public var dag: String

    public init(name: String, command: [String], environment: [String: String] = [:], requirements: [String] = [],
                restart: String = "always", port: Int32 = -1, health: String = "", artifacts: [ArtifactRef] = [],
                replicas: UInt32 = 1, dag: String = "") {
        self.name = name
        self.command = command
        self.environment = environment
        self.requirements = requirements
        self.restart = restart
        self.port = port
        self.health = health
        self.artifacts = artifacts
        self.replicas = replicas
        self.dag = dag
    }

    /// More copies than this is a typo, not a plan.
    public static let maxReplicas: UInt32 = 1_000

    /// Whether `text` names a health check: `tcp` or `http:/PATH` ("" is none).
    public static func isHealthCheck(_ text: String) -> Bool { text == "tcp" || text.hasPrefix("http:/") }

    /// The name of copy `replica`: `NAME` for the first, `NAME#i` for the others.
    public func instanceName(_ replica: UInt32) -> String { replica == 0 ? name : "\(name)#\(replica)" }
}

/// What makes a DAG job a service (YAML `type: service`): the job's command, environment,
/// requirements and artifacts are the service's; the job completes once every copy is healthy.
/// Like `titan deploy`, the service keeps running after its DAG unless `keep` is false.
public struct ServiceOptions: Sendable, Equatable, Encodable {
    /// The service's name; "" means the job's id (`DAGID.JOBID` when not kept).
    public var name: String
    public var restart: String
    public var port: Int32
    public var health: String
    public var replicas: UInt32
    /// Keep it running after its DAG ends (the default); false: it is stopped when the DAG ends,
    /// as a service a DAG needs only while it runs (a test database, a model server for an eval).
    public var keep: Bool

    public init(name: String = "", restart: String = "always", port: Int32 = -1, health: String = "",
                replicas: UInt32 = 1, keep: Bool = true) {
        self.name = name
        self.restart = restart
        self.port = port
        self.health = health
        self.replicas = replicas
        self.keep = keep
    }
}

/// A service as `titan services` shows it.
public struct ServiceInfo: Sendable, Equatable, Encodable {
    public var spec: ServiceSpec
    /// STARTING, HEALTHY, RESTARTING, CRASH_LOOP, STOPPED, EXITED, or PENDING (no worker yet).
    public var state: String
    public var workerId: String
    public var pid: Int32
    /// The port it listens on (0: none).
    public var port: Int32
    public var restarts: UInt32
    /// How the last run ended ("" if it never ended), e.g. `exit 3` or `signal 9`.
    public var lastExit: String
    /// When the current run started (ms since the epoch; 0 if none).
    public var startedAtMs: Int64
    /// Which copy this is (0 ..< `spec.replicas`).
    public var replica: UInt32
    /// Its worker's address (`--advertise`, or as the worker reaches the master); "" if unknown.
    public var host: String

    /// `NAME`, or `NAME#i` for copies after the first.
    public var instance: String { spec.instanceName(replica) }

    public init(spec: ServiceSpec, state: String, workerId: String = "", pid: Int32 = 0, port: Int32 = 0,
                restarts: UInt32 = 0, lastExit: String = "", startedAtMs: Int64 = 0, replica: UInt32 = 0, host: String = "") {
        self.spec = spec
        self.state = state
        self.workerId = workerId
        self.pid = pid
        self.port = port
        self.restarts = restarts
        self.lastExit = lastExit
        self.startedAtMs = startedAtMs
        self.replica = replica
        self.host = host
    }
}

/// A worker's report on a service it supervises.
public struct ServiceReport: Sendable, Equatable {
    public var name: String
    /// The placement it belongs to: reports for an older one are stale.
    public var generation: UInt32
    public var state: String
    public var pid: Int32
    public var port: Int32
    public var restarts: UInt32
    public var lastExit: String
    public var startedAtMs: Int64

    public init(name: String, generation: UInt32, state: String, pid: Int32 = 0, port: Int32 = 0, restarts: UInt32 = 0,
                lastExit: String = "", startedAtMs: Int64 = 0) {
        self.name = name
        self.generation = generation
        self.state = state
        self.pid = pid
        self.port = port
        self.restarts = restarts
        self.lastExit = lastExit
        self.startedAtMs = startedAtMs
    }
}

extension BinaryWriter {
    public mutating func write(_ spec: ServiceSpec) {
        writeString(spec.name)
        writeStringArray(spec.command)
        writeStringDictionary(spec.environment)
        writeStringArray(spec.requirements)
        writeString(spec.restart)
        writeI32(spec.port)
        writeString(spec.health)
        writeArray(spec.artifacts) { $0.write($1) }
        writeU32(spec.replicas)
        writeString(spec.dag)
    }

    public mutating func write(_ options: ServiceOptions) {
        writeString(options.name)
        writeString(options.restart)
        writeI32(options.port)
        writeString(options.health)
        writeU32(options.replicas)
        writeBool(options.keep)
    }

    public mutating func write(_ info: ServiceInfo) {
        write(info.spec)
        writeString(info.state)
        writeString(info.workerId)
        writeI32(info.pid)
        writeI32(info.port)
        writeU32(info.restarts)
        writeString(info.lastExit)
        writeI64(info.startedAtMs)
        writeU32(info.replica)
        writeString(info.host)
    }

    public mutating func write(_ report: ServiceReport) {
        writeString(report.name)
        writeU32(report.generation)
        writeString(report.state)
        writeI32(report.pid)
        writeI32(report.port)
        writeU32(report.restarts)
        writeString(report.lastExit)
        writeI64(report.startedAtMs)
    }
}

extension BinaryReader {
    public mutating func readServiceSpec(_ p: () -> String) throws(ProtocolError) -> ServiceSpec {
        let name = try readString(p() + "name")
        let command = try readStringArray(p() + "command")
        let environment = try readStringDictionary(p() + "environment")
        let requirements = try readStringArray(p() + "requirements")
        let restart = try readString(p() + "restart")
        let port = try readI32(p() + "port")
        let health = try readString(p() + "health")
        let artifacts = try readArtifactRefs { p() + "artifacts" }
        let replicas = try readU32(p() + "replicas")
        return ServiceSpec(name: name, command: command, environment: environment, requirements: requirements,
                           restart: restart, port: port, health: health, artifacts: artifacts, replicas: replicas,
                           dag: try readString(p() + "dag"))
    }

    public mutating func readServiceOptions(_ p: () -> String) throws(ProtocolError) -> ServiceOptions {
        let name = try readString(p() + "name")
        let restart = try readString(p() + "restart")
        let port = try readI32(p() + "port")
        let health = try readString(p() + "health")
        let replicas = try readU32(p() + "replicas")
        return ServiceOptions(name: name, restart: restart, port: port, health: health, replicas: replicas,
                              keep: try readBool(p() + "keep"))
    }

    public mutating func readServiceInfo(_ p: () -> String) throws(ProtocolError) -> ServiceInfo {
        let spec = try readServiceSpec { p() + "spec." }
        let state = try readString(p() + "state")
        let workerId = try readString(p() + "workerId")
        let pid = try readI32(p() + "pid")
        let port = try readI32(p() + "port")
        let restarts = try readU32(p() + "restarts")
        let lastExit = try readString(p() + "lastExit")
        let startedAtMs = try readI64(p() + "startedAtMs")
        let replica = try readU32(p() + "replica")
        return ServiceInfo(spec: spec, state: state, workerId: workerId, pid: pid, port: port, restarts: restarts,
                           lastExit: lastExit, startedAtMs: startedAtMs, replica: replica, host: try readString(p() + "host"))
    }

    public mutating func readServiceReport() throws(ProtocolError) -> ServiceReport {
        let name = try readString("name")
        let generation = try readU32("generation")
        let state = try readString("state")
        let pid = try readI32("pid")
        let port = try readI32("port")
        let restarts = try readU32("restarts")
        let lastExit = try readString("lastExit")
        return ServiceReport(name: name, generation: generation, state: state, pid: pid, port: port, restarts: restarts,
                             lastExit: lastExit, startedAtMs: try readI64("startedAtMs"))
    }
}
