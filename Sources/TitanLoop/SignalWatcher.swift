import CLibUV

/// Watches one signal on the loop (SIGINT, SIGTERM, ...) and calls `body` on the loop thread.
public actor SignalWatcher: LoopBound {
    public nonisolated let eventLoop: EventLoop
    private let handle: UnsafeMutablePointer<uv_signal_t>
    private let body: @Sendable (Int32) -> Void
    private var closed = false

    /// Starts watching `signal`. Loop thread only.
    public init(loop: EventLoop, signal: Int32, _ body: @escaping @Sendable (Int32) -> Void) {
        precondition(loop.inLoopThread)
        eventLoop = loop
        self.body = body
        let handle = UnsafeMutablePointer<uv_signal_t>.allocate(capacity: 1)
        self.handle = handle
        uv_signal_init(loop.uv, handle)
        uv_handle_set_data(titan_signal_handle(handle), Unmanaged.passRetained(self).toOpaque())
        uv_signal_start(handle, { handle, signum in
            guard let handle, let data = uv_handle_get_data(titan_signal_handle(handle)) else { return }
            Unmanaged<SignalWatcher>.fromOpaque(data).takeUnretainedValue().assumeIsolated { $0.body(signum) }
        }, signal)
    }

    public func close() {
        guard !closed else { return }
        closed = true
        uv_close(titan_signal_handle(handle)) { handle in
            guard let handle, let data = uv_handle_get_data(handle) else { return }
            Unmanaged<SignalWatcher>.fromOpaque(data).release()
            handle.deallocate()
        }
    }
}
