import TitanPolicy
import TitanProtocol

/// The workers the master knows, their connections and the attempts they run. Owned by the
/// ``SchedulerActor`` (placement reads it and dispatch changes it in the same step, so they share
/// one isolation domain instead of hopping between actors per dispatch).
struct WorkerRegistry {
    struct Entry {
        var registration: Registration
        var capabilities: Set<String>
        var peer: any Peer
        var connected: Bool
        var suspect = false
        var lastHeardMs: Int64
        /// Attempts dispatched to it and not yet reported finished (services' placements too).
        var running: Set<AttemptRef> = []
        /// Since when it has had nothing to run, as of the last time it was heard from (a result
        /// or a heartbeat: at most a heartbeat late, and off the dispatch path).
        var idleSinceMs: Int64?

        mutating func heard(atMs now: Int64) {
            lastHeardMs = now
            if !running.isEmpty {
                idleSinceMs = nil
            } else if idleSinceMs == nil {
                idleSinceMs = now
            }
        }

        /// Milliseconds with nothing to run; -1 while busy.
        func idleMs(nowMs: Int64) -> Int64 { running.isEmpty ? max(0, nowMs - (idleSinceMs ?? nowMs)) : -1 }
        /// Being retired by the scaler: no new work; it leaves when its work is done.
        var draining = false

        var capacity: WorkerCapacity {
            WorkerCapacity(id: registration.workerId, capabilities: capabilities,
                           slots: Int(registration.slots), running: running.count,
                           accepting: connected && !suspect && !draining)
        }
    }

    private(set) var entries: [String: Entry] = [:]
    private var byPeer: [ObjectIdentifier: String] = [:]

    subscript(id: String) -> Entry? {
        get { entries[id] }
        _modify { yield &entries[id] }
    }

    func workerId(of peer: any Peer) -> String? { byPeer[ObjectIdentifier(peer)] }

    /// Adds a worker or replaces the connection of a known one; returns the previous entry.
    mutating func upsert(_ registration: Registration, peer: any Peer, nowMs: Int64) -> Entry? {
        let id = registration.workerId
        let old = entries[id]
        if let old { byPeer[ObjectIdentifier(old.peer)] = nil }
        // The implicit `worker:ID` tag (hard affinity) is added once, here.
        var entry = Entry(registration: registration,
                          capabilities: Set(registration.capabilities).union([Placement.pinTag(id)]),
                          peer: peer, connected: true, lastHeardMs: nowMs)
        entry.idleSinceMs = old?.idleSinceMs ?? nowMs
        entry.running = old?.running ?? []
        entries[id] = entry
        byPeer[ObjectIdentifier(peer)] = id
        return old
    }

    /// Marks the worker behind `peer` disconnected; returns its id.
    mutating func disconnected(_ peer: any Peer) -> String? {
        guard let id = byPeer.removeValue(forKey: ObjectIdentifier(peer)) else { return nil }
        entries[id]?.connected = false
        return id
    }

    mutating func drain(_ id: String) {
        entries[id]?.draining = true
    }

    mutating func remove(_ id: String) -> Entry? {
        guard let entry = entries.removeValue(forKey: id) else { return nil }
        if byPeer[ObjectIdentifier(entry.peer)] == id { byPeer[ObjectIdentifier(entry.peer)] = nil }
        return entry
    }

    var capacities: [WorkerCapacity] { entries.values.map(\.capacity) }

    var allPeers: [any Peer] { entries.values.filter(\.connected).map(\.peer) }
}
