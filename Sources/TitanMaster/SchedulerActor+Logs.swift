import TitanLoop
import TitanProtocol

/// Reading job output back: `getLogs` (bounded), `readLogs` (pages), and the replay of a
/// subscription with logs. The memory tail answers when it holds every byte of the job;
/// otherwise (output dropped from memory, or printed before a restart) the log on disk does,
/// one page at a time, off the loop.
extension SchedulerActor {
    /// `getLogs` answers with at most this much output: its end, after a line saying what was left out.
    static let getLogsMaxBytes = 4 << 20

    func getLogs(_ jobId: String, peer: any Peer, requestId rid: UInt32) {
        if jobs[jobId] == nil, case let copies = service(named: jobId), !copies.isEmpty {
            let id = jobId.hasPrefix("svc/") ? jobId : "svc/" + jobId
            let dropped = copies.reduce(0) { $0 + $1.logs.droppedBytes }
            return reply(to: peer, rid, .logs(jobId: id, Self.lastBytes(copies.flatMap { $0.logs.retained }, dropped: dropped,
                                                                        kept: false, of: id)))
        }
        guard let job = jobs[jobId] else {
            return reply(to: peer, rid, .error(.notFound, "no job '\(jobId)'"))
        }
        guard let store = logStore, !job.logs.holdsAll else {
            return reply(to: peer, rid, .logs(jobId: jobId, Self.lastBytes(Array(job.logs.retained), dropped: job.logs.droppedBytes,
                                                                          kept: false, of: jobId)))
        }
        let tail = Array(job.logs.retained)
        let dropped = job.logs.droppedBytes
        let query = LogPageQuery(limit: Self.getLogsMaxBytes, lastBytes: UInt64(Self.getLogsMaxBytes))
        store.page(jobId: jobId, query, on: eventLoop) { result in
            switch result {
            case .success(let page) where page.exists:
                peer.reply(rid, .logs(jobId: jobId, Self.omitted(Int(page.before), kept: true, of: jobId) + page.chunks))
            case .success:
                // No file (nothing saved): what memory holds.
                peer.reply(rid, .logs(jobId: jobId, Self.lastBytes(tail, dropped: dropped, kept: false, of: jobId)))
            case .failure(let error):
                peer.reply(rid, .error(.unavailable, "output of '\(jobId)': \(error)"))
            }
        }
    }

    func readLogs(_ read: LogRead, peer: any Peer, requestId rid: UInt32) {
        let jobId = resolve(read.jobId)
        let limit = Int(read.limit == 0 ? LogRead.maxPageBytes : min(read.limit, LogRead.maxPageBytes))
        if jobs[jobId] == nil, case let copies = service(named: jobId), !copies.isEmpty {
            // Services keep their recent output in memory only.
            let id = jobId.hasPrefix("svc/") ? jobId : "svc/" + jobId
            var buffer = copies.count == 1 ? copies[0].logs : LogBuffer(limitBytes: .max)
            if copies.count > 1 {
                // Merged, the copies' times are lost: `sinceMs` keeps all of it.
                for chunk in copies.flatMap({ $0.logs.retained }) { buffer.append(chunk.stream, chunk.bytes, atMs: .max) }
            }
            let page = buffer.page(from: read.cursor, limit: limit, tailLines: read.tailLines, sinceMs: read.sinceMs)
            let live = copies.contains { $0.info.state != "STOPPED" }
            return reply(to: peer, rid, .logPage(LogPage(jobId: id, chunks: page.chunks, next: page.next,
                                                         end: !live && page.next >= buffer.endPosition, skipped: page.skipped)))
        }
        guard let job = jobs[jobId] else {
            return reply(to: peer, rid, .error(.notFound, "no job '\(jobId)'"))
        }
        // Decided now: output that reaches the store after this read belongs to a later page.
        let final = job.info.state.isFinal
        guard let store = logStore else {
            let page = job.logs.page(from: read.cursor, limit: limit, tailLines: read.tailLines, sinceMs: read.sinceMs)
            return reply(to: peer, rid, .logPage(LogPage(jobId: jobId, chunks: page.chunks, next: page.next,
                                                         end: final && page.next >= job.logs.endPosition, skipped: page.skipped)))
        }
        let query = LogPageQuery(cursor: read.cursor, limit: limit, tailLines: read.tailLines, sinceMs: read.sinceMs)
        store.page(jobId: jobId, query, on: eventLoop) { result in
            switch result {
            case .success(let page):
                peer.reply(rid, .logPage(LogPage(jobId: jobId, chunks: page.chunks, next: page.next, end: final && page.atEnd)))
            case .failure(let error):
                peer.reply(rid, .error(error.badRequest ? .invalidRequest : .unavailable, "output of '\(jobId)': \(error.problem)"))
            }
        }
    }

    /// The memory tail is not all of the job's output: replay the log a page at a time, holding
    /// what the job produces meanwhile (the first read is ordered after every write already
    /// queued, later pages stop where the log ended then, and newer chunks go to the relay),
    /// then follow live.
    func replayFromDisk(_ job: JobRecord, to peer: any Peer, store: LogStore) {
        let relay = ReplayRelay(peer)
        let jobId = job.info.id
        var after: [Message] = []
        if job.info.state.isFinal {
            after = [.event(event(for: job))]
        } else {
            job.watchers[ObjectIdentifier(peer)] = (relay, true)
            watchedJobs[ObjectIdentifier(peer), default: []].insert(jobId)
            if job.info.state == .running { push(to: relay, .event(event(for: job))) }
        }
        let replay = Replay(jobId: jobId, store: store, loop: eventLoop, peer: peer, relay: relay, finalEvent: after,
                            memoryTail: Array(job.logs.retained))
        replay.step(cursor: 0, stopAt: .max)
    }

    /// One subscriber's replay: each page is read when the last one was handed to the connection.
    private struct Replay: Sendable {
        let jobId: String
        let store: LogStore
        let loop: EventLoop
        let peer: any Peer
        let relay: ReplayRelay
        let finalEvent: [Message]
        let memoryTail: [LogChunk]

        /// Bytes a replay lets queue for a connection before it waits for them to drain.
        static let maxQueued = 8 << 20

        func step(cursor: UInt64, stopAt: UInt64) {
            // A reader slower than the disk: wait for it (a connection is dropped at 64 MiB queued).
            guard let queued = peer.queuedBytes else { return relay.finish(replay: []) }
            if queued > Self.maxQueued {
                let loop = loop
                Task {
                    try? await Task.sleep(for: .milliseconds(10))
                    loop.execute { step(cursor: cursor, stopAt: stopAt) }
                }
                return
            }
            let query = LogPageQuery(cursor: cursor, limit: Int(LogRead.maxPageBytes), stopAt: stopAt, wantEnd: stopAt == .max)
            store.page(jobId: jobId, query, on: loop) { result in
                guard case .success(let page) = result, page.exists else {
                    // Unreadable (or never written): what memory holds, as it can.
                    let tail = cursor == 0 ? memoryTail.map { Message.output(jobId: jobId, $0.stream, $0.bytes) } : []
                    return relay.finish(replay: tail + finalEvent)
                }
                for chunk in page.chunks { peer.push(.output(jobId: jobId, chunk.stream, chunk.bytes)) }
                if page.atEnd { return relay.finish(replay: finalEvent) }
                step(cursor: page.next, stopAt: stopAt == .max ? page.end : stopAt)
            }
        }
    }

    /// The last `getLogsMaxBytes` of `chunks`, after a line saying what is not shown.
    static func lastBytes(_ chunks: [LogChunk], dropped: Int, kept: Bool, of id: String) -> [LogChunk] {
        var total = chunks.reduce(0) { $0 + $1.bytes.count }
        var cut = 0
        var chunks = chunks[...]
        while total > getLogsMaxBytes, let first = chunks.first {
            let over = total - getLogsMaxBytes
            if first.bytes.count <= over {
                chunks.removeFirst()
                total -= first.bytes.count
                cut += first.bytes.count
            } else {
                chunks[chunks.startIndex].bytes.removeFirst(over)
                total -= over
                cut += over
            }
        }
        return omitted(cut, kept: true, of: id) + omitted(dropped, kept: kept, of: id) + chunks
    }

    /// A line saying that `bytes` earlier bytes are not in the reply, and whether they can be had.
    static func omitted(_ bytes: Int, kept: Bool, of id: String) -> [LogChunk] {
        guard bytes > 0 else { return [] }
        let text = kept
            ? "[titan: \(bytes) earlier bytes of output not shown: `titan logs \(id)` prints all of it]\n"
            : "[titan: \(bytes) earlier bytes of output were not kept]\n"
        return [LogChunk(stream: .stderr, bytes: Array(text.utf8))]
    }
}
