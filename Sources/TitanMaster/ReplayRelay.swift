import Synchronization
import TitanProtocol

/// Stands in for a subscriber while its job's earlier output is read back from disk: what the
/// job produces meanwhile is held, then sent after the replay, so the subscriber sees every
/// line once and in order. Used on the loop thread only (the Mutex keeps it honestly Sendable).
final class ReplayRelay: Peer {
    private let peer: any Peer
    private let state = Mutex<(replaying: Bool, held: [Envelope])>((true, []))

    init(_ peer: any Peer) {
        self.peer = peer
    }

    nonisolated var label: String { peer.label }

    nonisolated func send(_ envelope: Envelope) {
        let forward = state.withLock { s -> Bool in
            if s.replaying { s.held.append(envelope) }
            return !s.replaying
        }
        if forward { peer.send(envelope) }
    }

    nonisolated func close() { peer.close() }

    nonisolated var queuedBytes: Int? { peer.queuedBytes }

    /// Sends the replayed messages, then what was held, then passes everything straight on.
    func finish(replay: [Message]) {
        for message in replay { peer.push(message) }
        let held = state.withLock { s -> [Envelope] in
            s.replaying = false
            defer { s.held = [] }
            return s.held
        }
        for envelope in held { peer.send(envelope) }
    }
}
