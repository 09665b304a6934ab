import TitanProtocol

extension TitanClient {
    /// One page of a job's output (see ``LogRead``): at most `read.limit` bytes from `read.cursor`.
    public func readLogs(_ read: LogRead) async throws -> LogPage {
        let reply = try await request(.readLogs(read))
        guard case .logPage(let page) = reply else {
            throw TitanClientError.unexpectedReply(expected: "logPage", got: reply.name)
        }
        return page
    }

    /// A job's output as pages, from the start (or where its last `tailLines` lines begin, or
    /// from `sinceMs`) to what it printed so far; with `follow`, on until the job ends (asking
    /// again every `pollMs` once caught up). Pages are read as they are consumed, so a job of
    /// any size costs one page of memory.
    public nonisolated func logPages(_ jobId: String, tailLines: UInt32 = 0, sinceMs: Int64 = 0,
                                     pageBytes: UInt32 = LogRead.maxPageBytes, follow: Bool = false,
                                     pollMs: Int = 200) -> LogPages {
        LogPages(client: self, first: LogRead(jobId: jobId, limit: pageBytes, tailLines: tailLines, sinceMs: sinceMs),
                 follow: follow, pollMs: pollMs)
    }
}

/// The pages of a job's output, read one at a time (``TitanClient/logPages(_:tailLines:sinceMs:pageBytes:follow:pollMs:)``).
/// Only pages with output are produced, and the last one (`end`), which may be empty.
public struct LogPages: AsyncSequence, Sendable {
    public typealias Element = LogPage

    let client: TitanClient
    let first: LogRead
    let follow: Bool
    let pollMs: Int

    public func makeAsyncIterator() -> Iterator {
        Iterator(client: client, read: first, follow: follow, pollMs: pollMs)
    }

    public struct Iterator: AsyncIteratorProtocol {
        let client: TitanClient
        var read: LogRead
        let follow: Bool
        let pollMs: Int
        var done = false

        public mutating func next() async throws -> LogPage? {
            while !done {
                let page = try await client.readLogs(read)
                // Tail and since place the first page only; the cursor carries on from there.
                read = LogRead(jobId: read.jobId, cursor: page.next, limit: read.limit)
                if page.end { done = true }
                if !page.chunks.isEmpty || page.end { return page }
                guard follow else { return nil }
                try await Task.sleep(for: .milliseconds(pollMs))
            }
            return nil
        }
    }
}
