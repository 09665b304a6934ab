import Foundation
import TitanPolicy
import TitanProtocol
import Yams

/// The top level of a pipeline file: `name`, `project`, `schedule` (with `timezone`, `overlap`,
/// `on_missed`), `env`, `jobs`.
struct PipelineSchema {
    static let knownKeys = ["name", "project", "schedule", "timezone", "overlap", "on_missed", "env", "jobs"]
    static let overlapValues = ["skip", "allow", "cancel-previous"]
    static let missedValues = ["skip", "run-once"]

    let reader: NodeReader
    let baseDirectory: String

    func pipeline(from root: Node, sourcePath: String) throws(PipelineError) -> Pipeline {
        let entries = try reader.entries(of: root, at: "",
                                         expected: "a mapping with 'name' and 'jobs' at the top level")
        var name: String?
        var schedule: String?
        var scheduleNode: Node?
        var timeZone: String?
        var timeZoneNode: Node?
        var overlap: String?
        var missed: String?
        var environment: [String: String] = [:]
        var jobsEntry: MappingEntry?

        for entry in entries {
            let key = entry.name
            switch key {
            case "name":
                guard let text = try reader.optionalString(entry.value, at: key) else {
                    throw reader.error(entry.value, key, "expected the pipeline's name, got null")
                }
                if text.allSatisfy(\.isWhitespace) { throw reader.error(entry.value, key, "must not be empty") }
                name = text
            case "project":
                _ = try reader.optionalString(entry.value, at: key)
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
                    timeZoneNode = entry.value
                }
            case "overlap":
                if let text = try reader.optionalString(entry.value, at: key) {
                    guard Self.overlapValues.contains(text) else {
                        throw reader.error(entry.value, key, "expected one of \(Self.overlapValues.joined(separator: ", ")), got '\(text)'")
                    }
                    overlap = text
                }
            case "on_missed":
                if let text = try reader.optionalString(entry.value, at: key) {
                    guard Self.missedValues.contains(text) else {
                        throw reader.error(entry.value, key, "expected one of \(Self.missedValues.joined(separator: ", ")), got '\(text)'")
                    }
                    missed = text
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

        guard let name else { throw reader.error(root, "name", "missing required key 'name'") }
        if let schedule, let scheduleNode {
            do {
                _ = try CronSchedule(parsing: schedule, timeZone: timeZone)
            } catch {
                throw reader.error(scheduleNode, "schedule", "\(error)")
            }
        } else if let node = timeZoneNode {
            throw reader.error(node, "timezone", "only applies with 'schedule'")
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
        return Pipeline(name: name, schedule: schedule, dag: DagSpec(name: name, jobs: jobs.map(\.job)),
                        sourcePath: sourcePath, timeZone: timeZone, overlap: overlap, missed: missed)
    }
}
