import TitanProtocol

/// Something the master can send messages to: a client or worker connection. Implementations
/// live on the master's event loop; `send` is called there.
public protocol Peer: AnyObject, Sendable {
    /// Queues `envelope` for sending. Loop thread only.
    nonisolated func send(_ envelope: Envelope)
    /// Closes the connection (after flushing what was sent). Loop thread only.
    nonisolated func close()
    /// For logs: the remote address or role.
    nonisolated var label: String { get }
    /// Queues several envelopes, leaving in as few writes as possible. Loop thread only.
    nonisolated func send(batch: [Envelope])
    /// `envelope` is held for this peer until the journal has written the records it depends on:
    /// it counts against the peer's output budget from now on. Loop thread only.
    nonisolated func held(_ envelope: Envelope)
    /// A held envelope is released (about to be sent, or dropped). Loop thread only.
    nonisolated func released(_ envelope: Envelope)
    /// Bytes sent but not yet written to the socket, or nil once the connection is closed (a
    /// replay waits while this is large and stops when it is nil). Loop thread only.
    nonisolated var queuedBytes: Int? { get }
}

extension Peer {
    /// Peers that cannot tell (tests, in-process relays) never hold a replay back.
    public nonisolated var queuedBytes: Int? { 0 }

    public nonisolated func send(batch: [Envelope]) {
        for envelope in batch { send(envelope) }
    }

    public nonisolated func held(_ envelope: Envelope) {}
    public nonisolated func released(_ envelope: Envelope) {}

    nonisolated func reply(_ requestId: UInt32, _ message: Message) {
        send(Envelope(requestId: requestId, message: message))
    }

    nonisolated func push(_ message: Message) {
        send(Envelope(requestId: 0, message: message))
    }
}
