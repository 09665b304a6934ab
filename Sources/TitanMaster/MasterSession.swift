import TitanArtifacts
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
    /// v1 requests waiting for the scheduler's reply, by the request id given to them.
    private var v1Pending: [UInt32: V1Bridge.Expect] = [:]
    /// Ids for v1 requests: high, away from what native clients pick.
    private var nextV1Id: UInt32 = 0xF000_0000

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
                handleV1(frame)
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

    // MARK: v1 (the original Titan protocol)

    private func handleV1(_ frame: Frame) {
        let request: V1Request
        do {
            request = try V1Codec.decode(opcode: frame.opcode, payload: frame.payload)
        } catch {
            return sendV1(V1Reply(.error, error.message))
        }
        switch V1Bridge.plan(request) {
        case .native(let message, let expect):
            batch.append(v1Envelope(message, expect))
        case .reply(let reply):
            sendV1(reply)
        case .prepare(let work, let expect):
            guard let artifacts = scheduler.assumeIsolated({ $0.artifacts }) else { return sendV1(Self.noDataDirectory) }
            let store = artifacts.store
            artifacts.run(on: eventLoop, { () throws(ArtifactError) in
                Result { () throws(V1Error) in try work(store) }
            }) { [self] result in
                self.assumeIsolated { session in
                    switch result {
                    case .success(.success(let message)):
                        let envelope = session.v1Envelope(message, expect)
                        session.scheduler.assumeIsolated { s in
                            s.handle(envelope, from: session)
                            s.schedule()
                        }
                    case .success(.failure(let error)):
                        session.sendV1(V1Reply(.error, error.message))
                    case .failure(let error):
                        session.sendV1(V1Reply(.error, "ERROR: \(error.message)"))
                    }
                }
            }
        case .answer(let work):
            guard let artifacts = scheduler.assumeIsolated({ $0.artifacts }) else { return sendV1(Self.noDataDirectory) }
            let store = artifacts.store
            artifacts.run(on: eventLoop, { () throws(ArtifactError) in work(store) }) { [self] result in
                self.assumeIsolated { session in
                    session.sendV1((try? result.get()) ?? V1Reply(.error, "ERROR: internal error"))
                }
            }
        }
    }

    private static let noDataDirectory = V1Reply(.error, "ERROR: this master has no data directory, so it stores no files")

    private func v1Envelope(_ message: Message, _ expect: V1Bridge.Expect) -> Envelope {
        let id = nextV1Id
        nextV1Id = nextV1Id == UInt32.max ? 0xF000_0000 : nextV1Id + 1
        v1Pending[id] = expect
        return Envelope(requestId: id, message: message)
    }

    private func sendV1(_ reply: V1Reply) {
        let frame = reply.frame
        connection.assumeIsolated { $0.send { frame.append(to: &$0) } }
    }

    /// The scheduler's reply to a v1 request, formatted for it; nil for anything else.
    private func v1Reply(to envelope: Envelope) -> V1Reply? {
        guard envelope.requestId >= 0xF000_0000, !v1Pending.isEmpty,
              let expect = v1Pending.removeValue(forKey: envelope.requestId) else { return nil }
        return V1Bridge.reply(to: envelope.message, expect)
    }

    private func connectionClosed() {
        closed = true
        scheduler.assumeIsolated { $0.peerClosed(self) }
    }

    nonisolated func send(_ envelope: Envelope) {
        if envelope.requestId >= 0xF000_0000, let reply = assumeIsolated({ $0.v1Reply(to: envelope) }) {
            return assumeIsolated { $0.sendV1(reply) }
        }
        connection.assumeIsolated { conn in
            conn.send { NativeCodec.encode(envelope, into: &$0) }
        }
    }

    nonisolated func send(batch: [Envelope]) {
        connection.assumeIsolated { $0.cork() }
        for envelope in batch { send(envelope) }
        connection.assumeIsolated { $0.uncork() }
    }

    nonisolated func close() {
        connection.assumeIsolated { $0.closeAfterFlush() }
    }

    nonisolated var queuedBytes: Int? {
        connection.assumeIsolated { $0.isOpen ? $0.queuedBytes : nil }
    }
}
