import Foundation
import TitanAuth
import TitanLoop
import TitanProtocol
import TitanTLS

/// What went wrong talking to a master.
public enum TitanClientError: Error, Sendable, CustomStringConvertible, Equatable {
    case connectFailed(address: String, reason: String)
    case connectionClosed
    /// The master answered with an error.
    case server(ErrorCode, String)
    case unexpectedReply(expected: String, got: String)
    case invalidAddress(String)
    /// The request would not fit in one frame (a DAG of very many or very large jobs).
    case requestTooLarge(bytes: Int, limit: Int)
    /// The credential could not be found or read, was refused, or the master could not prove
    /// it is the one that issued it.
    case authentication(String)
    /// TLS could not be set up (`address` empty: a file is named), or the connection failed in it
    /// (names the master and why).
    case tls(address: String, reason: String)
    /// The master did not answer in time (see ``Timeouts``): `step` is what did not happen.
    case timedOut(address: String, step: TimeoutStep, afterMs: UInt64)
    /// The peer sent bytes that are not Titan frames: whatever listens there is not a master.
    case notTitan(address: String, detail: String)
    /// A setting (a timeout) given in the environment or on the command line is not valid.
    case invalidSetting(String)

    public var description: String {
        switch self {
        case .connectFailed(let address, let reason): "cannot connect to master at \(address): \(reason)"
        case .connectionClosed: "connection to master closed"
        case .server(_, let message): message
        case .unexpectedReply(let expected, let got): "unexpected reply from master: expected \(expected), got \(got)"
        case .invalidAddress(let text): "invalid master address '\(text)': expected HOST:PORT"
        case .requestTooLarge(let bytes, let limit):
            "request too large: \(bytes) bytes encoded, a frame holds at most \(limit); split the DAG"
        case .authentication(let problem): problem
        case .tls(let address, let reason): address.isEmpty ? reason : "TLS with the master at \(address): \(reason)"
        case .timedOut(let address, let step, let ms):
            switch step {
            case .connect:
                "cannot connect to master at \(address): connect timed out after \(secondsText(ms: ms))"
            case .tlsHandshake:
                "TLS with the master at \(address): no TLS handshake within \(secondsText(ms: ms)) (timed out; is a Titan master with TLS listening there?)"
            case .authentication:
                "authentication with the master at \(address) timed out: no answer within \(secondsText(ms: ms)) (is a Titan master listening there?)"
            case .request(let name):
                "request timed out: the master at \(address) did not answer '\(name)' within \(secondsText(ms: ms)) (\(Timeouts.environmentVariable) or --request-timeout sets the limit)"
            case .keepalive:
                "the master at \(address) stopped answering: no reply to a keepalive ping within \(secondsText(ms: ms))"
            }
        case .notTitan(let address, let detail): "the peer at \(address) is not a Titan master: \(detail)"
        case .invalidSetting(let problem): problem
        }
    }
}

/// What a client was waiting for when its deadline passed.
public enum TimeoutStep: Sendable, Equatable {
    case connect
    case tlsHandshake
    /// The token exchange after connecting (the hello or the proof went unanswered).
    case authentication
    /// A request, by its message name (`getStatus`, `submit`, ...).
    case request(String)
    /// A ping sent while following went unanswered: the connection is dead.
    case keepalive
}

/// Something pushed about a followed job.
public enum JobUpdate: Sendable, Equatable {
    case output(OutputChannel, [UInt8])
    case event(JobEvent)
}

/// Something pushed about a followed DAG.
public enum DagUpdate: Sendable, Equatable {
    /// One of its jobs changed state.
    case job(JobEvent)
    /// One of its jobs printed something.
    case output(jobId: String, OutputChannel, [UInt8])
    /// The DAG's state or counts changed; the stream ends after a final one.
    case dag(DagEvent)
}

/// A client of a Titan master over one persistent connection: many requests in flight (matched by
/// request id) and pushed job events and output.
///
/// ```swift
/// let client = try await TitanClient.connect(to: "127.0.0.1:9090")
/// let id = try await client.submit(JobSpec(command: ["echo", "hi"]))
/// ```
public actor TitanClient: LoopBound {
    public nonisolated let eventLoop: EventLoop
    private let ownsLoop: Bool
    private let connection: TCPConnection
    /// The master's `HOST:PORT`, as given.
    private let address: String
    private var decoder = FrameDecoder()
    private var nextRequestId: UInt32 = 1
    private var pending: [UInt32: CheckedContinuation<Message, any Error>] = [:]
    /// How long each wait may last.
    public nonisolated let timeouts: Timeouts
    /// When each request with a deadline gives up (monotonic ms), and what it asked.
    private var deadlines: [UInt32: Deadline] = [:]
    /// Checks deadlines and sends keepalive pings; armed only while something is waited for.
    private var sweepTimer: LoopTimer?
    private var sweepArmed = false
    /// When the next keepalive ping is due, and whether one is in flight.
    private var nextKeepaliveMs: Int64 = 0
    private var keepaliveInFlight = false
    private var handshakeTimedOut = false
    private var followers: [String: [AsyncStream<JobUpdate>.Continuation]] = [:]
    /// Followers of submissions whose id is not known yet, by request id. Moved to `followers`
    /// while the reply is being decoded, so pushes right behind it in the same read are kept.
    private var pendingFollows: [UInt32: AsyncStream<JobUpdate>.Continuation] = [:]
    private var dagFollowers: [String: [AsyncStream<DagUpdate>.Continuation]] = [:]
    private var pendingDagFollows: [UInt32: AsyncStream<DagUpdate>.Continuation] = [:]
    private var closed = false
    private var nextUploadId: UInt32 = 1
    /// What the master said before closing the connection, if anything.
    private var closingReason: TitanClientError?
    /// Why the connection closed, if it did (the master's last word, a dead connection, ...):
    /// what a caller whose stream ended early can tell its user.
    public private(set) var closedReason: TitanClientError?
    /// The role this connection authenticated with (nil: the master asked for no token).
    public private(set) var role: Role?

    private init(loop: EventLoop, ownsLoop: Bool, connection: TCPConnection, address: String, timeouts: Timeouts) {
        eventLoop = loop
        self.address = address
        self.ownsLoop = ownsLoop
        self.connection = connection
        self.timeouts = timeouts
    }

    private struct Deadline {
        var atMs: Int64
        /// What timed out; nil: the request, named by `opcode` (named only if it times out).
        var step: TimeoutStep?
        var opcode: UInt8
        var afterMs: UInt64
    }

    /// Parses `HOST:PORT` (IPv6 as `[::1]:9090`).
    public static func parseAddress(_ text: String) throws(TitanClientError) -> (host: String, port: Int) {
        do {
            let address = try MasterAddress(parsing: text)
            return (address.host, address.port)
        } catch {
            throw .invalidAddress(text)
        }
    }

    /// How a client finds its credential.
    public enum Credentials: Sendable {
        /// `TITAN_TOKEN`, `TITAN_TOKEN_FILE`, else the local user's file (see TitanAuth's `TokenSource`);
        /// none found: connect without (a master that requires one says so).
        case discover
        case token(AuthToken)
        case none
    }

    /// How a client reaches the master.
    public enum Transport: Sendable {
        /// TLS when `TITAN_TLS_CA` names a CA file (with `TITAN_TLS_CERT` and `TITAN_TLS_KEY` for
        /// a certificate of its own, `TITAN_TLS_SERVER_NAME` for the name the master's
        /// certificate is for), else plaintext.
        case discover
        case plaintext
        /// TLS with these settings; `serverName` nil: the host dialled.
        case tls(TLSContext, serverName: String?)

        /// What ``discover`` finds in `environment`.
        public static func fromEnvironment(_ environment: [String: String]) throws(TitanClientError) -> Transport {
            guard let ca = environment["TITAN_TLS_CA"], !ca.isEmpty else { return .plaintext }
            let cert = environment["TITAN_TLS_CERT"].flatMap { $0.isEmpty ? nil : $0 }
            let key = environment["TITAN_TLS_KEY"].flatMap { $0.isEmpty ? nil : $0 }
            do {
                let context = try TLSContext.client(caFile: ca, certificateFile: cert, privateKeyFile: key)
                return .tls(context, serverName: environment["TITAN_TLS_SERVER_NAME"].flatMap { $0.isEmpty ? nil : $0 })
            } catch {
                throw .tls(address: "", reason: error.description)
            }
        }
    }

    /// Connects to `HOST:PORT` and authenticates. Without a loop, the client runs its own (stopped
    /// by ``close()``). `timeouts` nil: `TITAN_REQUEST_TIMEOUT`, else the defaults (see
    /// ``Timeouts``); each step that passes its deadline throws ``TitanClientError/timedOut(address:step:afterMs:)``.
    public static func connect(to address: String, loop: EventLoop? = nil,
                               credentials: Credentials = .discover,
                               transport: Transport = .discover,
                               timeouts: Timeouts? = nil) async throws(TitanClientError) -> TitanClient {
        let timeouts = if let timeouts { timeouts } else { try Timeouts.fromEnvironment(ProcessInfo.processInfo.environment) }
        let token: AuthToken?
        switch credentials {
        case .discover:
            do {
                token = try TokenSource.find()
            } catch {
                throw .authentication(error.description)
            }
        case .token(let given): token = given
        case .none: token = nil
        }
        var transport = transport
        if case .discover = transport { transport = try Transport.fromEnvironment(ProcessInfo.processInfo.environment) }
        let client = try await open(address, loop: loop, transport: transport, timeouts: timeouts)
        if let token {
            do {
                let role = try await client.authenticate(token)
                await client.setRole(role)
            } catch {
                await client.close()
                throw error
            }
        }
        return client
    }

    private func setRole(_ role: Role) {
        self.role = role
    }

    private static func open(_ address: String, loop: EventLoop?, transport: Transport,
                             timeouts: Timeouts) async throws(TitanClientError) -> TitanClient {
        let (host, port) = try parseAddress(address)
        let eventLoop = loop ?? EventLoop(name: "titan-client")
        let conn: TCPConnection
        do {
            conn = try await TCPConnection.connect(loop: eventLoop, host: host, port: port, timeoutMs: timeouts.connectMs)
        } catch {
            if loop == nil { await eventLoop.shutdown() }
            if error.cause == .timedOut {
                throw .timedOut(address: address, step: .connect, afterMs: timeouts.connectMs)
            }
            throw .connectFailed(address: address, reason: error.cause.message)
        }
        let client = TitanClient(loop: eventLoop, ownsLoop: loop == nil, connection: conn, address: address, timeouts: timeouts)
        await client.startReading()
        if case .tls(let context, let serverName) = transport {
            if let error = await client.handshake(context, serverName: serverName ?? host) {
                await client.close()
                throw error
            }
        }
        return client
    }

    /// Runs the TLS handshake within the handshake deadline; nil when it succeeded.
    private func handshake(_ context: TLSContext, serverName: String) async -> TitanClientError? {
        let limitMs = timeouts.handshakeMs
        let timer = limitMs > 0 ? LoopTimer(loop: eventLoop) : nil
        handshakeTimedOut = false
        let result = await withCheckedContinuation { (c: CheckedContinuation<TLSError?, Never>) in
            timer?.assumeIsolated { timer in
                timer.start(afterMs: limitMs) { [self] in
                    self.assumeIsolated { client in
                        client.handshakeTimedOut = true
                        client.connection.assumeIsolated { $0.close() }
                    }
                }
            }
            connection.assumeIsolated { conn in
                conn.startTLS(context: context, role: .client(serverName: serverName)) { result in
                    switch result {
                    case .success: c.resume(returning: nil)
                    case .failure(let error): c.resume(returning: error)
                    }
                }
            }
        }
        await timer?.close()
        if handshakeTimedOut { return .timedOut(address: address, step: .tlsHandshake, afterMs: limitMs) }
        return result.map { .tls(address: address, reason: $0.description) }
    }

    private func startReading() {
        connection.assumeIsolated { c in
            c.start(onRead: { [self] bytes in
                self.assumeIsolated { $0.received(bytes) }
            }, onClose: { [self] error in
                self.assumeIsolated { $0.connectionClosed(error) }
            })
        }
    }

    private func received(_ bytes: [UInt8]) {
        decoder.append(contentsOf: bytes)
        while true {
            let envelope: Envelope
            let frame: Frame
            do {
                guard let next = try decoder.next() else { return }
                frame = next
            } catch {
                // Not Titan's framing at all (an HTTP server, SSH, random bytes).
                return giveUp(.notTitan(address: address, detail: "it sent bytes that are not a Titan frame (\(error))"))
            }
            do {
                envelope = try NativeCodec.decode(frame)
            } catch {
                guard frame.version == TitanProto.nativeVersion else {
                    return giveUp(.notTitan(address: address, detail: "it sent a frame of protocol version \(frame.version)"))
                }
                return giveUp(.unexpectedReply(expected: "a valid frame", got: "\(error)"))
            }
            if envelope.requestId != 0, let waiter = pending.removeValue(forKey: envelope.requestId) {
                if !deadlines.isEmpty { deadlines[envelope.requestId] = nil }
                if let follower = pendingFollows.removeValue(forKey: envelope.requestId) {
                    if case .submitted(let id) = envelope.message {
                        followers[id, default: []].append(follower)
                    } else {
                        follower.finish()
                    }
                }
                if let follower = pendingDagFollows.removeValue(forKey: envelope.requestId) {
                    if case .dagSubmitted(let id, _) = envelope.message {
                        dagFollowers[id, default: []].append(follower)
                    } else {
                        follower.finish()
                    }
                }
                if case .error(let code, let text) = envelope.message {
                    waiter.resume(throwing: TitanClientError.server(code, text))
                } else {
                    waiter.resume(returning: envelope.message)
                }
                continue
            }
            switch envelope.message {
            case .event(let event):
                for f in followers[event.jobId] ?? [] { f.yield(.event(event)) }
                if event.state.isFinal, let done = followers.removeValue(forKey: event.jobId) {
                    for f in done { f.finish() }
                }
                if !dagFollowers.isEmpty, let dagId = Self.dagId(of: event.jobId) {
                    for f in dagFollowers[dagId] ?? [] { f.yield(.job(event)) }
                }
            case .output(let jobId, let stream, let bytes):
                for f in followers[jobId] ?? [] { f.yield(.output(stream, bytes)) }
                if !dagFollowers.isEmpty, let dagId = Self.dagId(of: jobId) {
                    for f in dagFollowers[dagId] ?? [] { f.yield(.output(jobId: jobId, stream, bytes)) }
                }
            case .dagEvent(let event):
                for f in dagFollowers[event.dagId] ?? [] { f.yield(.dag(event)) }
                if event.state.isFinal, let done = dagFollowers.removeValue(forKey: event.dagId) {
                    for f in done { f.finish() }
                }
            case .error(let code, let text):
                // Said before the master hangs up (refused, revoked, over a limit): the reason
                // every request still waiting gets.
                closingReason = .server(code, text)
            default:
                break
            }
        }
    }

    /// Fails everything waiting with `error` and closes: the connection cannot go on.
    private func giveUp(_ error: TitanClientError) {
        closingReason = error
        failAll(error)
        connection.assumeIsolated { $0.close() }
    }

    private func connectionClosed(_ error: ConnectionError?) {
        closed = true
        if closingReason == nil, case .tls(let problem) = error {
            // E.g. the master refused this client's certificate after the handshake (TLS 1.3).
            closingReason = .tls(address: address, reason: problem.description)
        }
        closedReason = closingReason ?? .connectionClosed
        sweepTimer?.assumeIsolated { $0.close() }
        sweepTimer = nil
        sweepArmed = false
        failAll(closingReason ?? .connectionClosed)
    }

    // MARK: deadlines

    /// True while a job or DAG is followed (or about to be): what keepalive pings are for.
    private var following: Bool {
        !followers.isEmpty || !dagFollowers.isEmpty || !pendingFollows.isEmpty || !pendingDagFollows.isEmpty
    }

    /// The sweep's period: a tenth of the shortest limit, between 20 ms and 1 s.
    private var sweepTickMs: UInt64 {
        let limits: [UInt64] = [timeouts.requestMs, timeouts.handshakeMs, timeouts.keepaliveMs].filter { $0 > 0 }
        let shortest: UInt64 = limits.min() ?? 10_000
        return min(1_000, max(20, shortest / 10))
    }

    /// Starts the sweep timer unless it runs (one timer for every deadline of this client, not
    /// one per request).
    private func armSweep() {
        guard !sweepArmed, !closed else { return }
        let timer = sweepTimer ?? LoopTimer(loop: eventLoop)
        sweepTimer = timer
        sweepArmed = true
        let tick = sweepTickMs
        timer.assumeIsolated { $0.start(afterMs: tick, repeatMs: tick) { [self] in self.assumeIsolated { $0.sweep() } } }
    }

    /// Fails the requests whose deadline passed, pings the master while following, and stops
    /// the timer once nothing is waited for.
    private func sweep() {
        let now = Time.monotonicMs()
        let expired = deadlines.filter { $0.value.atMs <= now }
        for (id, deadline) in expired {
            deadlines[id] = nil
            guard let waiter = pending.removeValue(forKey: id) else { continue }
            pendingFollows.removeValue(forKey: id)?.finish()
            pendingDagFollows.removeValue(forKey: id)?.finish()
            let step = deadline.step ?? .request(NativeCodec.name(ofOpcode: deadline.opcode) ?? "opcode \(deadline.opcode)")
            let error = TitanClientError.timedOut(address: address, step: step, afterMs: deadline.afterMs)
            waiter.resume(throwing: error)
            if deadline.step == .keepalive {
                // The connection is dead (or the master hung): end the streams, saying why.
                closingReason = error
                connection.assumeIsolated { $0.close() }
                return
            }
        }
        if following && timeouts.keepaliveMs > 0 {
            if nextKeepaliveMs == 0 {
                nextKeepaliveMs = now + Int64(timeouts.keepaliveMs)
            } else if !keepaliveInFlight && now >= nextKeepaliveMs {
                keepaliveInFlight = true
                Task { await self.keepalive() }
            }
        } else {
            nextKeepaliveMs = 0
            if deadlines.isEmpty {
                sweepTimer?.assumeIsolated { $0.stop() }
                sweepArmed = false
            }
        }
    }

    private func keepalive() async {
        let limit = timeouts.requestMs > 0 ? timeouts.requestMs : timeouts.keepaliveMs
        _ = try? await request(.ping, timeoutMs: limit, step: .keepalive)
        keepaliveInFlight = false
        nextKeepaliveMs = Time.monotonicMs() + Int64(timeouts.keepaliveMs)
    }

    /// Proves `token` to the master (see TitanAuth's `AuthExchange`) and checks the master's proof.
    /// Returns the role the master grants.
    func authenticate(_ token: AuthToken) async throws(TitanClientError) -> Role {
        let clientNonce = AuthExchange.nonce()
        do {
            let limit = timeouts.handshakeMs
            guard case .authChallenge(let serverNonce) = try await request(.authHello(tokenId: token.id, nonce: clientNonce),
                                                                           timeoutMs: limit, step: .authentication) else {
                throw TitanClientError.authentication("the master did not answer the authentication hello")
            }
            let proof = AuthExchange.clientProof(token: token, clientNonce: clientNonce, serverNonce: serverNonce)
            guard case .authOk(let roleName, let signature) = try await request(.authProof(proof), timeoutMs: limit,
                                                                                step: .authentication) else {
                throw TitanClientError.authentication("the master did not accept the proof")
            }
            guard AuthExchange.verifyServer(signature: signature, token: token, clientNonce: clientNonce, serverNonce: serverNonce) else {
                throw TitanClientError.authentication(AuthError.masterNotAuthentic.description)
            }
            return Role(rawValue: roleName) ?? .read
        } catch let error as TitanClientError {
            if case .server(_, let text) = error { throw .authentication(text) }
            throw error
        } catch {
            throw .authentication("\(error)")
        }
    }

    private func failAll(_ error: TitanClientError) {
        let waiters = pending
        pending = [:]
        deadlines = [:]
        for (_, f) in pendingFollows { f.finish() }
        pendingFollows = [:]
        for (_, f) in pendingDagFollows { f.finish() }
        pendingDagFollows = [:]
        for (_, fs) in dagFollowers { for f in fs { f.finish() } }
        dagFollowers = [:]
        for (_, w) in waiters { w.resume(throwing: error) }
        let all = followers
        followers = [:]
        for (_, fs) in all { for f in fs { f.finish() } }
    }

    /// Sends a request and waits for its reply; server errors are thrown.
    public func request(_ message: Message) async throws -> Message {
        try await request(message, follower: nil, dagFollower: nil)
    }

    /// The DAG a job id belongs to (`dag-3/extract` → `dag-3`).
    static func dagId(of jobId: String) -> String? {
        guard let slash = jobId.firstIndex(of: "/") else { return nil }
        return String(jobId[..<slash])
    }

    /// `timeoutMs` nil: the request timeout; 0: none. `step` names what timed out (default: the
    /// request by its message name).
    private func request(_ message: Message, follower: AsyncStream<JobUpdate>.Continuation? = nil,
                         dagFollower: AsyncStream<DagUpdate>.Continuation? = nil,
                         timeoutMs: UInt64? = nil, step: TimeoutStep? = nil) async throws -> Message {
        if closed { throw closedReason ?? TitanClientError.connectionClosed }
        let id = nextRequestId
        nextRequestId = nextRequestId == UInt32.max ? 1 : nextRequestId + 1
        let envelope = Envelope(requestId: id, message: message)
        // Only DAGs and schedules can outgrow a frame: check those before anything is sent (the
        // master would drop the connection); everything else is encoded straight into the socket.
        var encoded: [UInt8]?
        switch message {
        case .submitDag, .schedule:
            let bytes = NativeCodec.encode(envelope)
            let limit = TitanProto.headerSize + TitanProto.defaultMaxPayload
            if bytes.count > limit { throw TitanClientError.requestTooLarge(bytes: bytes.count, limit: limit) }
            encoded = bytes
        default:
            break
        }
        if let follower { pendingFollows[id] = follower }
        if let dagFollower { pendingDagFollows[id] = dagFollower }
        let limit = timeoutMs ?? timeouts.requestMs
        return try await withCheckedThrowingContinuation { c in
            pending[id] = c
            if limit > 0 {
                deadlines[id] = Deadline(atMs: Time.monotonicMs() + Int64(limit), step: step,
                                         opcode: NativeCodec.opcode(of: message), afterMs: limit)
                armSweep()
            } else if following, timeouts.keepaliveMs > 0 {
                armSweep()
            }
            connection.assumeIsolated { conn in
                if let encoded { conn.send(encoded) } else { conn.send { NativeCodec.encode(envelope, into: &$0) } }
            }
        }
    }

    /// A fresh id for an upload on this connection.
    func newUploadId() -> UInt32 {
        defer { nextUploadId &+= 1 }
        return nextUploadId
    }

    // MARK: API

    /// Round trip to the master.
    public func ping() async throws {
        let reply = try await request(.ping)
        guard case .pong = reply else { throw TitanClientError.unexpectedReply(expected: "pong", got: reply.name) }
    }

    /// Submits a job; returns its id.
    public func submit(_ spec: JobSpec) async throws -> String {
        let reply = try await request(.submit(spec, follow: false))
        guard case .submitted(let id) = reply else {
            throw TitanClientError.unexpectedReply(expected: "submitted", got: reply.name)
        }
        return id
    }

    /// Submits a job and follows it from the start: every output chunk and state change until it
    /// ends (the stream finishes after the final event).
    public func submitAndFollow(_ spec: JobSpec) async throws -> (jobId: String, updates: AsyncStream<JobUpdate>) {
        let (stream, continuation) = AsyncStream<JobUpdate>.makeStream()
        let reply = try await request(.submit(spec, follow: true), follower: continuation)
        guard case .submitted(let id) = reply else {
            continuation.finish()
            throw TitanClientError.unexpectedReply(expected: "submitted", got: reply.name)
        }
        return (id, stream)
    }

    /// Follows an existing job: replays its stored output (when `logs`), then streams what comes.
    public func follow(_ jobId: String, logs: Bool = true) async throws -> AsyncStream<JobUpdate> {
        let (stream, continuation) = AsyncStream<JobUpdate>.makeStream()
        followers[jobId, default: []].append(continuation)
        do {
            _ = try await request(.subscribe(jobId: jobId, logs: logs))
        } catch {
            followers[jobId] = nil
            continuation.finish()
            throw error
        }
        return stream
    }

    public func status(_ jobId: String) async throws -> JobInfo {
        let reply = try await request(.getStatus(jobId: jobId))
        guard case .status(let info) = reply else { throw TitanClientError.unexpectedReply(expected: "status", got: reply.name) }
        return info
    }

    public func workers() async throws -> [WorkerInfo] {
        let reply = try await request(.listWorkers)
        guard case .workers(let list) = reply else { throw TitanClientError.unexpectedReply(expected: "workers", got: reply.name) }
        return list
    }

    public func jobs(limit: UInt32 = 100) async throws -> [JobInfo] {
        let reply = try await request(.listJobs(limit: limit))
        guard case .jobs(let list) = reply else { throw TitanClientError.unexpectedReply(expected: "jobs", got: reply.name) }
        return list
    }

    public func logs(_ jobId: String) async throws -> [LogChunk] {
        let reply = try await request(.getLogs(jobId: jobId))
        guard case .logs(_, let chunks) = reply else { throw TitanClientError.unexpectedReply(expected: "logs", got: reply.name) }
        return chunks
    }

    public func cancel(_ jobId: String) async throws {
        _ = try await request(.cancel(jobId: jobId))
    }

    // MARK: DAGs

    /// Submits a DAG (validated whole: it lands whole or not at all); returns its id and its
    /// jobs' full ids.
    public func submitDag(_ dag: DagSpec) async throws -> (dagId: String, jobIds: [String]) {
        let reply = try await request(.submitDag(dag, follow: false))
        guard case .dagSubmitted(let id, let jobIds) = reply else {
            throw TitanClientError.unexpectedReply(expected: "dagSubmitted", got: reply.name)
        }
        return (id, jobIds)
    }

    /// Submits a DAG and follows it from the start: every job event and output, and DAG events;
    /// the stream ends after the DAG's final event.
    public func submitDagAndFollow(_ dag: DagSpec) async throws -> (dagId: String, jobIds: [String], updates: AsyncStream<DagUpdate>) {
        let (stream, continuation) = AsyncStream<DagUpdate>.makeStream()
        let reply = try await request(.submitDag(dag, follow: true), dagFollower: continuation)
        guard case .dagSubmitted(let id, let jobIds) = reply else {
            continuation.finish()
            throw TitanClientError.unexpectedReply(expected: "dagSubmitted", got: reply.name)
        }
        return (id, jobIds, stream)
    }

    /// Follows an existing DAG: its current state first, then what happens until it ends.
    public func followDag(_ dagId: String, logs: Bool = true) async throws -> AsyncStream<DagUpdate> {
        let (stream, continuation) = AsyncStream<DagUpdate>.makeStream()
        dagFollowers[dagId, default: []].append(continuation)
        do {
            _ = try await request(.subscribe(jobId: dagId, logs: logs))
        } catch {
            dagFollowers[dagId] = nil
            continuation.finish()
            throw error
        }
        return stream
    }

    /// A DAG with all its jobs.
    /// Adds jobs to a running DAG; returns their full ids. Jobs the DAG already has (same id)
    /// are left as they are, so a retried call is harmless.
    public func extendDag(_ dagId: String, jobs: [DagJobSpec]) async throws -> [String] {
        let reply = try await request(.extendDag(dagId: dagId, jobs: jobs))
        guard case .dagSubmitted(_, let ids) = reply else {
            throw TitanClientError.unexpectedReply(expected: "dagSubmitted", got: reply.name)
        }
        return ids
    }

    public func dag(_ dagId: String) async throws -> DagInfo {
        let reply = try await request(.getDag(dagId: dagId))
        guard case .dag(let info) = reply else { throw TitanClientError.unexpectedReply(expected: "dag", got: reply.name) }
        return info
    }

    /// Recent DAGs, newest first, without their jobs.
    public func dags(limit: UInt32 = 20) async throws -> [DagInfo] {
        let reply = try await request(.listDags(limit: limit))
        guard case .dags(let list) = reply else { throw TitanClientError.unexpectedReply(expected: "dags", got: reply.name) }
        return list
    }

    // MARK: schedules

    /// Creates or replaces a cron schedule that submits `spec.dag` each time it fires.
    public func schedule(_ spec: ScheduleSpec) async throws -> ScheduleInfo {
        let reply = try await request(.schedule(spec))
        guard case .scheduled(let info) = reply else { throw TitanClientError.unexpectedReply(expected: "scheduled", got: reply.name) }
        return info
    }

    public func schedules() async throws -> [ScheduleInfo] {
        let reply = try await request(.listSchedules)
        guard case .schedules(let list) = reply else { throw TitanClientError.unexpectedReply(expected: "schedules", got: reply.name) }
        return list
    }

    public func unschedule(_ name: String) async throws {
        _ = try await request(.unschedule(name: name))
    }

    /// Waits for a DAG to reach a final state and returns it with its jobs.
    public func waitDag(_ dagId: String) async throws -> DagInfo {
        for await _ in try await followDag(dagId, logs: false) {}
        return try await dag(dagId)
    }

    /// Waits for a job to reach a final state and returns its status.
    public func wait(_ jobId: String) async throws -> JobInfo {
        let updates = try await follow(jobId, logs: false)
        for await _ in updates {}
        return try await status(jobId)
    }

    /// Closes the connection (and the client's own loop, if it made one).
    public func close() async {
        if !closed { await connection.close() }
        while !closed {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in eventLoop.execute { c.resume() } }
        }
        if ownsLoop {
            let loop = eventLoop
            Task.detached { await loop.shutdown() }
        }
    }
}
