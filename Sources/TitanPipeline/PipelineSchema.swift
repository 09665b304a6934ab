import Foundation
import TitanPolicy
import TitanProtocol
import Yams

/// The top level of a pipeline file: `name`, `version`, `project`, `schedule` (with `timezone`,
/// `overlap`, `on_missed`), `env`, `jobs`. Every key of the original Titan's schema (`name`,
/// `version`, `project`, `jobs`) is read here, so its pipelines load unchanged.
struct PipelineSchema {
    static let knownKeys = ["name", "version", "project", "schedule", "timezone", "overlap", "on_missed", "env", "jobs"]
    /// The pipeline format read here. The original Titan's files say `version: "1.0"`; this
    /// schema extends that one, so any 1.x is read.
    static let formatMajorVersion = 1
    static let overlapValues = ["skip", "allow", "cancel-previous"]
    static let missedValues = ["skip", "run-once"]

    let reader: NodeReader
    let baseDirectory: String
    let options: PipelineLoader.Options

    func pipeline(from root: Node, sourcePath: String) throws(PipelineError) -> Pipeline {
        let entries = try reader.entries(of: root, at: "",
                                         expected: "a mapping with 'name' and 'jobs' at the top level")
        var givenName: String?
        var version: String?
        var schedule: String?
        var scheduleNode: Node?
        var timeZone: String?
        var overlap: String?
        var missed: String?
        var onlyWithSchedule: [(key: String, node: Node)] = []
        var environment: [String: String] = [:]
        var jobsEntry: MappingEntry?
        var project: (path: String, node: Node)?

        for entry in entries {
            let key = entry.name
            switch key {
            case "name":
                guard let text = try reader.optionalString(entry.value, at: key) else {
                    throw reader.error(entry.value, key, "expected the pipeline's name, got null")
                }
                if text.allSatisfy(\.isWhitespace) { throw reader.error(entry.value, key, "must not be empty") }
                givenName = text
            case "version":
                version = try formatVersion(entry.value)
            case "project":
                project = try projectFolder(entry.value)
            case "schedule":
                if let text = try reader.optionalString(entry.value, at: key) {
                    if text.allSatisfy(\.isWhitespace) {
                        throw reader.error(entry.value, key, "must not be empty (leave 'schedule' out for none)")
                    }
                    schedule = text
                    scheduleNode = entry.value
                }
            case "timezone":
                if let text = try reader.optionalString(entry.value, at: key) {
                    if TimeZone(identifier: text) == nil {
                        throw reader.error(entry.value, key, "unknown time zone '\(text)' (use an IANA name such as Europe/Paris)")
                    }
                    timeZone = text
                    onlyWithSchedule.append((key, entry.value))
                }
            case "overlap":
                if let text = try choice(entry, among: Self.overlapValues) {
                    overlap = text
                    onlyWithSchedule.append((key, entry.value))
                }
            case "on_missed":
                if let text = try choice(entry, among: Self.missedValues) {
                    missed = text
                    onlyWithSchedule.append((key, entry.value))
                }
            case "env":
                environment = try reader.stringMap(entry.value, at: key) ?? [:]
            case "jobs":
                jobsEntry = entry
            case let other where other.hasPrefix("x-"):
                continue  // extension fields, e.g. to hold anchors: `x-defaults: &defaults {...}`
            default:
                throw reader.unknownKey(entry, at: key, known: Self.knownKeys)
            }
        }

        let name = givenName ?? Self.defaultName(sourcePath)
        if let schedule, let scheduleNode {
            do {
                _ = try CronSchedule(parsing: schedule, timeZone: timeZone)
            } catch {
                throw reader.error(scheduleNode, "schedule", "\(error)")
            }
        } else if let first = onlyWithSchedule.min(by: { ($0.node.mark?.line ?? 0) < ($1.node.mark?.line ?? 0) }) {
            // Schedule settings without a schedule are most likely a forgotten `schedule`.
            throw reader.error(first.node, first.key, "only applies with 'schedule'")
        }
        guard let jobsEntry else { throw reader.error(root, "jobs", "missing required key 'jobs'") }
        let jobNodes: [Node]
        switch jobsEntry.value {
        case .sequence(let sequence):
            jobNodes = Array(sequence)
        case let value:
            throw reader.error(value, "jobs", "expected a sequence of jobs, got \(reader.describe(value))")
        }
        guard !jobNodes.isEmpty else {
            throw reader.error(jobsEntry.value, "jobs", "must list at least one job")
        }

        let parser = JobParser(reader: reader, baseDirectory: baseDirectory, pipelineEnvironment: environment)
        var jobs: [ParsedJob] = []
        jobs.reserveCapacity(jobNodes.count)
        for (index, node) in jobNodes.enumerated() {
            jobs.append(try parser.parse(node, index: index))
        }
        try DependencyCheck.check(jobs, reader: reader)
        let scripts = try placeScripts(&jobs, project: project)
        let notes = jobs.flatMap(\.notes)
        try insertGates(&jobs)
        return Pipeline(name: name, schedule: schedule, dag: DagSpec(name: name, jobs: jobs.map(\.job)),
                        sourcePath: sourcePath, timeZone: timeZone, overlap: overlap, missed: missed,
                        scripts: scripts, project: project?.path, version: version, notes: notes)
    }

    /// Without `name` (optional in the original Titan, whose default was a fixed word): the
    /// file's name without its extension, so each file still names its DAGs and schedule.
    static func defaultName(_ sourcePath: String) -> String {
        let file = sourcePath.split(separator: "/").last.map(String.init) ?? ""
        var stem = Substring(file)
        if let dot = stem.lastIndex(of: "."), dot != stem.startIndex { stem = stem[..<dot] }
        let printable = String(stem.unicodeScalars.filter { $0.properties.generalCategory != .control })
        return printable.allSatisfy(\.isWhitespace) ? "pipeline" : printable
    }

    /// `version: "1.0"` (or `1`, `1.2`): numbers separated by dots, whose first is this format's
    /// major version. Another major version is a format this titan does not know: refused rather
    /// than misread.
    private func formatVersion(_ node: Node) throws(PipelineError) -> String? {
        guard let text = try reader.optionalString(node, at: "version") else { return nil }
        let parts = text.trimmingWhitespace().split(separator: ".", omittingEmptySubsequences: false)
        guard (1...3).contains(parts.count),
              parts.allSatisfy({ !$0.isEmpty && $0.utf8.count <= 9 && $0.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }),
              let major = Int(parts[0]) else {
            throw reader.error(node, "version", "expected the pipeline format's version, such as \"1.0\", got \(reader.describe(node))")
        }
        guard major == Self.formatMajorVersion else {
            throw reader.error(node, "version", "pipeline format version \(text) is not supported: this titan reads version \(Self.formatMajorVersion) (\"1.0\", as the original Titan wrote it, or any 1.x)")
        }
        return text
    }

    /// A job with `hitl_message` gets an approval gate `hitl-gate-ID` right after it, and the
    /// jobs that depended on it depend on the gate instead (the original Titan SDK's shape).
    private func insertGates(_ jobs: inout [ParsedJob]) throws(PipelineError) {
        guard jobs.contains(where: { $0.approval != nil }) else { return }
        let ids = Set(jobs.map(\.job.id))
        var gateOf: [String: String] = [:]
        for job in jobs {
            guard job.approval != nil else { continue }
            let gateId = "hitl-gate-" + job.job.id
            if ids.contains(gateId) || !JobParser.isValidId(gateId) {
                throw reader.error(job.idNode, "\(job.keyPath).hitl_message",
                                   "its approval gate would be named '\(gateId)', which is taken or too long")
            }
            gateOf[job.job.id] = gateId
        }
        var result: [ParsedJob] = []
        for var job in jobs {
            job.job.dependsOn = job.job.dependsOn.map { gateOf[$0] ?? $0 }
            result.append(job)
            if let approval = job.approval, let gateId = gateOf[job.job.id] {
                var gate = job
                gate.job = DagJobSpec(id: gateId, spec: JobSpec(command: [], priority: job.job.spec.priority, name: gateId,
                                                                gate: approval), dependsOn: [job.job.id])
                gate.approval = nil
                gate.script = nil
                result.append(gate)
            }
        }
        jobs = result
    }

    /// A string that must be one of `values` (nil when null).
    private func choice(_ entry: MappingEntry, among values: [String]) throws(PipelineError) -> String? {
        guard let text = try reader.optionalString(entry.value, at: entry.name) else { return nil }
        guard values.contains(text) else {
            throw reader.error(entry.value, entry.name, "expected one of \(values.joined(separator: ", ")), got '\(text)'")
        }
        return text
    }

    /// `project: true` is the pipeline file's folder; a string names a folder (relative to it);
    /// `false` or null, none.
    private func projectFolder(_ node: Node) throws(PipelineError) -> (path: String, node: Node)? {
        if node.isNull { return nil }
        if case .scalar(let scalar) = node, scalar.style == .plain {
            switch scalar.string {
            case "true", "True", "TRUE", "yes": return (baseDirectory, node)
            case "false", "False", "FALSE", "no": return nil
            default: break
            }
        }
        guard let text = try reader.optionalString(node, at: "project"), !text.isEmpty else {
            throw reader.error(node, "project", "expected true, false or a folder path")
        }
        let folder = PathResolution.absolute(text, relativeTo: baseDirectory)
        guard PathResolution.kind(of: folder) == .directory else {
            throw reader.error(node, "project", "'\(folder)' is not a folder")
        }
        return (folder, node)
    }

    /// Sets each script job's command to run its script where the worker will put it: inside the
    /// extracted project, or shipped on its own at its path relative to the pipeline file
    /// (`_files/NAME` for a script outside the pipeline's folder, which needs
    /// `allowOutsideFiles`). Inside means inside once symlinks are resolved: a link in the
    /// folder to a file elsewhere is outside. Returns the scripts to ship.
    private func placeScripts(_ jobs: inout [ParsedJob], project: (path: String, node: Node)?) throws(PipelineError) -> [String: LocalFile] {
        var scripts: [String: LocalFile] = [:]
        var byDestination: [String: String] = [:]
        for i in jobs.indices {
            guard let script = jobs[i].script else { continue }
            let key = "\(jobs[i].keyPath).file"
            let destination: String
            if let project {
                guard let inside = PathResolution.relative(script.path, to: project.path) else {
                    throw reader.error(script.node, key, "'\(script.path)' is outside the project folder '\(project.path)'")
                }
                // The archive keeps symlinks as symlinks: one leading out of the folder would
                // arrive on the worker without its target (and is refused when zipping).
                guard PathResolution.isReallyInside(script.path, project.path) else {
                    throw reader.error(script.node, key, "'\(script.path)' is a symlink to '\(PathResolution.real(script.path) ?? "?")', outside the project folder '\(project.path)'; the project archive carries symlinks, not what they point to")
                }
                destination = inside
            } else {
                let textual = PathResolution.relative(script.path, to: baseDirectory)
                if !options.allowOutsideFiles && !PathResolution.isReallyInside(script.path, baseDirectory) {
                    let what = textual == nil ? "'\(script.path)' is"
                        : "'\(script.path)' is a symlink to '\(PathResolution.real(script.path) ?? "?")',"
                    throw reader.error(script.node, key, "\(what) outside the pipeline's folder '\(baseDirectory)'; to upload it anyway, allow files outside the folder (titan submit --allow-outside-files)")
                }
                destination = textual ?? "_files/" + (script.path.split(separator: "/").last.map(String.init) ?? "script")
                if let other = byDestination[destination], other != script.path {
                    throw reader.error(script.node, key, "'\(script.path)' and '\(other)' would both be shipped as '\(destination)'; rename one")
                }
                byDestination[destination] = script.path
                let executable = ScriptCommand.interpreter(for: script.path) == nil
                scripts[jobs[i].job.id] = LocalFile(path: script.path, destination: destination, executable: executable)
            }
            jobs[i].job.spec.command = ScriptCommand.command(for: destination) + script.args
        }
        return scripts
    }
}
