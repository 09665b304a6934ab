import ArgumentParser
import TitanClient

/// `titan cancel JOB_OR_DAG_ID`: cancel a pending or running job (its process group is killed),
/// or every unfinished job of a DAG.
struct CancelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cancel", abstract: "Cancel a job.")

    @OptionGroup var client: ClientOptions

    @Argument(help: "The job or DAG id.")
    var jobId: String

    func run() async throws {
        try await withClient(client) { try await $0.cancel(jobId) }
        print("cancelled \(jobId)")
    }
}
