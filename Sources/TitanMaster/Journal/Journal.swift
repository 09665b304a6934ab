import Dispatch
import DequeModule
import Logging
import TitanProtocol
import TitanStore

/// The scheduler's side of the append-only file: records produced during one turn of the loop
/// are written together, and what the scheduler wanted to send meanwhile (replies, events,
/// dispatches) leaves only once they are recorded. Loop only; the disk work is `AppendLog`'s.
final class Journal {
    let log: AppendLog
    private let logger: Logger
    /// Records of the current turn, encoded.
    private var pending: [[UInt8]] = []
    /// Sends held for each write in flight, oldest first (writes complete in order).
    private var held = Deque<[(any Peer, Envelope)]>()
    /// Set once a write failed: nothing more is accepted.
    private(set) var failure: StoreError?
    /// File size after the last rewrite (or at open): compaction starts when the file is both
    /// past `compactAtBytes` and twice this.
    private var baseSize: Int64
    let compactAtBytes: Int64
    private var compacting = false
    private(set) var compactions = 0

    init(log: AppendLog, logger: Logger, compactAtBytes: Int64) {
        self.log = log
        self.logger = logger
        self.compactAtBytes = compactAtBytes
        baseSize = log.fileSize
    }

    var hasPending: Bool { !pending.isEmpty }

    func record(_ record: JournalRecord) {
        pending.append(record.encoded())
    }

    /// Writes this turn's records, then sends `outbox`; with no records, sends it now unless
    /// earlier sends still wait for their write (order is kept). `written` is called (from the
    /// writer's queue) after the write, with its error if any: hop to the loop and call
    /// ``written(_:)``. Past the size threshold, a rewrite from `snapshot` follows the write;
    /// `compacted` reports it (hop, then ``compactionFinished(_:)``).
    func commit(outbox: [(any Peer, Envelope)], snapshot: () -> [[UInt8]],
                written: @escaping @Sendable (StoreError?) -> Void,
                compacted: @escaping @Sendable (Result<Int64, StoreError>) -> Void) {
        guard !pending.isEmpty else {
            if held.isEmpty {
                Self.send(outbox)
            } else {
                held[held.count - 1].append(contentsOf: outbox)
            }
            return
        }
        let records = pending
        pending = []
        held.append(outbox)
        log.appendBatch(records) { result in written(result.failure) }
        if !compacting && log.fileSize >= compactAtBytes && log.fileSize >= 2 * baseSize {
            compacting = true
            let log = log
            log.rewrite(snapshot: snapshot()) { result in compacted(result.map { log.fileSize }) }
        }
    }

    func compactionFinished(_ result: Result<Int64, StoreError>) {
        compacting = false
        switch result {
        case .success(let size):
            compactions += 1
            logger.info("append-only file rewritten", metadata: ["before": "\(baseSize)", "after": "\(size)"])
            baseSize = size
        case .failure(let error):
            logger.error("append-only file rewrite failed (the old file is intact): \(error)")
        }
    }

    /// The write of the oldest batch finished: send what it held (or fail it).
    func written(_ error: StoreError?) {
        guard var outbox = held.popFirst() else { return }
        if let error {
            for (peer, envelope) in outbox { peer.released(envelope) }
            if failure == nil {
                failure = error
                logger.critical("cannot write the append-only file: \(error); refusing new work")
            }
            // Never acknowledge what could not be recorded.
            outbox = outbox.map { peer, envelope in
                guard envelope.requestId != 0 else { return (peer, envelope) }
                return (peer, Envelope(requestId: envelope.requestId,
                                       message: .error(.unavailable, "not recorded: the master cannot write its append-only file (\(error))")))
            }
            return Self.send(outbox, released: true)
        }
        Self.send(outbox)
    }

    /// Groups by peer so each gets one write. Each envelope is released from its peer's budget
    /// first, unless that was done already.
    static func send(_ outbox: [(any Peer, Envelope)], released: Bool = false) {
        guard !outbox.isEmpty else { return }
        if !released { for (peer, envelope) in outbox { peer.released(envelope) } }
        if outbox.count == 1 { return outbox[0].0.send(outbox[0].1) }
        var order: [ObjectIdentifier] = []
        var byPeer: [ObjectIdentifier: (any Peer, [Envelope])] = [:]
        for (peer, envelope) in outbox {
            let key = ObjectIdentifier(peer)
            if byPeer[key] == nil {
                order.append(key)
                byPeer[key] = (peer, [envelope])
            } else {
                byPeer[key]!.1.append(envelope)
            }
        }
        for key in order { byPeer[key]!.0.send(batch: byPeer[key]!.1) }
    }
}

extension Result {
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
