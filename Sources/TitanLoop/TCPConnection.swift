import CLibUV
import Synchronization
import TitanTLS

/// A TCP stream on the loop. Owns its `uv_tcp_t`: the handle holds a strong reference to this
/// actor from `init` until libuv's close callback, where the handle's memory is freed.
///
/// Writes go out at once (`uv_try_write`) when nothing is queued; only bytes that queue up behind
/// a pending write are coalesced into the next single `uv_write`. No timers on this path.
public actor TCPConnection: LoopBound {
    /// Called on the loop thread with the bytes of one read. (A copy of libuv's buffer: a pointer
    /// into it cannot cross from this actor to the reader's under strict concurrency, and one
    /// copy per read callback — not per frame — is cheap next to the syscall.)
    public typealias ReadHandler = @Sendable ([UInt8]) -> Void
    /// Called once, on the loop thread, when the connection is closed; nil for a clean EOF or a
    /// local close.
    public typealias CloseHandler = @Sendable (ConnectionError?) -> Void
    /// Called once, on the loop thread, when a TLS handshake ends: the peer's identity, or why
    /// it failed (the connection then closes with the same error).
    public typealias HandshakeHandler = @Sendable (Result<TLSPeer, TLSError>) -> Void

    private enum State { case open, draining, closing, closed }

    public nonisolated let eventLoop: EventLoop
    /// Immutable; dereferenced only on the loop thread (also by the listener's accept and by
    /// connect, outside this actor's isolation).
    private nonisolated(unsafe) let tcp: UnsafeMutablePointer<uv_tcp_t>
    private let writeReq: UnsafeMutablePointer<uv_write_t>
    /// Immutable and touched only on the loop thread (from libuv's allocation callback, outside
    /// isolation); freed in the close callback.
    private nonisolated(unsafe) let readBuffer: UnsafeMutableRawBufferPointer
    private var state = State.open
    private var onRead: ReadHandler?
    private var onClose: CloseHandler?
    private var closeError: ConnectionError?
    /// TLS over this stream, once started: reads are decrypted before the read handler sees them
    /// and sends encrypted after the cork. Nil: plaintext (nothing on the fast path changes).
    private var tls: TLSSession?
    private var onHandshake: HandshakeHandler?
    /// TLS failed: nothing more is encrypted; the connection is closing.
    private var tlsBroken = false
    private var tlsPlaintext: [UInt8] = []
    private var tlsSendBuffer: [UInt8] = []
    private var tlsOutput: [UInt8] = []
    /// The peer's identity after a TLS handshake.
    public private(set) var tlsPeer: TLSPeer?
    /// Bytes handed to the in-flight `uv_write`; must stay valid until its callback.
    private var inFlight: UnsafeMutableRawBufferPointer?
    /// Bytes queued behind the in-flight write.
    private var pending: [UInt8] = []
    /// Reused encode buffer for the idle fast path.
    private var scratch: [UInt8] = []
    private var corked = false
    private var corkBuffer: [UInt8] = []
    private var reading = false
    private var writtenHandler: (@Sendable () -> Void)?
    /// Bytes allowed to queue behind a pending write before the connection is dropped (a peer
    /// that does not read).
    public private(set) var maxPendingBytes = 64 << 20

    /// Holds sends until ``uncork()``: a reader that answers several messages from one read
    /// callback sends the answers as one write (one wake-up for the peer), and nothing waits
    /// longer than that callback.
    public func cork() {
        corked = true
    }

    /// Sends what was held since ``cork()``.
    public func uncork() {
        guard corked else { return }
        corked = false
        guard !corkBuffer.isEmpty else { return }
        send { $0.append(contentsOf: corkBuffer) }
        corkBuffer.removeAll(keepingCapacity: corkBuffer.capacity <= 1 << 20)
    }

    /// Sets the cap on bytes queued behind a pending write.
    public func setMaxPendingBytes(_ bytes: Int) {
        maxPendingBytes = bytes
    }

    /// Bytes accepted by ``send(_:)`` and not yet handed to the kernel: held by a cork, queued
    /// behind the pending write, or in it. What a peer's output budget and a producer that can
    /// wait (a log replay) go by.
    public var queuedBytes: Int { corkBuffer.count + pending.count + (inFlight?.count ?? 0) }

    /// Called (on the loop, after the write callback returns) each time a write completes, so an
    /// owner that paused reading because its output was over budget can resume.
    public func onWritten(_ handler: @escaping @Sendable () -> Void) {
        writtenHandler = handler
    }

    /// Stops reading from the peer (back-pressure): the kernel's buffers fill and TCP flow
    /// control slows the sender. ``resumeReading()`` starts again.
    public func pauseReading() {
        guard state == .open, reading else { return }
        reading = false
        uv_read_stop(stream)
    }

    /// Starts reading again after ``pauseReading()``.
    public func resumeReading() {
        guard state == .open, !reading, onRead != nil else { return }
        startReading()
    }
    private static let readBufferSize = 64 * 1024

    /// A new, unconnected TCP handle. Loop thread only.
    init(loop: EventLoop) {
        eventLoop = loop
        let tcp = UnsafeMutablePointer<uv_tcp_t>.allocate(capacity: 1)
        self.tcp = tcp
        writeReq = .allocate(capacity: 1)
        readBuffer = .allocate(byteCount: Self.readBufferSize, alignment: 16)
        uv_tcp_init(loop.uv, tcp)
        uv_handle_set_data(titan_tcp_handle(tcp), Unmanaged.passRetained(self).toOpaque())
    }

    nonisolated var stream: UnsafeMutablePointer<uv_stream_t> { titan_tcp_stream(tcp) }

    /// Opens a connection to `host:port` (an IP literal). Must run on the loop thread; the
    /// result is delivered there. With `userTimeoutMs`, the connect, and later the connection,
    /// fails (ETIMEDOUT) once what was sent stays unacknowledged that long: a peer gone silent
    /// is noticed instead of waited for through TCP's ever longer retransmission delays.
    ///
    /// With `timeoutMs`, a connect still in progress after that long is abandoned and fails with
    /// ETIMEDOUT (a host that drops the SYN, a listener whose backlog is full): a deadline of our
    /// own, whatever TCP's retransmission schedule.
    public static func connect(loop: EventLoop, host: String, port: Int, userTimeoutMs: UInt32 = 0,
                               timeoutMs: UInt64 = 0,
                               _ completion: @escaping @Sendable (Result<TCPConnection, LoopError>) -> Void) {
        precondition(loop.inLoopThread)
        let conn = TCPConnection(loop: loop)
        let req = UnsafeMutablePointer<uv_connect_t>.allocate(capacity: 1)
        let timer = timeoutMs > 0 ? LoopTimer(loop: loop) : nil
        let connectBox = ConnectBox(conn: conn, timer: timer, completion: completion)
        let box = Unmanaged.passRetained(connectBox)
        uv_req_set_data(titan_connect_req(req), box.toOpaque())
        let rc = titan_tcp_connect(req, conn.tcp, host, Int32(port), userTimeoutMs) { req, status in
            guard let req else { return }
            let data = uv_req_get_data(titan_connect_req(req))!
            let box = Unmanaged<ConnectBox>.fromOpaque(data).takeRetainedValue()
            req.deallocate()
            box.timer?.assumeIsolated { $0.close() }
            box.conn.assumeIsolated { conn in
                if status == 0 {
                    conn.configureSocket()
                    box.completion(.success(conn))
                } else {
                    conn.close()
                    // Closing the handle cancels the connect: report why it was closed.
                    let code = box.timedOut.load(ordering: .relaxed) ? Int32(UV_ETIMEDOUT.rawValue) : status
                    box.completion(.failure(LoopError("connect", code)))
                }
            }
        }
        if rc != 0 {
            box.release()
            req.deallocate()
            timer?.assumeIsolated { $0.close() }
            conn.assumeIsolated { $0.close() }
            completion(.failure(LoopError("connect", rc)))
            return
        }
        timer?.assumeIsolated { timer in
            timer.start(afterMs: timeoutMs) {
                connectBox.timedOut.store(true, ordering: .relaxed)
                conn.assumeIsolated { $0.close() }
            }
        }
    }

    /// Async form of ``connect(loop:host:port:userTimeoutMs:timeoutMs:_:)``, callable from anywhere.
    public static func connect(loop: EventLoop, host: String, port: Int,
                               timeoutMs: UInt64 = 0) async throws(LoopError) -> TCPConnection {
        let result = await withCheckedContinuation { (c: CheckedContinuation<Result<TCPConnection, LoopError>, Never>) in
            let queued = loop.execute {
                connect(loop: loop, host: host, port: port, timeoutMs: timeoutMs) { c.resume(returning: $0) }
            }
            if !queued { c.resume(returning: .failure(LoopError("connect", Int32(UV_ECANCELED.rawValue)))) }
        }
        return try result.get()
    }

    private final class ConnectBox: Sendable {
        let conn: TCPConnection
        let timer: LoopTimer?
        /// Set by the deadline before it closes the handle (loop thread only; atomic to be Sendable).
        let timedOut = Atomic<Bool>(false)
        let completion: @Sendable (Result<TCPConnection, LoopError>) -> Void
        init(conn: TCPConnection, timer: LoopTimer?, completion: @escaping @Sendable (Result<TCPConnection, LoopError>) -> Void) {
            self.conn = conn
            self.timer = timer
            self.completion = completion
        }
    }

    func configureSocket() {
        uv_tcp_nodelay(tcp, 1)
    }

    /// Starts delivering reads. Call once.
    public func start(onRead: @escaping ReadHandler, onClose: @escaping CloseHandler) {
        self.onRead = onRead
        self.onClose = onClose
        guard state == .open else { return }
        startReading()
    }

    private func startReading() {
        reading = true
        let rc = uv_read_start(stream, { handle, _, buf in
            guard let handle, let buf, let data = uv_handle_get_data(handle) else { return }
            let conn = Unmanaged<TCPConnection>.fromOpaque(data).takeUnretainedValue()
            titan_buf_set(buf, conn.readBuffer.baseAddress, conn.readBuffer.count)
        }, { stream, nread, _ in
            guard let stream, let data = uv_handle_get_data(titan_stream_handle(stream)) else { return }
            let conn = Unmanaged<TCPConnection>.fromOpaque(data).takeUnretainedValue()
            conn.assumeIsolated { $0.didRead(nread) }
        })
        if rc != 0 { fail(.io(UVError(rc))) }
    }

    private func didRead(_ nread: Int) {
        if nread > 0 {
            if tls != nil { return tlsRead(UnsafeRawBufferPointer(rebasing: readBuffer[0..<nread])) }
            onRead?(Array(UnsafeRawBufferPointer(rebasing: readBuffer[0..<nread])))
        } else if nread < 0 {
            if nread == Int(UV_EOF.rawValue) {
                if let tls, !tls.handshakeComplete { return tlsFailed(.closedDuringHandshake) }
                fail(nil)
            } else {
                fail(.io(UVError(Int32(nread))))
            }
        }
    }

    /// Starts TLS on this connection (before anything else was sent on it). A client sends its
    /// hello at once; a server passes the bytes it already read (the client's hello, read while
    /// telling TLS from plaintext). Sends made before the handshake completes wait for it.
    public func startTLS(context: TLSContext, role: TLSSession.Role, received: [UInt8] = [],
                         onHandshake: @escaping HandshakeHandler) {
        guard tls == nil else { return }
        // Closed already (the peer hung up at once): the handshake cannot happen.
        guard state == .open else {
            if case .tls(let error) = closeError { return onHandshake(.failure(error)) }
            return onHandshake(.failure(.closedDuringHandshake))
        }
        let session: TLSSession
        do {
            session = try TLSSession(context: context, role: role)
        } catch {
            onHandshake(.failure(error))
            return fail(.tls(error))
        }
        tls = session
        self.onHandshake = onHandshake
        tlsOutput.removeAll(keepingCapacity: true)
        do {
            try session.start(into: &tlsOutput)
        } catch {
            return tlsFailed(error)
        }
        flushTLSOutput()
        if !received.isEmpty { received.withUnsafeBytes { tlsRead($0) } }
    }

    private func tlsRead(_ bytes: UnsafeRawBufferPointer) {
        guard let tls, !tlsBroken, state == .open || state == .draining else { return }
        tlsPlaintext.removeAll(keepingCapacity: true)
        tlsOutput.removeAll(keepingCapacity: true)
        let completed: Bool
        do {
            completed = try tls.receive(bytes, plaintext: &tlsPlaintext, out: &tlsOutput)
        } catch {
            return tlsFailed(error)
        }
        flushTLSOutput()
        if completed, let peer = tls.peer {
            tlsPeer = peer
            let handler = onHandshake
            onHandshake = nil
            handler?(.success(peer))
        }
        if !tlsPlaintext.isEmpty { onRead?(tlsPlaintext) }
        if tls.peerClosed { fail(nil) }
    }

    private func flushTLSOutput() {
        guard !tlsOutput.isEmpty else { return }
        sendRaw { $0.append(contentsOf: tlsOutput) }
        tlsOutput.removeAll(keepingCapacity: tlsOutput.capacity <= 1 << 20)
    }

    /// Sends what TLS has for the peer (an alert saying why), then closes with `error`.
    private func tlsFailed(_ error: TLSError) {
        flushTLSOutput()
        tlsBroken = true
        corked = false
        corkBuffer.removeAll()
        let handler = onHandshake
        onHandshake = nil
        handler?(.failure(error))
        guard state == .open else { return fail(.tls(error)) }
        closeError = .tls(error)
        closeAfterFlush()
    }

    /// True until the connection starts closing.
    public var isOpen: Bool { state == .open }

    /// This end's IP address (e.g. `10.0.0.7`), nil once closed or if the system cannot say.
    public var localAddress: String? { address(titan_tcp_local_ip) }

    /// The peer's IP address (e.g. `10.0.0.7`), nil once closed or if the system cannot say.
    public var remoteAddress: String? { address(titan_tcp_peer_ip) }

    /// One end's IP address as text, read with `lookUp` (the shim's local or peer lookup).
    private func address(_ lookUp: (UnsafeMutablePointer<uv_tcp_t>?, UnsafeMutablePointer<CChar>?, Int) -> Int32) -> String? {
        guard state == .open else { return nil }
        var text = [CChar](repeating: 0, count: 64)
        guard lookUp(tcp, &text, text.count) == 0 else { return nil }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// True when the peer connects from this host's loopback (127.0.0.0/8 or ::1).
    public var isLoopbackPeer: Bool {
        remoteAddress.map(Self.isLoopback) ?? false
    }

    /// True when the peer is on this host: loopback, or one of this host's own addresses (the
    /// kernel delivers such a connection locally; its traffic never crosses a network).
    public var isSameHostPeer: Bool {
        guard let remote = remoteAddress else { return false }
        return Self.isLoopback(remote) || remote == localAddress
    }

    private static func isLoopback(_ address: String) -> Bool {
        address.hasPrefix("127.") || address == "::1" || address.hasPrefix("::ffff:127.")
    }

    /// Sends bytes: now if the socket is idle, else appended to what goes out after the pending
    /// write.
    public func send(_ bytes: [UInt8]) {
        send { $0.append(contentsOf: bytes) }
    }

    /// Sends what `build` appends to the buffer it is given, without an intermediate copy when
    /// the socket is idle.
    public func send(_ build: (inout [UInt8]) -> Void) {
        guard state == .open || state == .draining else { return }
        if corked {
            build(&corkBuffer)
            // Held replies count against the same cap as queued ones.
            if corkBuffer.count + pending.count > maxPendingBytes { fail(.io(UVError(Int32(UV_ENOBUFS.rawValue)))) }
            return
        }
        if let tls {
            guard !tlsBroken else { return }
            tlsSendBuffer.removeAll(keepingCapacity: true)
            build(&tlsSendBuffer)
            tlsOutput.removeAll(keepingCapacity: true)
            do {
                try tls.send(tlsSendBuffer, into: &tlsOutput)
            } catch {
                return tlsFailed(error)
            }
            if tlsSendBuffer.capacity > 1 << 20 { tlsSendBuffer = [] }
            return flushTLSOutput()
        }
        sendRaw(build)
    }

    /// Hands bytes (ciphertext, with TLS) to the socket: at once when idle, else queued behind
    /// the pending write.
    private func sendRaw(_ build: (inout [UInt8]) -> Void) {
        guard state == .open || state == .draining else { return }
        if inFlight != nil {
            build(&pending)
            // A peer that stops reading must not grow our memory without bound: drop it.
            if pending.count > maxPendingBytes { fail(.io(UVError(Int32(UV_ENOBUFS.rawValue)))) }
            return
        }
        scratch.removeAll(keepingCapacity: true)
        build(&scratch)
        if scratch.isEmpty { return }
        let written = scratch.withUnsafeBytes { titan_try_write(stream, $0.baseAddress, $0.count) }
        if written == scratch.count { return }
        if written < 0 && written != Int32(UV_EAGAIN.rawValue) {
            fail(.io(UVError(written)))
            return
        }
        let done = max(0, Int(written))
        scratch.withUnsafeBytes { startWrite(UnsafeRawBufferPointer(rebasing: $0[done...])) }
        if scratch.capacity > 1 << 20 { scratch = [] }
    }

    private func startWrite(_ bytes: UnsafeRawBufferPointer) {
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 1)
        copy.copyMemory(from: bytes)
        inFlight = copy
        uv_req_set_data(titan_write_req(writeReq),
                        Unmanaged.passUnretained(self).toOpaque())
        let rc = titan_write(writeReq, stream, copy.baseAddress, copy.count) { req, status in
            guard let req,
                  let data = uv_req_get_data(titan_write_req(req))
            else { return }
            Unmanaged<TCPConnection>.fromOpaque(data).takeUnretainedValue().assumeIsolated { $0.didWrite(status) }
        }
        if rc != 0 {
            inFlight = nil
            copy.deallocate()
            fail(.io(UVError(rc)))
        }
    }

    private func didWrite(_ status: Int32) {
        inFlight?.deallocate()
        inFlight = nil
        if status != 0 {
            fail(status == Int32(UV_ECANCELED.rawValue) ? nil : .io(UVError(status)))
            return
        }
        if !pending.isEmpty {
            pending.withUnsafeBytes { startWrite($0) }
            pending.removeAll(keepingCapacity: pending.capacity <= 1 << 20)
        } else if state == .draining {
            beginClose()
        }
        if let writtenHandler, state == .open { writtenHandler() }
    }

    /// Closes after what was already sent has been handed to the kernel (used to deliver an
    /// error reply before dropping a connection whose framing is lost).
    public func closeAfterFlush() {
        guard state == .open else { return }
        uncork()
        if let tls, !tlsBroken, state == .open {
            tlsOutput.removeAll(keepingCapacity: true)
            tls.shutdown(into: &tlsOutput)
            flushTLSOutput()
        }
        // Sending what was corked can fail (the peer reset): then it is closing already.
        guard state == .open else { return }
        reading = false
        uv_read_stop(stream)
        if inFlight == nil {
            beginClose()
        } else {
            state = .draining
        }
    }

    /// Closes now; queued writes are dropped.
    public func close() {
        guard state == .open || state == .draining else { return }
        beginClose()
    }

    private func fail(_ error: ConnectionError?) {
        guard state == .open || state == .draining else { return }
        closeError = error
        beginClose()
    }

    private func beginClose() {
        state = .closing
        uv_close(titan_tcp_handle(tcp)) { handle in
            guard let handle, let data = uv_handle_get_data(handle) else { return }
            let conn = Unmanaged<TCPConnection>.fromOpaque(data).takeRetainedValue()
            conn.assumeIsolated { $0.didClose() }
        }
    }

    private func didClose() {
        state = .closed
        inFlight?.deallocate()
        inFlight = nil
        readBuffer.deallocate()
        tcp.deallocate()
        writeReq.deallocate()
        let handler = onClose
        onClose = nil
        onRead = nil
        if let pendingHandshake = onHandshake {
            onHandshake = nil
            pendingHandshake(.failure(.closedDuringHandshake))
        }
        tls = nil
        writtenHandler = nil
        handler?(closeError)
    }
}
