import Dispatch
import DequeModule
import Logging
import TitanLoop
import TitanProtocol
import TitanStore

/// The scheduler's side of the append-only file: records produced during one turn of the loop
/// are written together, and what the scheduler wanted to send meanwhile (replies, events,
/// dispatches) leaves only once they are recorded. Loop only; the disk work is `AppendLog`'s.
///
/// A failed write (a full disk) stops new work; every `retryEveryMs` the scheduler tries to
/// rewrite the whole file from its memory (``retry(snapshot:completion:)``), and work is accepted
/// again once that succeeds.
final class Journal {
    /// How often a failed journal tries to write again.
    static let retryEveryMs: UInt64 = 1_000

    /// The sends one write holds, and its outcome once known.
    private struct HeldWrite {
        var outbox: [(any Peer, Envelope)]
        var done = false
        var error: StoreError?
    }

    let log: AppendLog
    private let logger: Logger
    /// Records of the current turn, encoded.
    private var pending: [[UInt8]] = []
    /// Sends held for each write in flight, oldest first; `held[i]` belongs to write number
    /// `firstHeld + i`. Numbered because a refused write can report before an earlier one that
    /// was queued: sends still leave in write order, each with its own write's outcome.
    private var held = Deque<HeldWrite>()
    private var firstHeld: UInt64 = 0
    /// Set once a write failed: no new work is accepted until a retry succeeds.
    private(set) var failure: StoreError?
    /// The timer retrying after a failure (the scheduler arms and closes it).
    var retryTimer: LoopTimer?
    /// A retry is in flight.
    private(set) var recovering = false
    private var failedRetries = 0
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
    /// earlier sends still wait for their write (order is kept). `written` is called after the
    /// write (from the writer's queue, or at once if the log refuses it) with the write's number
    /// and its error if any: hop to the loop and call ``written(_:_:)``. Past the size threshold,
    /// a rewrite from `snapshot` follows the write; `compacted` reports it (hop, then
    /// ``compactionFinished(_:)``).
    func commit(outbox: [(any Peer, Envelope)], snapshot: () -> [[UInt8]],
                written: @escaping @Sendable (UInt64, StoreError?) -> Void,
                compacted: @escaping @Sendable (Result<Int64, StoreError>) -> Void) {
        guard !pending.isEmpty else {
            if held.isEmpty {
                Self.send(outbox)
            } else {
                held[held.count - 1].outbox.append(contentsOf: outbox)
            }
            return
        }
        let records = pending
        pending = []
        let number = firstHeld + UInt64(held.count)
        held.append(HeldWrite(outbox: outbox))
        log.appendBatch(records) { result in written(number, result.failure) }
        // Not while failed: the log would refuse it, once per turn; the retry rewrites the file anyway.
        if failure == nil && !compacting && log.fileSize >= compactAtBytes && log.fileSize >= 2 * baseSize {
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

    /// Write `number` finished: send what it held (or fail it) once every earlier write has.
    func written(_ number: UInt64, _ error: StoreError?) {
        guard number >= firstHeld, number - firstHeld < UInt64(held.count) else { return }
        let index = Int(number - firstHeld)
        held[index].done = true
        held[index].error = error
        if let error, failure == nil {
            failure = error
            logger.critical("cannot write the append-only file: \(error); refusing new work, and trying to write it again every \(Self.retryEveryMs) ms")
        }
        while let first = held.first, first.done {
            held.removeFirst()
            firstHeld += 1
            guard let error = first.error else {
                Self.send(first.outbox)
                continue
            }
            // Never acknowledge what could not be recorded.
            for (peer, envelope) in first.outbox { peer.released(envelope) }
            Self.send(first.outbox.map { peer, envelope in
                guard envelope.requestId != 0 else { return (peer, envelope) }
                return (peer, Envelope(requestId: envelope.requestId,
                                       message: .error(.unavailable, "not recorded: the master cannot write its append-only file (\(error))")))
            }, released: true)
        }
    }

    // MARK: recovery

    /// Tries to end the failure: rewrites the whole file from `snapshot` (the state as of now;
    /// records written later land after it). `completion` runs on the writer's queue: hop to the
    /// loop and call ``retried(_:)``.
    func retry(snapshot: [[UInt8]], completion: @escaping @Sendable (Result<Int64, StoreError>) -> Void) {
        recovering = true
        let log = log
        log.recover(snapshot: snapshot) { result in completion(result.map { log.fileSize }) }
    }

    /// A retry finished; true when the file is writable again and work is accepted.
    func retried(_ result: Result<Int64, StoreError>) -> Bool {
        recovering = false
        switch result {
        case .success(let size):
            baseSize = size
            failure = nil
            logger.notice("the append-only file is writable again; accepting work", metadata: [
                "path": "\(log.path)", "size": "\(size)", "failedRetries": "\(failedRetries)",
            ])
            failedRetries = 0
            return true
        case .failure(let error):
            failedRetries += 1
            // The first, then about once a minute: a long outage should not flood the log.
            if failedRetries == 1 || failedRetries % 60 == 0 {
                logger.error("the append-only file is still not writable: \(error); still refusing new work", metadata: [
                    "path": "\(log.path)", "retries": "\(failedRetries)",
                ])
            }
            return false
        }
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
