import TitanProtocol

/// Human rendering of one DAG and its jobs.
enum DagView {
    static func render(_ info: DagInfo) -> String {
        var lines = [
            "dag        \(info.id)\(info.name.isEmpty ? "" : " (\(info.name))")",
            "state      \(info.state)",
            "jobs       \(info.counts.completed)/\(info.counts.total) completed"
                + (info.counts.failed > 0 ? ", \(info.counts.failed) failed" : "")
                + (info.counts.skipped > 0 ? ", \(info.counts.skipped) skipped" : "")
                + (info.counts.cancelled > 0 ? ", \(info.counts.cancelled) cancelled" : ""),
            "submitted  \(Output.timestamp(ms: info.submittedAtMs))",
        ]
        if info.finishedAtMs > 0 { lines.append("took       \(Output.duration(ms: info.finishedAtMs - info.submittedAtMs))") }
        guard !info.jobs.isEmpty else { return lines.joined(separator: "\n") }
        lines.append("")
        lines.append(Output.table(["JOB", "STATE", "ATTEMPTS", "WORKER", "RESULT"], info.jobs.map { j in
            let name = j.id.hasPrefix(info.id + "/") ? String(j.id.dropFirst(info.id.count + 1)) : j.id
            let detail = j.state == .pending ? j.pendingReason : j.state == .skipped ? "upstream failed" : Output.outcome(j.result)
            return [name, j.state.description, "\(j.attempts)", j.workerId.isEmpty ? "-" : j.workerId, detail]
        }))
        return lines.joined(separator: "\n")
    }
}
