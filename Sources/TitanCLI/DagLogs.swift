import Foundation
import TitanClient
import TitanProtocol

/// `titan logs DAG_ID [-f]`: every job's output, each line prefixed with the job's id (`[extract]
/// ...`, as the Python SDK's `stream_logs` does), read a page at a time like a job's. Without
/// `-f`, what the jobs printed so far, job by job; with it, then on as they print (asking every
/// `pollMs`, only about jobs that run or just ended) until the DAG has ended and every job's
/// output is printed.
struct DagLogs {
    let client: TitanClient
    let dagId: String
    var tailLines: UInt32 = 0
    var sinceMs: Int64 = 0
    var follow = false
    var pollMs = 200

    private struct JobLog {
        var read: LogRead
        var done = false
        var lines = PrefixedLines()
    }

    func run() async throws {
        var logs: [String: JobLog] = [:]
        while true {
            let dag = try await client.dag(dagId)
            for job in dag.jobs where logs[job.id]?.done != true {
                // A pending job has printed nothing yet (a retried one's earlier output waits for
                // its next run or its end); one that ended is read to its end once.
                if follow && job.state == .pending { continue }
                var log = logs[job.id] ?? JobLog(read: LogRead(jobId: job.id, limit: LogRead.maxPageBytes,
                                                               tailLines: tailLines, sinceMs: sinceMs))
                let prefix = "[" + (job.id.split(separator: "/", maxSplits: 1).last.map(String.init) ?? job.id) + "] "
                try await drain(&log, prefix: prefix)
                if log.done || !follow { log.lines.flush(prefix: prefix) }
                logs[job.id] = log
            }
            if !follow || (dag.state.isFinal && dag.jobs.allSatisfy { logs[$0.id]?.done == true || $0.state == .pending }) {
                return
            }
            try await Task.sleep(for: .milliseconds(pollMs))
        }
    }

    /// Reads the job's pages from its cursor until caught up (or its end), printing whole lines.
    private func drain(_ log: inout JobLog, prefix: String) async throws {
        while true {
            let page: LogPage
            do {
                page = try await client.readLogs(log.read)
            } catch TitanClientError.server(.notFound, _) {
                log.done = true  // forgotten (retention) since the DAG was read
                return
            }
            log.read = LogRead(jobId: log.read.jobId, cursor: page.next, limit: log.read.limit)
            for chunk in page.chunks { log.lines.write(chunk.bytes, stream: chunk.stream, prefix: prefix) }
            if page.end { log.done = true }
            if page.end || page.chunks.isEmpty { return }
        }
    }
}

/// Output cut into lines, each written with a prefix once complete; a partial line waits for
/// its newline (or ``flush(prefix:)``). Kept per stream, so stdout and stderr never mix in a line.
struct PrefixedLines {
    private var partial: [OutputChannel: [UInt8]] = [:]

    mutating func write(_ bytes: [UInt8], stream: OutputChannel, prefix: String) {
        var text = partial[stream, default: []]
        text.append(contentsOf: bytes)
        guard let lastNewline = text.lastIndex(of: UInt8(ascii: "\n")) else {
            partial[stream] = text
            return
        }
        var out: [UInt8] = []
        for line in text[...lastNewline].split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).dropLast() {
            out.append(contentsOf: prefix.utf8)
            out.append(contentsOf: line)
            out.append(UInt8(ascii: "\n"))
        }
        partial[stream] = Array(text[(lastNewline + 1)...])
        Output.write(out, to: stream)
    }

    /// Writes what is left of each stream's last line, with a newline.
    mutating func flush(prefix: String) {
        for (stream, rest) in partial where !rest.isEmpty {
            Output.write(Array(prefix.utf8) + rest + [UInt8(ascii: "\n")], to: stream)
        }
        partial = [:]
    }
}
