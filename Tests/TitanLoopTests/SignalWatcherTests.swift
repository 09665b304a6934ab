import Foundation
import Testing
import TitanLoop

@Suite("SignalWatcher")
struct SignalWatcherTests {
    @Test("a watched signal sent to this process runs the body on the loop thread")
    func deliversSignal() async throws {
        let loop = EventLoop()
        let received = Inbox<(Int32, Bool)>()
        let watcher = try await onLoop(loop) {
            SignalWatcher(loop: loop, signal: SIGUSR2) { received.send(($0, loop.inLoopThread)) }
        }
        #expect(kill(getpid(), SIGUSR2) == 0)
        let (signal, onLoopThread) = try await received.next("SIGUSR2")
        #expect(signal == SIGUSR2)
        #expect(onLoopThread)
        await watcher.close()
        await watcher.close()
        try await expectCleanShutdown(loop)
    }
}
