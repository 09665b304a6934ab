/// Parses v1 request payloads (UTF-8 text). Pure; every error names what is wrong.
public enum V1Codec {
    /// The prefix v1 job ids carry; added where a client left it out.
    public static let idPrefix = "DAG-"

    public static func decode(opcode raw: UInt8, payload: [UInt8]) throws(V1Error) -> V1Request {
        guard let opcode = V1Opcode(rawValue: raw) else { throw V1Error("UNKNOWN_OPCODE: \(raw)") }
        guard let text = String(validating: payload, as: UTF8.self) else {
            throw V1Error("ERROR: the payload is not valid UTF-8")
        }
        switch opcode {
        case .submitDag:
            return .submitDag(try parseDag(text))
        case .submitJob:
            return .submitJob(try parseJob(text))
        case .getJobStatus:
            return .getJobStatus(id: try nonEmpty(text, "job id"))
        case .getLogs:
            return .getLogs(id: try nonEmpty(text, "job id"))
        case .cancelJob:
            return .cancelJob(id: try nonEmpty(text, "job id"))
        case .stop:
            return .stop(id: try nonEmpty(text, "id"))
        case .stats:
            return .stats
        case .statsJSON:
            return .statsJSON
        case .cleanStats:
            return .cleanStats
        case .uploadAsset:
            let (name, data) = try split2(text, "name|base64")
            return .uploadAsset(name: try fileName(name), base64: data)
        case .fetchAsset:
            return .fetchAsset(name: try fileName(text.trimmed))
        case .deployScript:
            let (name, data) = try split2(text, "name|base64")
            return .deployScript(name: try fileName(name), base64: data)
        case .deploy:
            let fields = text.split(separator: "|", omittingEmptySubsequences: false).map { String($0).trimmed }
            guard fields.count >= 2 else { throw V1Error("ERROR: expected file|port|requirement") }
            guard let port = Int(fields[1]), (0...65_535).contains(port) else {
                throw V1Error("ERROR: port '\(fields[1])' is not a port number")
            }
            return .deploy(file: try fileName(fields[0]), port: port,
                           requirement: fields.count > 2 && !fields[2].isEmpty ? fields[2] : "GENERAL")
        case .run:
            let fields = text.split(separator: "|", omittingEmptySubsequences: false).map { String($0).trimmed }
            return .run(file: try fileName(fields[0]),
                        requirement: fields.count > 1 && !fields[1].isEmpty ? fields[1] : "GENERAL")
        case .killWorker:
            let (host, portText) = try split2(text, "host|port")
            guard let port = Int(portText.trimmed) else { throw V1Error("ERROR: port '\(portText)' is not a number") }
            return .killWorker(host: host.trimmed, port: port)
        case .kvSet:
            // Split on the first `|` only: the value may contain more.
            let (key, value) = try split2(text, "key|value")
            return .kvSet(key: try nonEmpty(key, "key"), value: value)
        case .kvGet:
            return .kvGet(key: try nonEmpty(text, "key"))
        case .kvSadd:
            let (key, member) = try split2(text, "key|member")
            return .kvSadd(key: try nonEmpty(key, "key"), member: member)
        case .kvSmembers:
            return .kvSmembers(key: try nonEmpty(text, "key"))
        }
    }

    /// `line ; line ; ...`, one job per line.
    public static func parseDag(_ text: String) throws(V1Error) -> [V1Job] {
        let lines = text.split(separator: ";").map { String($0).trimmed }.filter { !$0.isEmpty }
        guard !lines.isEmpty else { throw V1Error("ERROR: the DAG has no jobs") }
        var jobs: [V1Job] = []
        for (i, line) in lines.enumerated() {
            do {
                jobs.append(try parseLine(line))
            } catch {
                throw V1Error("ERROR: DAG line \(i + 1): \(error.message)")
            }
        }
        return jobs
    }

    /// One DAG line, parsed from the outside in: the optional trailing `AFFINITY` (or `STICKY`),
    /// the parent list (from the last `[`), delay and priority from the right, then the id and
    /// the header from the left; what remains is the header's payload.
    public static func parseLine(_ line: String) throws(V1Error) -> V1Job {
        var rest = Substring(line)
        var affinity = false
        for marker in ["|AFFINITY", "|STICKY"] where rest.hasSuffix(marker) {
            affinity = true
            rest = rest.dropLast(marker.count)
        }
        guard let open = rest.lastIndex(of: "["), rest.hasSuffix("]") else {
            throw V1Error("no parent list '[...]' at the end of '\(line.prefix(80))'")
        }
        let parentText = rest[rest.index(after: open)..<rest.index(before: rest.endIndex)]
        let parents = parentText.split(separator: ",").map { String($0).trimmed }.filter { !$0.isEmpty }.map(prefixed)
        rest = rest[..<open]
        guard rest.hasSuffix("|") else { throw V1Error("expected '|' before the parent list") }
        rest = rest.dropLast()
        var fields = rest.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
        guard fields.count >= 4 else { throw V1Error("expected ID|HEADER|...|PRIORITY|DELAY_MS|[PARENTS]") }
        let delayText = fields.removeLast().trimmed
        let priorityText = fields.removeLast().trimmed
        guard let delay = UInt64(delayText) else { throw V1Error("delay '\(delayText)' is not a number of milliseconds") }
        guard let priority = Int32(priorityText) else { throw V1Error("priority '\(priorityText)' is not an integer") }
        let id = fields.removeFirst().trimmed
        let header = fields.removeFirst().trimmed
        guard let kind = V1Job.Kind(rawValue: header) else {
            throw V1Error("unknown job type '\(header)' (expected \(V1Job.Kind.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        var job = try payload(kind: kind, fields: fields, id: try nonEmpty(id, "job id"))
        job.priority = priority
        job.delayMs = delay
        job.parents = parents
        job.affinity = affinity
        return job
    }

    /// A SUBMIT_JOB payload: `[ID|]HEADER|...[|PRIORITY][|DELAY_MS]`, no parents.
    public static func parseJob(_ text: String) throws(V1Error) -> V1Job {
        var fields = text.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
        var id = ""
        if let first = fields.first, V1Job.Kind(rawValue: first.trimmed) == nil {
            id = first.trimmed
            fields.removeFirst()
        }
        guard let header = fields.first?.trimmed, let kind = V1Job.Kind(rawValue: header) else {
            throw V1Error("ERROR: expected [ID|]HEADER|... with a job type (\(V1Job.Kind.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        fields.removeFirst()
        guard fields.count >= kind.payloadFields, fields.count <= kind.payloadFields + 2 else {
            throw V1Error("ERROR: \(kind.rawValue) takes \(kind.payloadFields) fields, then optional priority and delay; got \(fields.count)")
        }
        let extra = Array(fields[kind.payloadFields...]).map(\.trimmed)
        do throws(V1Error) {
            var job = try payload(kind: kind, fields: Array(fields[..<kind.payloadFields]), id: id.isEmpty ? "" : id)
            if extra.count > 0 {
                guard let priority = Int32(extra[0]) else { throw V1Error("priority '\(extra[0])' is not an integer") }
                job.priority = priority
            }
            if extra.count > 1 {
                guard let delay = UInt64(extra[1]) else { throw V1Error("delay '\(extra[1])' is not a number of milliseconds") }
                job.delayMs = delay
            }
            return job
        } catch {
            throw V1Error("ERROR: \(error.message)")
        }
    }

    private static func payload(kind: V1Job.Kind, fields: [String], id: String) throws(V1Error) -> V1Job {
        guard fields.count == kind.payloadFields else {
            throw V1Error("\(kind.rawValue) takes \(kind.payloadFields) fields between the type and the priority, got \(fields.count)")
        }
        let jobId = id.isEmpty ? "" : prefixed(id)
        func args(_ text: String) -> [String] { text.split(separator: " ").map(String.init) }
        func port(_ text: String) throws(V1Error) -> Int {
            guard let port = Int(text.trimmed), (0...65_535).contains(port) else {
                throw V1Error("port '\(text)' is not a port number")
            }
            return port
        }
        func requirement(_ text: String) -> String { text.trimmed.isEmpty ? "GENERAL" : text.trimmed }
        switch kind {
        case .runPayload:
            return V1Job(id: jobId, kind: kind, file: try fileName(fields[0].trimmed), args: args(fields[1]),
                         scriptBase64: fields[2].trimmed, requirement: requirement(fields[3]))
        case .deployPayload:
            return V1Job(id: jobId, kind: kind, file: try fileName(fields[0].trimmed), scriptBase64: fields[1].trimmed,
                         port: try port(fields[2]), requirement: requirement(fields[3]))
        case .runArchive:
            return V1Job(id: jobId, kind: kind, file: try archiveEntry(fields[0].trimmed), args: args(fields[1]),
                         requirement: requirement(fields[2]))
        case .startArchiveService:
            return V1Job(id: jobId, kind: kind, file: try archiveEntry(fields[0].trimmed), args: args(fields[1]),
                         port: try port(fields[2]), requirement: requirement(fields[3]))
        }
    }

    /// `id` with the `DAG-` prefix.
    public static func prefixed(_ id: String) -> String { id.hasPrefix(idPrefix) ? id : idPrefix + id }

    /// A name for a stored file: no path separator, not `.` or `..` (the original accepted any
    /// path: a hole). Checked on bytes, as the file system reads the name: a `/` followed by a
    /// combining mark is one Swift `Character`, which `contains("/")` does not see.
    static func fileName(_ name: String) throws(V1Error) -> String {
        if name.isEmpty { throw V1Error("ERROR: the file name is empty") }
        let bytes = name.utf8
        if bytes.contains(UInt8(ascii: "/")) || bytes.contains(UInt8(ascii: "\\")) || bytes.elementsEqual(".".utf8)
            || bytes.elementsEqual("..".utf8) || bytes.contains(0) {
            throw V1Error("ERROR: '\(name)' is not a plain file name (no path separators or '..')")
        }
        return name
    }

    /// `ZIP/ENTRY`: a file name, then a relative path without `..` (split on bytes, as above).
    static func archiveEntry(_ text: String) throws(V1Error) -> String {
        let bytes = Array(text.utf8)
        guard let slash = bytes.firstIndex(of: UInt8(ascii: "/")) else {
            throw V1Error("'\(text)' is not ZIP/ENTRY (an uploaded archive and a path inside it)")
        }
        _ = try fileName(String(decoding: bytes[..<slash], as: UTF8.self))
        let entry = bytes[(slash + 1)...]
        if entry.isEmpty || entry.first == UInt8(ascii: "/")
            || entry.split(separator: UInt8(ascii: "/")).contains(where: { $0.elementsEqual("..".utf8) }) {
            throw V1Error("'\(text)': the entry must be a relative path inside the archive, without '..'")
        }
        return text
    }

    private static func split2(_ text: String, _ shape: String) throws(V1Error) -> (String, String) {
        guard let bar = text.firstIndex(of: "|") else { throw V1Error("ERROR: expected \(shape)") }
        return (String(text[..<bar]), String(text[text.index(after: bar)...]))
    }

    private static func nonEmpty(_ text: String, _ what: String) throws(V1Error) -> String {
        let value = text.trimmed
        if value.isEmpty { throw V1Error("ERROR: the \(what) is empty") }
        return value
    }
}

extension String {
    var trimmed: String {
        var s = Substring(self)
        while let c = s.first, c == " " || c == "\n" || c == "\r" || c == "\t" { s.removeFirst() }
        while let c = s.last, c == " " || c == "\n" || c == "\r" || c == "\t" { s.removeLast() }
        return String(s)
    }
}
