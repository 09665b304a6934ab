import ArgumentParser
import Foundation
import TitanClient
import TitanProtocol

/// `titan logs JOB_ID|DAG_ID|SERVICE [--tail N] [--since 10m|RFC3339] [-f]`: a job's (or a
/// service's) output, read a page at a time (a job of any size costs one page of memory); with
/// -f, live until the job ends (the service is stopped). A DAG's is every job's, each line
/// prefixed with the job's id (see ``DagLogs``).
struct LogsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "logs", abstract: "Print a job's, a DAG's or a service's output.")

    @OptionGroup var client: ClientOptions

    @Flag(name: .shortAndLong, help: "Keep printing output as it comes, until the job (or DAG) ends.")
    var follow = false

    @Option(help: "Only the last N lines.")
    var tail: UInt32?

    @Option(help: "Only output printed since then: a duration back from now (90s, 10m, 2h, 1d) or a time (RFC 3339, e.g. 2024-05-01T12:00:00Z).")
    var since: String?

    @Argument(help: "The job id, a DAG id (every job's output, each line prefixed [job]), or a service's name.")
    var jobId: String

    func validate() throws {
        if let since, Self.sinceMs(since, nowMs: 0) == nil {
            throw ValidationError("--since: '\(since)' is neither a duration (90s, 10m, 2h, 1d) nor an RFC 3339 time")
        }
        if tail == 0 { throw ValidationError("--tail: must be at least 1") }
    }

    func run() async throws {
        let sinceMs = since.flatMap { Self.sinceMs($0, nowMs: Int64(Date().timeIntervalSince1970 * 1000)) } ?? 0
        try await withClient(client) { client in
            // A service's output is kept under `svc/NAME` (pushes carry that id), in memory.
            // What the id names: the master's refusal means "not that"; a timeout or a lost
            // connection ends the command at once.
            func exists<T>(_ lookUp: () async throws -> T) async throws -> T? {
                do {
                    return try await lookUp()
                } catch TitanClientError.server {
                    return nil
                }
            }
            if try await exists({ try await client.status(jobId) }) == nil {
                if try await exists({ try await client.service(jobId) }) != nil {
                    return try await serviceLogs(client, "svc/" + jobId, sinceMs: sinceMs)
                }
                if let dag = try await exists({ try await client.dag(jobId) }) {
                    return try await DagLogs(client: client, dagId: dag.id, tailLines: tail ?? 0, sinceMs: sinceMs,
                                             follow: follow).run()
                }
            }
            for try await page in client.logPages(jobId, tailLines: tail ?? 0, sinceMs: sinceMs, follow: follow) {
                for chunk in page.chunks { Output.write(chunk.bytes, to: chunk.stream) }
            }
        }
    }

    private func serviceLogs(_ client: TitanClient, _ id: String, sinceMs: Int64) async throws {
        if follow && tail == nil && since == nil {
            for await update in try await client.follow(id, logs: true) {
                if case .output(let stream, let bytes) = update { Output.write(bytes, to: stream) }
            }
            return
        }
        for try await page in client.logPages(id, tailLines: tail ?? 0, sinceMs: sinceMs, follow: follow) {
            for chunk in page.chunks { Output.write(chunk.bytes, to: chunk.stream) }
        }
    }

    /// `--since` as wall ms: `nowMs` less a duration, or an RFC 3339 time; nil if neither.
    static func sinceMs(_ text: String, nowMs: Int64) -> Int64? {
        let units: [(String, Double)] = [("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)]
        for (suffix, ms) in units where text.hasSuffix(suffix) {
            if let n = Double(text.dropLast(suffix.count)), n >= 0, n.isFinite {
                return nowMs - Int64(n * ms)
            }
        }
        let formatter = ISO8601DateFormatter()
        for options: ISO8601DateFormatter.Options in [[.withInternetDateTime], [.withInternetDateTime, .withFractionalSeconds]] {
            formatter.formatOptions = options
            if let date = formatter.date(from: text) { return Int64(date.timeIntervalSince1970 * 1000) }
        }
        return nil
    }
}
