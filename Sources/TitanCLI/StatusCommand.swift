import ArgumentParser
import TitanClient
import TitanProtocol

/// `titan status JOB_OR_DAG_ID`: state, attempts, worker, exit code, timings, why pending; for a
/// DAG, its state and every job's.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Show a job's or a DAG's status.")

    @OptionGroup var client: ClientOptions

    @Flag(help: "Print JSON.")
    var json = false

    @Argument(help: "The job id (e.g. job-4, dag-2/extract) or DAG id (dag-2).")
    var jobId: String

    func run() async throws {
        if jobId.hasPrefix("dag-") && !jobId.contains("/") {
            let info = try await withClient(client) { try await $0.dag(jobId) }
            print(json ? try Output.json(info) : DagView.render(info))
            return
        }
        let info = try await withClient(client) { try await $0.status(jobId) }
        print(json ? try Output.json(info) : Self.render(info))
    }

    static func render(_ info: JobInfo) -> String {
        var lines = [
            "job        \(info.id)\(info.spec.name.isEmpty ? "" : " (\(info.spec.name))")",
            "state      \(info.state)",
            "command    \(Output.command(info.spec))",
        ]
        if !info.spec.requirements.isEmpty { lines.append("requires   \(info.spec.requirements.joined(separator: ","))") }
        lines.append("priority   \(info.spec.priority)")
        if info.spec.retries > 0 { lines.append("retries    \(info.spec.retries) (first after \(Output.duration(ms: Int64(clamping: info.spec.retryDelayMs))))") }
        if info.spec.timeoutMs > 0 { lines.append("timeout    \(Output.duration(ms: Int64(clamping: info.spec.timeoutMs)))") }
        if info.spec.delayMs > 0 { lines.append("delay      \(Output.duration(ms: Int64(clamping: info.spec.delayMs)))") }
        lines.append("submitted  \(Output.timestamp(ms: info.submittedAtMs))")
        lines.append("attempts   \(info.attempts)")
        if info.notBeforeMs > 0 && info.state == .pending { lines.append("not before \(Output.timestamp(ms: info.notBeforeMs))") }
        if !info.workerId.isEmpty { lines.append("worker     \(info.workerId)") }
        if !info.dagId.isEmpty { lines.append("dag        \(info.dagId)") }
        if !info.parents.isEmpty { lines.append("after      \(info.parents.joined(separator: ", "))") }
        if info.state == .pending && !info.pendingReason.isEmpty { lines.append("pending    \(info.pendingReason)") }
        if let r = info.result {
            lines.append("result     \(Output.outcome(r))")
            if r.startedAtMs > 0 {
                lines.append("started    \(Output.timestamp(ms: r.startedAtMs))")
                lines.append("duration   \(Output.duration(ms: r.finishedAtMs - r.startedAtMs))")
            }
        }
        return lines.joined(separator: "\n")
    }
}
