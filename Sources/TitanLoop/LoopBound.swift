/// An actor that lives on an ``EventLoop``: its executor is the loop, so libuv callbacks enter it
/// synchronously with `assumeIsolated` and other loop-bound actors reach it the same way.
public protocol LoopBound: Actor {
    /// The loop this actor runs on.
    nonisolated var eventLoop: EventLoop { get }
}

extension LoopBound {
    public nonisolated var unownedExecutor: UnownedSerialExecutor {
        eventLoop.asUnownedSerialExecutor()
    }
}
