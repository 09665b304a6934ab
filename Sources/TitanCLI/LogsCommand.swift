import ArgumentParser
import TitanClient
import TitanProtocol

/// `titan logs JOB_ID|SERVICE [-f]`: a job's (or service's) output; with -f, live until the job
/// ends (the service is stopped).
struct LogsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "logs", abstract: "Print a job's or a service's output.")

    @OptionGroup var client: ClientOptions

    @Flag(name: .shortAndLong, help: "Keep printing output as it comes, until the job ends.")
    var follow = false

    @Argument(help: "The job id, or a service's name.")
    var jobId: String

    func run() async throws {
        try await withClient(client) { client in
            var jobId = jobId
            // A service's output is kept under `svc/NAME` (pushes carry that id).
            if (try? await client.status(jobId)) == nil, (try? await client.service(jobId)) != nil { jobId = "svc/" + jobId }
            if follow {
                for await update in try await client.follow(jobId, logs: true) {
                    if case .output(let stream, let bytes) = update { Output.write(bytes, to: stream) }
                }
            } else {
                for chunk in try await client.logs(jobId) { Output.write(chunk.bytes, to: chunk.stream) }
            }
        }
    }
}
