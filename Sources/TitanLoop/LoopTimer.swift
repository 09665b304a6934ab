import CLibUV

/// A libuv timer owned by this actor. Fires `body` on the loop thread.
public actor LoopTimer: LoopBound {
    public nonisolated let eventLoop: EventLoop
    private let timer: UnsafeMutablePointer<uv_timer_t>
    private var body: (@Sendable () -> Void)?
    private var closed = false

    /// Creates a stopped timer. Loop thread only.
    public init(loop: EventLoop) {
        precondition(loop.inLoopThread)
        eventLoop = loop
        let timer = UnsafeMutablePointer<uv_timer_t>.allocate(capacity: 1)
        self.timer = timer
        uv_timer_init(loop.uv, timer)
        uv_handle_set_data(titan_timer_handle(timer), Unmanaged.passRetained(self).toOpaque())
    }

    /// Fires `body` after `timeoutMs`, then every `repeatMs` if non-zero. Replaces any earlier
    /// schedule.
    public func start(afterMs timeoutMs: UInt64, repeatMs: UInt64 = 0, _ body: @escaping @Sendable () -> Void) {
        guard !closed else { return }
        self.body = body
        uv_timer_start(timer, { timer in
            guard let timer, let data = uv_handle_get_data(titan_timer_handle(timer)) else { return }
            Unmanaged<LoopTimer>.fromOpaque(data).takeUnretainedValue().assumeIsolated { $0.fire() }
        }, timeoutMs, repeatMs)
    }

    private func fire() {
        body?()
    }

    public func stop() {
        guard !closed else { return }
        uv_timer_stop(timer)
    }

    /// Stops and closes the timer; it cannot be started again.
    public func close() {
        guard !closed else { return }
        closed = true
        body = nil
        uv_close(titan_timer_handle(timer)) { handle in
            guard let handle, let data = uv_handle_get_data(handle) else { return }
            Unmanaged<LoopTimer>.fromOpaque(data).release()
            handle.deallocate()
        }
    }
}
