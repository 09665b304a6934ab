import CLibUV

/// A listening TCP socket on the loop. Accepted connections are handed to `onAccept` already
/// configured (TCP_NODELAY); the callee calls ``TCPConnection/start(onRead:onClose:)``.
public actor TCPListener: LoopBound {
    public typealias AcceptHandler = @Sendable (TCPConnection) -> Void

    public nonisolated let eventLoop: EventLoop
    private let tcp: UnsafeMutablePointer<uv_tcp_t>
    private let onAccept: AcceptHandler
    private var closed = false
    private var closeWaiters: [@Sendable () -> Void] = []
    /// The bound port (useful with port 0).
    public nonisolated let port: Int

    /// Binds and listens. Must be created on the loop thread.
    public init(loop: EventLoop, host: String, port: Int, backlog: Int32 = 1024,
                onAccept: @escaping AcceptHandler) throws(LoopError) {
        precondition(loop.inLoopThread)
        eventLoop = loop
        self.onAccept = onAccept
        let tcp = UnsafeMutablePointer<uv_tcp_t>.allocate(capacity: 1)
        uv_tcp_init(loop.uv, tcp)
        self.tcp = tcp
        var rc = titan_tcp_bind(tcp, host, Int32(port))
        if rc == 0 {
            rc = uv_listen(titan_tcp_stream(tcp), backlog) { server, status in
                guard let server, let data = uv_handle_get_data(titan_stream_handle(server)) else { return }
                Unmanaged<TCPListener>.fromOpaque(data).takeUnretainedValue().assumeIsolated { $0.accept(status) }
            }
        }
        let bound = rc == 0 ? titan_tcp_local_port(tcp) : rc
        if rc != 0 || bound < 0 {
            // Not yet owned by an actor: close the bare handle and free it in its callback.
            uv_close(titan_tcp_handle(tcp)) { handle in handle?.deallocate() }
            self.port = 0
            throw LoopError("listen on \(host):\(port)", rc != 0 ? rc : bound)
        }
        self.port = Int(bound)
        uv_handle_set_data(titan_tcp_handle(tcp), Unmanaged.passRetained(self).toOpaque())
    }

    private func accept(_ status: Int32) {
        guard status == 0, !closed else { return }
        let conn = TCPConnection(loop: eventLoop)
        let rc = uv_accept(titan_tcp_stream(tcp), conn.stream)
        conn.assumeIsolated { conn in
            if rc == 0 {
                conn.configureSocket()
            } else {
                conn.close()
            }
        }
        if rc == 0 { onAccept(conn) }
    }

    /// Stops listening and closes the handle; `done` runs once the handle is freed.
    public func close(_ done: (@Sendable () -> Void)? = nil) {
        if let done { closeWaiters.append(done) }
        guard !closed else { return }
        closed = true
        uv_close(titan_tcp_handle(tcp)) { handle in
            guard let handle, let data = uv_handle_get_data(handle) else { return }
            let listener = Unmanaged<TCPListener>.fromOpaque(data).takeRetainedValue()
            listener.assumeIsolated { $0.didClose() }
            handle.deallocate()
        }
    }

    private func didClose() {
        let waiters = closeWaiters
        closeWaiters = []
        for waiter in waiters { waiter() }
    }
}
