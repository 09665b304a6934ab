import TitanPolicy
import TitanProtocol
import Yams

/// One entry of `jobs`, parsed, with the nodes later checks point at.
struct ParsedJob {
    var index: Int
    var job: DagJobSpec
    /// The job's mapping (its first key's line).
    var node: Node
    var idNode: Node
    /// Each `depends_on` entry, the node it came from and its key path.
    var dependencies: [(id: String, node: Node, key: String)]
    /// The `file` script (absolute), its node, and the arguments after it in the command.
    var script: (path: String, node: Node, args: [String])?
    /// `hitl_message` on a job that runs: an approval gate goes after it.
    var approval: GateSpec?
    /// Keys read without effect (see `PipelineNote`).
    var notes: [PipelineNote] = []
    var keyPath: String { "jobs[\(index)]" }
}

/// Parses one entry of `jobs`. Every job key of the original Titan's schema is read (`id`, `type`,
/// `file`, `args`, `depends_on`, `requirement`, `priority`, `delay`, `affinity`, `port`,
/// `hitl_message`, `max_wait_seconds`), with its meaning; the two it accepted where they mean
/// nothing (`port` on a job that is not a service, `max_wait_seconds` without a gate) are
/// ignored with a note.
struct JobParser {
    static let knownKeys = [
        "id", "name", "file", "command", "args", "type", "depends_on", "requirement", "requirements",
        "priority", "delay", "retries", "retry_delay", "timeout", "affinity", "env", "working_dir",
        "port", "hitl_message", "max_wait_seconds", "health", "restart", "replicas", "keep", "service_name",
    ]
    /// Keys that only a service (`type: service`) takes.
    static let serviceKeys = ["port", "health", "restart", "replicas", "keep", "service_name"]
    static let restartModes = RestartMode.allCases.map(\.rawValue)
    /// The original Titan's default wait for an approval: two days.
    static let defaultGateWaitMs: UInt64 = 172_800_000
    static let maxIdLength = 128
    static let maxSeconds: Double = 365 * 24 * 3600
    static let maxRetries = 10_000

    let reader: NodeReader
    let baseDirectory: String
    /// Pipeline-wide `env`, under each job's own.
    let pipelineEnvironment: [String: String]

    private enum CommandValue {
        case shell(String)
        case argv([String])
    }

    func parse(_ node: Node, index: Int) throws(PipelineError) -> ParsedJob {
        let path = "jobs[\(index)]"
        let entries = try reader.entries(
            of: node, at: path, expected: "a job (a mapping with 'id' and 'file' or 'command')")

        var id: (text: String, node: Node)?
        var displayName: String?
        var file: (text: String, node: Node, key: Node)?
        var command: (value: CommandValue, node: Node, key: Node)?
        var args: (items: [String], key: Node)?
        var dependencies: [(id: String, node: Node, key: String)] = []
        var requirementKey: MappingEntry?
        var requirements: [String] = []
        var priority: Int32 = 1
        var delayMs: UInt64 = 0
        var retries: UInt32 = 0
        var retryDelayMs: UInt64 = 1_000
        var timeoutMs: UInt64 = 0
        var affinity = Affinity.none
        var environment = pipelineEnvironment
        var workingDirectory = ""
        var kind = JobKind.run
        var service = ServiceOptions()
        var serviceEntries: [MappingEntry] = []
        var hitlMessage: (text: String, node: Node)?
        var maxWaitMs = Self.defaultGateWaitMs
        var maxWaitKey: Node?
        var notes: [PipelineNote] = []

        for entry in entries {
            let key = "\(path).\(entry.name)"
            let value = entry.value
            switch entry.name {
            case "id":
                let text = try reader.requiredString(value, at: key)
                try checkId(text, node: value, at: key)
                id = (text, value)
            case "name":
                if let text = try reader.optionalString(value, at: key), !text.isEmpty { displayName = text }
            case "file":
                if let text = try reader.optionalString(value, at: key) {
                    if text.isEmpty { throw reader.error(value, key, "expected a script path, got an empty string") }
                    file = (text, value, entry.keyNode)
                }
            case "command":
                if let parsed = try commandValue(value, at: key) { command = (parsed, value, entry.keyNode) }
            case "args":
                if let items = try reader.stringList(value, at: key, split: Self.splitOnWhitespace) {
                    args = (items.map(\.text), entry.keyNode)
                }
            case "type":
                kind = try checkType(value, at: key)
            case let name where Self.serviceKeys.contains(name):
                serviceEntries.append(entry)  // read once the job's type is known
            case "hitl_message":
                if let text = try reader.optionalString(value, at: key) { hitlMessage = (text, entry.keyNode) }
            case "max_wait_seconds":
                if let seconds = try seconds(value, at: key, allowZero: false) { maxWaitMs = max(1, Self.milliseconds(seconds)) }
                maxWaitKey = entry.keyNode
            case "depends_on":
                let items = try reader.stringList(value, at: key, split: Self.splitList) ?? []
                dependencies = items.enumerated().map { i, item in
                    (id: item.text, node: item.node, key: value.isSequence ? "\(key)[\(i)]" : key)
                }
            case "requirement", "requirements":
                if let first = requirementKey {
                    throw reader.error(entry.keyNode, key,
                                       "'\(first.name)' is already given at line \(first.keyNode.line); use one of 'requirement' and 'requirements'")
                }
                requirementKey = entry
                requirements = try requirementTags(value, at: key)
            case "priority":
                if let number = try reader.integer(value, at: key) {
                    guard let narrowed = Int32(exactly: number) else {
                        throw reader.error(value, key, "must be between \(Int32.min) and \(Int32.max), got \(number)")
                    }
                    priority = narrowed
                }
            case "delay":
                if let seconds = try seconds(value, at: key, allowZero: true) { delayMs = Self.milliseconds(seconds) }
            case "retries":
                if let number = try reader.integer(value, at: key) {
                    guard (0...Self.maxRetries).contains(number) else {
                        throw reader.error(value, key, "must be between 0 and \(Self.maxRetries), got \(number)")
                    }
                    retries = UInt32(number)
                }
            case "retry_delay":
                if let seconds = try seconds(value, at: key, allowZero: true) { retryDelayMs = Self.milliseconds(seconds) }
            case "timeout":
                if let seconds = try seconds(value, at: key, allowZero: false) {
                    timeoutMs = max(1, Self.milliseconds(seconds))
                }
            case "affinity":
                affinity = try affinityValue(value, at: key)
            case "env":
                for (name, text) in try reader.stringMap(value, at: key) ?? [:] { environment[name] = text }
            case "working_dir":
                if let text = try reader.optionalString(value, at: key), !text.isEmpty {
                    workingDirectory = PathResolution.absolute(text, relativeTo: baseDirectory)
                }
            default:
                throw reader.unknownKey(entry, at: key, known: Self.knownKeys)
            }
        }

        guard let id else {
            throw reader.error(node, "\(path).id", "missing required key 'id'")
        }
        var argv: [String]
        var script: (path: String, node: Node, args: [String])?
        if kind == .service {
            for entry in serviceEntries { try serviceOption(entry, at: "\(path).\(entry.name)", into: &service) }
        } else {
            if let misplaced = serviceEntries.first(where: { $0.name != "port" }) {
                throw reader.error(misplaced.keyNode, "\(path).\(misplaced.name)",
                                   "'\(misplaced.name)' applies to services: add 'type: service' to this job")
            }
            if let port = serviceEntries.first {
                // The original Titan read `port` on services only and ignored it elsewhere.
                notes.append(reader.note(port.keyNode, "\(path).port",
                                         "ignored: 'port' applies to services (add 'type: service' to run this job as one)"))
            }
        }
        if let maxWaitKey, kind != .gate, hitlMessage == nil || kind == .service {
            notes.append(reader.note(maxWaitKey, "\(path).max_wait_seconds",
                                     "ignored: it bounds an approval gate's wait (give the job 'hitl_message', or 'type: gate')"))
        }
        if kind == .service, retries > 0, let key = entries.first(where: { $0.name == "retries" })?.keyNode {
            throw reader.error(key, "\(path).retries", "a service is restarted per its 'restart' policy, not retried")
        }
        if kind == .service, let key = hitlMessage?.node {
            throw reader.error(key, "\(path).hitl_message", "a service cannot wait for approval: put a gate before it")
        }
        if kind == .service, service.health.isEmpty == false, service.port < 0 {
            throw reader.error(entries.first { $0.name == "health" }?.keyNode ?? node, "\(path).health",
                               "a health check needs a port: add 'port: auto' or a number")
        }
        if kind == .gate {
            if let given = file?.key ?? command?.key {
                throw reader.error(given, "\(path).\(file != nil ? "file" : "command")",
                                   "a gate runs nothing: give it 'hitl_message', not 'file' or 'command'")
            }
            let gate = GateSpec(message: hitlMessage?.text ?? "Approve '\(id.text)'?", timeoutMs: maxWaitMs)
            let spec = JobSpec(command: [], environment: environment, requirements: requirements, priority: priority,
                               name: displayName ?? id.text, delayMs: delayMs, gate: gate)
            return ParsedJob(index: index,
                             job: DagJobSpec(id: id.text, spec: spec, dependsOn: dependencies.map(\.id), affinity: affinity),
                             node: node, idNode: id.node, dependencies: dependencies, script: nil, notes: notes)
        }
        switch (file, command) {
        case (let file?, let command?):
            let fileIsLater = (file.key.line, file.key.column) > (command.key.line, command.key.column)
            throw reader.error(fileIsLater ? file.key : command.key, "\(path).\(fileIsLater ? "file" : "command")",
                               "give either 'file' or 'command', not both")
        case (nil, nil):
            throw reader.error(node, path, "job '\(id.text)' needs either 'file' (a script) or 'command'")
        case (let file?, nil):
            // The command is set once the script's place on the worker is known (see
            // PipelineSchema): relative to the project, or shipped on its own.
            script = (try scriptPath(file.text, node: file.node, at: "\(path).file"), file.node, args?.items ?? [])
            argv = []
        case (nil, .some(let command)):
            switch command.value {
            case .argv(let words):
                argv = words
            case .shell(let script):
                if let args {
                    throw reader.error(args.key, "\(path).args",
                                       "'args' cannot be used with a string 'command'; put the arguments in the command string")
                }
                argv = ["/bin/sh", "-c", script]
            }
        }
        argv += args?.items ?? []

        let spec = JobSpec(command: argv, environment: environment, workingDirectory: workingDirectory,
                           requirements: requirements, priority: priority, name: displayName ?? id.text,
                           retries: retries, retryDelayMs: retryDelayMs, timeoutMs: timeoutMs, delayMs: delayMs,
                           service: kind == .service ? service : nil)
        return ParsedJob(index: index,
                         job: DagJobSpec(id: id.text, spec: spec, dependsOn: dependencies.map(\.id), affinity: affinity),
                         node: node, idNode: id.node, dependencies: dependencies, script: script,
                         approval: hitlMessage.map { GateSpec(message: $0.text, timeoutMs: maxWaitMs) }, notes: notes)
    }

    // MARK: Keys

    /// Letters, digits, `-`, `_`, `.`; 1 to 128 of them (as the master requires).
    static func isValidId(_ id: String) -> Bool {
        guard !id.isEmpty, id.utf8.count <= maxIdLength else { return false }
        return id.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
                || c == 0x2D || c == 0x5F || c == 0x2E
        }
    }

    private func checkId(_ id: String, node: Node, at key: String) throws(PipelineError) {
        if id.isEmpty { throw reader.error(node, key, "must not be empty") }
        if id.utf8.count > Self.maxIdLength {
            throw reader.error(node, key, "is \(id.utf8.count) characters long; the limit is \(Self.maxIdLength)")
        }
        if !Self.isValidId(id) {
            throw reader.error(node, key, "invalid id '\(id)': use only letters, digits, '-', '_' and '.'")
        }
    }

    private func commandValue(_ node: Node, at key: String) throws(PipelineError) -> CommandValue? {
        switch node {
        case .scalar(let scalar):
            if node.isNull { return nil }
            guard !scalar.string.allSatisfy(\.isWhitespace) else {
                throw reader.error(node, key, "expected a command, got an empty string")
            }
            return .shell(scalar.string)
        case .sequence:
            let words = try reader.stringList(node, at: key, split: { [$0] }) ?? []
            guard let first = words.first else {
                throw reader.error(node, key, "expected a command, got an empty sequence")
            }
            if first.text.isEmpty { throw reader.error(first.node, "\(key)[0]", "the program name is empty") }
            return .argv(words.map(\.text))
        default:
            throw reader.error(node, key, "expected a string or a sequence of strings, got \(reader.describe(node))")
        }
    }

    private func scriptPath(_ file: String, node: Node, at key: String) throws(PipelineError) -> String {
        let resolved = PathResolution.absolute(file, relativeTo: baseDirectory)
        switch PathResolution.kind(of: resolved) {
        case .regular:
            return resolved
        case .missing:
            throw reader.error(node, key, "script '\(resolved)' does not exist")
        case .directory:
            throw reader.error(node, key, "'\(resolved)' is a directory, not a script")
        case .other:
            throw reader.error(node, key, "'\(resolved)' is not a regular file")
        }
    }

    enum JobKind { case run, gate, service }

    private func checkType(_ node: Node, at key: String) throws(PipelineError) -> JobKind {
        guard let type = try reader.optionalString(node, at: key) else { return .run }
        switch type.lowercased() {  // the original Titan lowercased it: `type: "RUN"` is `run`
        case "run": return .run
        case "gate": return .gate
        case "service": return .service
        default:
            var message = "expected 'run', 'service' or 'gate', got \(reader.describe(node))"
            if let suggestion = KeySuggestion.closest(to: type, among: ["run", "service", "gate"]) {
                message += "; did you mean '\(suggestion)'?"
            }
            throw reader.error(node, key, message)
        }
    }

    /// `port: 8080|auto`, `health: tcp|http:/path`, `restart`, `replicas`, `keep`, `service_name`.
    private func serviceOption(_ entry: MappingEntry, at key: String, into service: inout ServiceOptions) throws(PipelineError) {
        let value = entry.value
        switch entry.name {
        case "port":
            if case .scalar(let scalar) = value, scalar.string == "auto" {
                service.port = 0
            } else if let number = try reader.integer(value, at: key) {
                guard (1...65_535).contains(number) else { throw reader.error(value, key, "expected a port (1 to 65535) or 'auto', got \(number)") }
                service.port = Int32(number)
            }
        case "health":
            guard let text = try reader.optionalString(value, at: key) else { return }
            guard ServiceSpec.isHealthCheck(text) else {
                throw reader.error(value, key, "expected 'tcp' or 'http:/PATH', got \(reader.describe(value))")
            }
            service.health = text
        case "restart":
            guard let text = try reader.optionalString(value, at: key) else { return }
            guard Self.restartModes.contains(text) else {
                var message = "expected one of \(Self.restartModes.joined(separator: ", ")), got \(reader.describe(value))"
                if let suggestion = KeySuggestion.closest(to: text, among: Self.restartModes) { message += "; did you mean '\(suggestion)'?" }
                throw reader.error(value, key, message)
            }
            service.restart = text
        case "replicas":
            guard let number = try reader.integer(value, at: key) else { return }
            guard (1...Int(ServiceSpec.maxReplicas)).contains(number) else {
                throw reader.error(value, key, "must be between 1 and \(ServiceSpec.maxReplicas), got \(number)")
            }
            service.replicas = UInt32(number)
        case "keep":
            guard case .scalar(let scalar) = value, value.hasTag(.bool), let flag = Bool.construct(from: scalar) else {
                throw reader.error(value, key, "expected true or false, got \(reader.describe(value))")
            }
            service.keep = flag
        default:  // service_name
            guard let text = try reader.optionalString(value, at: key) else { return }
            guard Self.isValidId(text) else {
                throw reader.error(value, key, "invalid service name '\(text)': use only letters, digits, '-', '_' and '.'")
            }
            service.name = text
        }
    }

    private func requirementTags(_ node: Node, at key: String) throws(PipelineError) -> [String] {
        guard let items = try reader.stringList(node, at: key, split: Self.splitList) else { return [] }
        var tags: [String] = []
        for (i, item) in items.enumerated() {
            let tag = item.text.trimmingWhitespace().uppercased()
            if tag.isEmpty || tag.contains(",") || tag.contains(where: \.isWhitespace) {
                let itemKey = node.isSequence ? "\(key)[\(i)]" : key
                throw reader.error(item.node, itemKey, "invalid requirement tag '\(item.text)'")
            }
            if !tags.contains(tag) { tags.append(tag) }
        }
        return tags
    }

    private func seconds(_ node: Node, at key: String, allowZero: Bool) throws(PipelineError) -> Double? {
        guard let seconds = try reader.number(node, at: key, expected: "a number of seconds") else { return nil }
        if seconds < 0 || (!allowZero && seconds == 0) {
            let bound = allowZero ? "at least 0" : "more than 0"
            let hint = allowZero ? "" : " (leave 'timeout' out for no limit)"
            throw reader.error(node, key, "must be \(bound) seconds, got \(reader.describe(node))\(hint)")
        }
        if seconds > Self.maxSeconds {
            throw reader.error(node, key, "must be at most one year (\(Int(Self.maxSeconds)) seconds), got \(reader.describe(node))")
        }
        return seconds
    }

    private func affinityValue(_ node: Node, at key: String) throws(PipelineError) -> Affinity {
        if node.isNull { return .none }
        if case .scalar(let scalar) = node, node.hasTag(.bool), let flag = Bool.construct(from: scalar) {
            return flag ? .soft : .none
        }
        let expected = "expected true, false, 'soft' or 'hard'"
        guard case .scalar(let scalar) = node else {
            throw reader.error(node, key, "\(expected), got \(reader.describe(node))")
        }
        switch scalar.string.lowercased() {
        case "soft", "true": return .soft
        case "hard": return .hard
        case "none", "false": return .none
        default: throw reader.error(node, key, "\(expected), got \(reader.describe(node))")
        }
    }

    // MARK: Helpers

    static func milliseconds(_ seconds: Double) -> UInt64 {
        UInt64((seconds * 1000).rounded())
    }

    /// `args: "a b  c"` → `["a", "b", "c"]`, as the original split them.
    static func splitOnWhitespace(_ text: String) -> [String] {
        text.split(whereSeparator: \.isWhitespace).map(String.init)
    }

    /// `depends_on: "a, b"` → `["a", "b"]` (ids hold neither commas nor spaces);
    /// `requirement: "GPU, HIGH_MEM"` → `["GPU", "HIGH_MEM"]`.
    static func splitList(_ text: String) -> [String] {
        text.split(whereSeparator: { $0 == "," || $0.isWhitespace }).map(String.init)
    }
}

extension Node {
    var isSequence: Bool {
        if case .sequence = self { return true }
        return false
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var text = Substring(self)
        while text.first?.isWhitespace == true { text.removeFirst() }
        while text.last?.isWhitespace == true { text.removeLast() }
        return String(text)
    }
}
