import ArgumentParser
import Foundation
import TitanClient
import TitanPipeline
import TitanProtocol

/// `titan submit pipeline.yaml`: validate a YAML pipeline, submit it as one DAG, optionally wait
/// with live per-job progress.
struct SubmitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Submit a YAML pipeline as a DAG.",
        discussion: """
            The pipeline is validated before anything is sent (errors name the file, line and key);
            the master validates the DAG again and takes it whole or not at all. A pipeline with a
            `schedule` is registered as a cron schedule (see `titan schedules`). With --wait, job
            transitions are shown as they happen and the exit code says whether the DAG completed
            (0), failed (1) or was cancelled (130); Ctrl-C cancels the DAG. Scripts named by `file:`
            must lie inside the pipeline file's folder (symlinks resolved) unless
            --allow-outside-files is given.
            """)

    @OptionGroup var client: ClientOptions

    @Flag(help: "Wait for the DAG to finish, showing each job's progress.")
    var wait = false

    @Flag(help: "Print JSON: the ids at once, or the final DAG with --wait.")
    var json = false

    @Flag(help: "Upload `file:` scripts that lie outside the pipeline file's folder (refused by default).")
    var allowOutsideFiles = false

    @Argument(help: "The pipeline YAML file.")
    var file: String

    func run() async throws {
        let pipeline: Pipeline
        do {
            pipeline = try PipelineLoader.load(path: file, options: .init(allowOutsideFiles: allowOutsideFiles))
        } catch {
            throw CLIError(message: error.description)
        }
        for note in pipeline.notes { FileHandle.standardError.write(Data("titan: note: \(note)\n".utf8)) }
        if let cron = pipeline.schedule {
            // A scheduled pipeline is registered, not run now: each firing submits a new DAG.
            if wait { throw CLIError(message: "--wait does not apply to a scheduled pipeline (it runs on its schedule)") }
            let spec = ScheduleSpec(name: pipeline.name, cron: cron, timeZone: pipeline.timeZone ?? "",
                                    overlap: pipeline.overlap ?? "skip", missed: pipeline.missed ?? "skip", dag: pipeline.dag)
            let info = try await withClient(client) { client in
                var spec = spec
                spec.dag = try await PipelineUpload.resolve(pipeline, with: client)
                return try await client.schedule(spec)
            }
            if json {
                print(try Output.json(info))
            } else {
                let next = info.nextFireMs > 0 ? Output.timestamp(ms: info.nextFireMs) : "never"
                print("scheduled \(info.name) (\(info.cron)\(info.timeZone.isEmpty ? "" : " " + info.timeZone)); next run \(next)")
            }
            return
        }
        if !wait {
            let (dagId, jobIds) = try await withClient(client) { client in
                try await client.submitDag(try await PipelineUpload.resolve(pipeline, with: client))
            }
            print(json ? try Output.json(["dag": dagId, "jobs": jobIds.joined(separator: ",")]) : dagId)
            return
        }
        let info: DagInfo = try await withClient(client) { client in
            let (dagId, _, updates) = try await client.submitDagAndFollow(try await PipelineUpload.resolve(pipeline, with: client))
            if !json { FileHandle.standardError.write(Data("submitted \(dagId) (\(pipeline.dag.jobs.count) jobs)\n".utf8)) }
            let interrupt = Interrupt.onInterrupt { try? await client.cancel(dagId) }
            defer { interrupt.cancel() }
            var final = false
            for await update in updates {
                switch update {
                case .job(let event):
                    if !json { print(Self.progressLine(event, dagId: dagId)) }
                case .dag(let event):
                    final = event.state.isFinal
                case .output:
                    break
                }
            }
            guard final else {
                let why = await client.closedReason.map { " (\($0))" } ?? ""
                throw CLIError(message: "lost the connection to the master\(why); DAG \(dagId) may still be running")
            }
            return try await client.dag(dagId)
        }
        if json {
            print(try Output.json(info))
        } else {
            print(DagView.render(info))
        }
        switch info.state {
        case .completed: return
        case .cancelled: throw ExitCode(130)
        default: throw ExitCode(1)
        }
    }

    static func progressLine(_ event: JobEvent, dagId: String) -> String {
        let job = event.jobId.hasPrefix(dagId + "/") ? String(event.jobId.dropFirst(dagId.count + 1)) : event.jobId
        var line = "\(Output.clock(ms: Int64(Date().timeIntervalSince1970 * 1_000)))  \(job)  \(event.state)"
        if event.state == .running { line += "  on \(event.workerId) (attempt \(event.attempt))" }
        if let result = event.result {
            line += "  \(Output.outcome(result))"
            if result.startedAtMs > 0 { line += " in \(Output.duration(ms: result.finishedAtMs - result.startedAtMs))" }
        }
        return line
    }

}
