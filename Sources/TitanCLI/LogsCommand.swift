import ArgumentParser
import TitanClient
import TitanProtocol

/// `titan logs JOB_ID [-f]`: a job's output; with -f, live until the job ends.
struct LogsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "logs", abstract: "Print a job's output.")

    @OptionGroup var client: ClientOptions

    @Flag(name: .shortAndLong, help: "Keep printing output as it comes, until the job ends.")
    var follow = false

    @Argument(help: "The job id.")
    var jobId: String

    func run() async throws {
        try await withClient(client) { client in
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
