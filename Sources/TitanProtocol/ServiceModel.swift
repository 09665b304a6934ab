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

    public init(name: String, command: [String], environment: [String: String] = [:], requirements: [String] = [],
                restart: String = "always", port: Int32 = -1, health: String = "", artifacts: [ArtifactRef] = []) {
        self.name = name
        self.command = command
        self.environment = environment
        self.requirements = requirements
        self.restart = restart
        self.port = port
        self.health = health
        self.artifacts = artifacts
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

    public init(spec: ServiceSpec, state: String, workerId: String = "", pid: Int32 = 0, port: Int32 = 0,
                restarts: UInt32 = 0, lastExit: String = "", startedAtMs: Int64 = 0) {
        self.spec = spec
        self.state = state
        self.workerId = workerId
        self.pid = pid
        self.port = port
        self.restarts = restarts
        self.lastExit = lastExit
        self.startedAtMs = startedAtMs
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
        return ServiceSpec(name: name, command: command, environment: environment, requirements: requirements,
                           restart: restart, port: port, health: health, artifacts: artifacts)
    }

    public mutating func readServiceInfo(_ p: () -> String) throws(ProtocolError) -> ServiceInfo {
        let spec = try readServiceSpec { p() + "spec." }
        let state = try readString(p() + "state")
        let workerId = try readString(p() + "workerId")
        let pid = try readI32(p() + "pid")
        let port = try readI32(p() + "port")
        let restarts = try readU32(p() + "restarts")
        let lastExit = try readString(p() + "lastExit")
        return ServiceInfo(spec: spec, state: state, workerId: workerId, pid: pid, port: port, restarts: restarts,
                           lastExit: lastExit, startedAtMs: try readI64(p() + "startedAtMs"))
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
