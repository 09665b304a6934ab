import ArgumentParser

/// `titan`: the command-line client. Every command is a thin layer over ``TitanClient``.
@main
struct TitanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "titan",
        abstract: "Run and watch jobs on a Titan cluster.",
        discussion: "The master is --master HOST:PORT, else $TITAN_MASTER, else 127.0.0.1:9090.",
        subcommands: [RunCommand.self, SubmitCommand.self, StatusCommand.self, LogsCommand.self, JobsCommand.self,
                      DagsCommand.self, SchedulesCommand.self, UnscheduleCommand.self, WorkersCommand.self,
                      CancelCommand.self, UploadCommand.self, KVCommand.self, ApprovalsCommand.self,
                      ApproveCommand.self, RejectCommand.self, DeployCommand.self, ServicesCommand.self, StopCommand.self,
                      RestartCommand.self, TokenCommand.self, CertsCommand.self])
}
