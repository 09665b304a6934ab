import TitanArtifacts
import TitanAuth
import TitanLoop
import TitanProtocol
import TitanTLS

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
    private let governor: ConnectionGovernor
    private let limits: ConnectionLimits
    private var decoder: FrameDecoder
    private var closed = false
    /// v1 requests waiting for the scheduler's reply, by the request id given to them.
    private var v1Pending: [UInt32: V1Bridge.Expect] = [:]
    /// Ids for v1 requests: high, away from what native clients pick.
    private var nextV1Id: UInt32 = 0xF000_0000
    /// Holds one of the places kept for workers: its first message must register one.
    private var workersOnly: Bool
    private let acceptedAtMs = Time.monotonicMs()
    private var sawFrame = false
    /// Since when bytes of an incomplete frame have been waiting (monotonic ms).
    private var partialSinceMs: Int64?
    /// This connection's buffered bytes as counted in the governor's total.
    private var countedPartialBytes = 0
    /// Estimated bytes of replies and pushes held for this peer until the journal writes.
    private var heldBytes = 0
    /// Not reading: its output is over budget.
    private var paused = false
    private var resumeCheckQueued = false
    /// Whom this connection proved to be; nil until then (with authentication off: admin at once).
    private var credential: Credential?
    /// Between the challenge and the proof.
    private var pendingAuth: (credential: Credential, clientNonce: [UInt8], serverNonce: [UInt8])?
    /// The original protocol cannot authenticate: served to loopback peers only, unless allowed.
    private var v1Allowed = true
    /// The master's TLS settings; nil: plaintext only.
    private let tls: TLSContext?
    /// The first bytes tell a TLS hello from plaintext: with TLS on, plaintext is served to
    /// this host's own peers only (loopback, or one of its addresses: e.g. the scaler's workers); with TLS off, a TLS client is told so instead of "bad frame".
    private var sniffing = true
    /// This connection runs TLS.
    private var overTLS = false
    /// Holds one of the governor's places for handshakes in progress.
    private var handshaking = false
    /// Where TLS failures and refused plaintext go (the master's log, rate-limited).
    private var report: @Sendable (String) -> Void = { _ in }

    init(loop: EventLoop, connection: TCPConnection, scheduler: SchedulerActor, governor: ConnectionGovernor,
         limits: ConnectionLimits, workersOnly: Bool, auth: AuthConfig, maxFrame: Int, label: String,
         tls: TLSContext? = nil) {
        eventLoop = loop
        self.tls = tls
        if !auth.enabled {
            credential = Credential(tokenId: "", role: .admin, verifier: TokenVerifier(storedKey: [], serverKey: []), dagScope: "")
        }
        self.connection = connection
        self.scheduler = scheduler
        self.governor = governor
        self.limits = limits
        self.workersOnly = workersOnly
        self.label = label
        decoder = FrameDecoder(maxPayload: maxFrame)
    }

    /// Starts reading. Loop thread only.
    func start(allowV1FromRemote: Bool, report: @escaping @Sendable (String) -> Void = { _ in },
               onClose: @escaping @Sendable (MasterSession) -> Void) {
        self.report = report
        v1Allowed = allowV1FromRemote || connection.assumeIsolated { $0.isLoopbackPeer }
        let hardLimit = limits.outputHardLimitBytes
        connection.assumeIsolated { conn in
            conn.setMaxPendingBytes(hardLimit)
            conn.onWritten { [self] in self.assumeIsolated { $0.resumeIfDrained() } }
            conn.start(onRead: { [self] bytes in
                self.assumeIsolated { $0.received(bytes) }
            }, onClose: { [self] _ in
                self.assumeIsolated { $0.connectionClosed() }
                onClose(self)
            })
        }
    }

    private func received(_ bytes: [UInt8]) {
        guard !closed else { return }
        if sniffing {
            sniffing = false
            // A TLS record of type handshake (22): the client's hello. (No frame starts so.)
            if bytes.first == 22 { return tls == nil ? refuseTLS() : startTLS(bytes) }
            if tls != nil && !connection.assumeIsolated({ $0.isSameHostPeer }) { return refusePlaintext(bytes) }
        }
        decoder.append(contentsOf: bytes)
        processFrames()
    }

    private func startTLS(_ hello: [UInt8]) {
        guard let tls else { return }
        overTLS = true
        guard governor.assumeIsolated({ $0.handshakeStarted() }) else {
            // No TLS alert can be sent before a session exists: the peer sees the connection close.
            report("refused a TLS handshake: \(limits.maxPendingHandshakes) are in progress")
            closed = true
            return close()
        }
        handshaking = true
        let address = connection.assumeIsolated { $0.remoteAddress } ?? "?"
        connection.assumeIsolated { conn in
            conn.startTLS(context: tls, role: .server, received: hello) { [self] result in
                self.assumeIsolated { session in
                    session.endHandshake()
                    // A peer gone mid-handshake (or cut off at the deadline) is no TLS failure.
                    guard case .failure(let error) = result, error != .closedDuringHandshake else { return }
                    session.governor.assumeIsolated { $0.refused("TLS handshake failed") }
                    session.report("TLS handshake with \(address) failed: \(error)")
                }
            }
        }
    }

    /// Gives the handshake's place back (once: completed, failed, or the connection closed).
    private func endHandshake() {
        guard handshaking else { return }
        handshaking = false
        governor.assumeIsolated { $0.handshakeEnded() }
    }

    /// A TLS hello on a plaintext port: logged here; the client, which sees a plaintext frame
    /// where it expected TLS, says that TLS is on at one end only.
    private func refuseTLS() {
        let address = connection.assumeIsolated { $0.remoteAddress } ?? "?"
        governor.assumeIsolated { $0.refused("TLS on a plaintext port") }
        report("a TLS client connected from \(address), but TLS is off on this master (give --tls-cert and --tls-key)")
        refuse("TLS is off on this master: connect without --tls-ca")
    }

    /// Plaintext from another host on a TLS port: told so in its own protocol, then closed.
    private func refusePlaintext(_ bytes: [UInt8]) {
        let address = connection.assumeIsolated { $0.remoteAddress } ?? "?"
        governor.assumeIsolated { $0.refused("plaintext on a TLS port") }
        report("refused a plaintext connection from \(address): TLS is required from other hosts")
        let reason = "this master requires TLS from other hosts: connect with --tls-ca CA.pem (or TITAN_TLS_CA)"
        guard bytes.first == TitanProto.v1Version else { return refuse(reason) }
        sendV1(V1Reply(.error, "ERROR: \(reason)"))
        closed = true
        close()
    }

    /// Bytes waiting to reach this peer: held for the journal, corked, or queued for the socket.
    private var outputWaiting: Int { heldBytes + connection.assumeIsolated { $0.queuedBytes } }

    /// Hands the scheduler every complete frame buffered, one by one, until the peer's waiting
    /// output passes its budget: then reading stops until the peer has read enough (so a client
    /// that pipelines requests and never reads costs a bounded amount, whatever the replies weigh).
    private func processFrames() {
        // Everything this produces for this peer (replies, acks, a dispatch to this very
        // worker) leaves as one write at the end.
        connection.assumeIsolated { $0.cork() }
        defer { connection.assumeIsolated { $0.uncork() } }
        var handled = false
        var fatal: String?
        while !closed && outputWaiting <= limits.outputBudgetBytes {
            let frame: Frame
            do {
                guard let next = try decoder.next() else { break }
                frame = next
            } catch {
                fatal = error.description
                break
            }
            sawFrame = true
            if workersOnly && !Self.isAuthentication(frame) {
                // The reserved places serve workers and admins (who may need to get in to fix things).
                guard credential?.role == .admin
                        || (frame.version == TitanProto.nativeVersion && frame.opcode == NativeOpcode.register.rawValue) else {
                    return refuse("too many connections: the places left are kept for workers and admins; try again later")
                }
                workersOnly = false
            }
            if frame.version == TitanProto.v1Version {
                guard v1Allowed else {
                    sendV1(V1Reply(.error, "ERROR: the original Titan protocol cannot authenticate, so this master serves it "
                                   + "to its own host only; use the Titan SDK or CLI with a token"))
                    return close()
                }
                handled = handleV1(frame) || handled
                continue
            }
            do {
                let envelope = try NativeCodec.decode(frame)
                guard admit(envelope) else { continue }
                scheduler.assumeIsolated { $0.handle(envelope, from: self) }
                handled = true
            } catch {
                let code: ErrorCode = if case .unknownOpcode = error { .unknownOpcode } else { .malformedPayload }
                send(Envelope(requestId: Self.requestId(of: frame), message: .error(code, error.description)))
            }
        }
        if handled { scheduler.assumeIsolated { $0.schedule() } }
        if let fatal {
            send(Envelope(requestId: 0, message: .error(.badFrame, fatal)))
            return close()
        }
        guard !closed else { return }
        accountPartialFrame(consumedFrames: handled)
        if !paused && outputWaiting > limits.outputBudgetBytes {
            paused = true
            connection.assumeIsolated { $0.pauseReading() }
        }
    }

    static func isAuthentication(_ frame: Frame) -> Bool {
        frame.version == TitanProto.nativeVersion
            && (frame.opcode == NativeOpcode.authHello.rawValue || frame.opcode == NativeOpcode.authProof.rawValue)
    }

    /// Authentication and roles: true when `envelope` goes on to the scheduler. Before a token is
    /// proved only the handshake (and ping) is accepted; after, what the token's role allows.
    private func admit(_ envelope: Envelope) -> Bool {
        let message = envelope.message
        if let credential {
            guard credential.role.allows(message) else {
                send(Envelope(requestId: envelope.requestId, message: .error(.invalidRequest,
                    "a \(credential.role.rawValue) token may not send \(message.name)")))
                return false
            }
            if case .register = message, overTLS, tls?.verifiesClients == true,
               connection.assumeIsolated({ $0.tlsPeer?.verified }) != true {
                refuse("a worker must present a certificate signed by the cluster's CA over TLS (titan-node --tls-cert and --tls-key)")
                return false
            }
            if credential.role == .job, case .extendDag(let dagId, _) = message, dagId != credential.dagScope {
                send(Envelope(requestId: envelope.requestId, message: .error(.invalidRequest,
                    "a job's token may grow only its own DAG ('\(credential.dagScope)')")))
                return false
            }
            return true
        }
        switch message {
        case .ping:
            return true
        case .authHello(let tokenId, let clientNonce):
            guard pendingAuth == nil, clientNonce.count == AuthExchange.nonceSize else {
                refuse("authentication: a hello with a \(AuthExchange.nonceSize)-byte nonce, once")
                return false
            }
            guard let found = scheduler.assumeIsolated({ $0.credential(forTokenId: tokenId) }) else {
                governor.assumeIsolated { $0.refused("unknown token") }
                refuse("authentication refused: token '\(Names.printable(tokenId.prefix(80)))' is unknown, revoked or expired")
                return false
            }
            let serverNonce = AuthExchange.nonce()
            pendingAuth = (found, clientNonce, serverNonce)
            send(Envelope(requestId: envelope.requestId, message: .authChallenge(nonce: serverNonce)))
            return false
        case .authProof(let proof):
            guard let pending = pendingAuth else {
                refuse("authentication: a proof without a hello")
                return false
            }
            pendingAuth = nil
            let id = pending.credential.tokenId
            // Checked again: the token may have been revoked between the hello and the proof.
            guard let current = scheduler.assumeIsolated({ $0.credential(forTokenId: id) }), current.verifier == pending.credential.verifier,
                  AuthExchange.verify(proof: proof, verifier: current.verifier, tokenId: id,
                                      clientNonce: pending.clientNonce, serverNonce: pending.serverNonce) else {
                governor.assumeIsolated { $0.refused("wrong proof") }
                refuse("authentication refused: wrong secret for token '\(Names.printable(id.prefix(80)))'")
                return false
            }
            if workersOnly && current.role != .worker && current.role != .admin {
                refuse("too many connections: the places left are kept for workers and admins; try again later")
                return false
            }
            credential = current
            scheduler.assumeIsolated { $0.authenticated(self, tokenId: id) }
            let signature = AuthExchange.serverSignature(verifier: current.verifier, tokenId: id,
                                                         clientNonce: pending.clientNonce, serverNonce: pending.serverNonce)
            send(Envelope(requestId: envelope.requestId, message: .authOk(role: current.role.rawValue, signature: signature)))
            return false
        default:
            refuse("authenticate first: this master requires a token (TITAN_TOKEN, --token-file, or the local "
                   + "credential a master writes to ~/.config/titan/token; `titan token create` makes one)")
            return false
        }
    }

    /// Keeps the governor's count of buffered bytes and this connection's frame deadline.
    private func accountPartialFrame(consumedFrames: Bool) {
        let buffered = decoder.bufferedByteCount
        let delta = buffered - countedPartialBytes
        if delta != 0 {
            guard governor.assumeIsolated({ $0.partialFrameBytesChanged(by: delta) }) else {
                return refuse("the master is holding too many incomplete frames; try again later")
            }
            countedPartialBytes = buffered
        }
        if buffered == 0 {
            partialSinceMs = nil
        } else if partialSinceMs == nil || consumedFrames {
            partialSinceMs = Time.monotonicMs()
        }
    }

    /// After output drained: reads again once the waiting output is below half the budget.
    private func resumeIfDrained() {
        guard paused, !closed, outputWaiting <= limits.outputBudgetBytes / 2 else { return }
        paused = false
        connection.assumeIsolated { $0.resumeReading() }
        processFrames()
    }

    /// Closes connections past their deadlines: no first frame in time, or a frame begun and not
    /// finished in time. Called by the master every second or so.
    func checkDeadlines(nowMs: Int64) {
        guard !closed else { return }
        if !sawFrame && nowMs - acceptedAtMs > limits.firstFrameDeadlineMs {
            governor.assumeIsolated { $0.refused("no first frame in time") }
            return refuse("no request within \(limits.firstFrameDeadlineMs) ms of connecting")
        }
        if !paused, let since = partialSinceMs, nowMs - since > limits.frameDeadlineMs {
            governor.assumeIsolated { $0.refused("frame not completed in time") }
            return refuse("a frame was not completed within \(limits.frameDeadlineMs) ms")
        }
    }

    /// Tells the peer why, then closes; nothing more it sent is handled.
    private func refuse(_ reason: String) {
        send(Envelope(requestId: 0, message: .error(.unavailable, reason)))
        closed = true
        endHandshake()
        close()
    }

    /// The request id of a native frame whose payload could not be decoded, when it has one, so
    /// the client can match the error to its request.
    private static func requestId(of frame: Frame) -> UInt32 {
        guard frame.payload.count >= 4 else { return 0 }
        return frame.payload[0..<4].reduce(0) { $0 << 8 | UInt32($1) }
    }

    // MARK: v1 (the original Titan protocol)

    /// Serves one v1 request; true when a native request went to the scheduler.
    private func handleV1(_ frame: Frame) -> Bool {
        let request: V1Request
        do {
            request = try V1Codec.decode(opcode: frame.opcode, payload: frame.payload)
        } catch {
            sendV1(V1Reply(.error, error.message))
            return false
        }
        switch V1Bridge.plan(request) {
        case .native(let message, let expect):
            let envelope = v1Envelope(message, expect)
            scheduler.assumeIsolated { $0.handle(envelope, from: self) }
            return true
        case .reply(let reply):
            sendV1(reply)
        case .prepare(let work, let expect):
            guard let artifacts = scheduler.assumeIsolated({ $0.artifacts }) else {
                sendV1(Self.noDataDirectory)
                return false
            }
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
            guard let artifacts = scheduler.assumeIsolated({ $0.artifacts }) else {
                sendV1(Self.noDataDirectory)
                return false
            }
            let store = artifacts.store
            artifacts.run(on: eventLoop, { () throws(ArtifactError) in work(store) }) { [self] result in
                self.assumeIsolated { session in
                    session.sendV1((try? result.get()) ?? V1Reply(.error, "ERROR: internal error"))
                }
            }
        }
        return false
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
        endHandshake()
        let partial = countedPartialBytes
        countedPartialBytes = 0
        governor.assumeIsolated { g in
            _ = g.partialFrameBytesChanged(by: -partial)
            g.closed()
        }
        scheduler.assumeIsolated { $0.peerClosed(self) }
    }

    nonisolated func send(_ envelope: Envelope) {
        if envelope.requestId >= 0xF000_0000, let reply = assumeIsolated({ $0.v1Reply(to: envelope) }) {
            return assumeIsolated { $0.sendV1(reply) }
        }
        connection.assumeIsolated { conn in
            conn.send { NativeCodec.encode(envelope, into: &$0) }
        }
        assumeIsolated { $0.queueResumeCheck() }
    }

    nonisolated func send(batch: [Envelope]) {
        connection.assumeIsolated { $0.cork() }
        for envelope in batch { send(envelope) }
        connection.assumeIsolated { $0.uncork() }
    }

    nonisolated func held(_ envelope: Envelope) {
        let size = envelope.message.approximateWireSize
        assumeIsolated { $0.heldBytes += size }
    }

    nonisolated func released(_ envelope: Envelope) {
        let size = envelope.message.approximateWireSize
        assumeIsolated { $0.heldBytes -= size }
    }

    /// Held output was released: once it is written the peer may be read again. (A write that
    /// completes at once raises no write callback, so check on the next turn too.)
    private func queueResumeCheck() {
        guard paused, !resumeCheckQueued else { return }
        resumeCheckQueued = true
        eventLoop.execute { [self] in
            self.assumeIsolated { s in
                s.resumeCheckQueued = false
                s.resumeIfDrained()
            }
        }
    }

    nonisolated func close() {
        connection.assumeIsolated { $0.closeAfterFlush() }
    }

    nonisolated var queuedBytes: Int? {
        connection.assumeIsolated { $0.isOpen ? $0.queuedBytes : nil }
    }
}
