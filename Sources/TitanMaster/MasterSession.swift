import TitanLoop
import TitanProtocol

/// One accepted connection to the master: decodes frames and hands the typed messages to the
/// scheduler, once per read callback; encodes replies straight into the socket's send buffer.
///
/// Bad input gets an error reply naming the problem. When framing is lost (wrong version, frame
/// over the size limit) the connection is closed after the reply; a malformed payload or an
/// unknown opcode inside a well-formed frame only costs that request.
actor MasterSession: LoopBound, Peer {
    nonisolated let eventLoop: EventLoop
    nonisolated let label: String
    private let connection: TCPConnection
    private let scheduler: SchedulerActor
    private var decoder: FrameDecoder
    private var batch: [Envelope] = []
    private var closed = false

    init(loop: EventLoop, connection: TCPConnection, scheduler: SchedulerActor, maxFrame: Int, label: String) {
        eventLoop = loop
        self.connection = connection
        self.scheduler = scheduler
        self.label = label
        decoder = FrameDecoder(maxPayload: maxFrame)
    }

    /// Starts reading. Loop thread only.
    func start(onClose: @escaping @Sendable (MasterSession) -> Void) {
        connection.assumeIsolated { conn in
            conn.start(onRead: { [self] bytes in
                self.assumeIsolated { $0.received(bytes) }
            }, onClose: { [self] _ in
                self.assumeIsolated { $0.connectionClosed() }
                onClose(self)
            })
        }
    }

    private func received(_ bytes: [UInt8]) {
        // Everything this read produces for this peer (replies, acks, a dispatch to this very
        // worker) leaves as one write at the end of the callback.
        connection.assumeIsolated { $0.cork() }
        defer { connection.assumeIsolated { $0.uncork() } }
        decoder.append(contentsOf: bytes)
        batch.removeAll(keepingCapacity: true)
        var fatal: (version: UInt8, message: String)?
        while true {
            let frame: Frame
            do {
                guard let next = try decoder.next() else { break }
                frame = next
            } catch {
                fatal = (TitanProto.nativeVersion, error.description)
                break
            }
            if frame.version == TitanProto.v1Version {
                // The v1 (original Titan) codec is not served yet: every v1 opcode is unknown.
                sendV1Error("UNKNOWN_OPCODE: \(frame.opcode)")
                continue
            }
            do {
                batch.append(try NativeCodec.decode(frame))
            } catch {
                let code: ErrorCode = if case .unknownOpcode = error { .unknownOpcode } else { .malformedPayload }
                send(Envelope(requestId: Self.requestId(of: frame), message: .error(code, error.description)))
            }
        }
        if !batch.isEmpty {
            let envelopes = batch
            scheduler.assumeIsolated { s in
                for envelope in envelopes { s.handle(envelope, from: self) }
                s.schedule()
            }
        }
        if let fatal {
            send(Envelope(requestId: 0, message: .error(.badFrame, fatal.message)))
            close()
        }
    }

    /// The request id of a native frame whose payload could not be decoded, when it has one, so
    /// the client can match the error to its request.
    private static func requestId(of frame: Frame) -> UInt32 {
        guard frame.payload.count >= 4 else { return 0 }
        return frame.payload[0..<4].reduce(0) { $0 << 8 | UInt32($1) }
    }

    private func sendV1Error(_ text: String) {
        let frame = Frame(version: TitanProto.v1Version, opcode: 0x51, flags: 0, payload: Array(text.utf8))
        connection.assumeIsolated { $0.send { frame.append(to: &$0) } }
    }

    private func connectionClosed() {
        closed = true
        scheduler.assumeIsolated { $0.peerClosed(self) }
    }

    nonisolated func send(_ envelope: Envelope) {
        connection.assumeIsolated { conn in
            conn.send { NativeCodec.encode(envelope, into: &$0) }
        }
    }

    nonisolated func send(batch: [Envelope]) {
        connection.assumeIsolated { conn in
            conn.cork()
            for envelope in batch { conn.send { NativeCodec.encode(envelope, into: &$0) } }
            conn.uncork()
        }
    }

    nonisolated func close() {
        connection.assumeIsolated { $0.closeAfterFlush() }
    }
}
