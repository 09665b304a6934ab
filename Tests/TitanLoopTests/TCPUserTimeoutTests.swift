import Glibc
import Testing
import TitanLoop

@Suite("TCP user timeout")
struct TCPUserTimeoutTests {
    /// A connection made with a user timeout carries bytes as usual; once the peer takes nothing
    /// more (it stops reading, so its window closes and what was sent stays unacknowledged), the
    /// connection fails with ETIMEDOUT instead of waiting for the peer indefinitely.
    @Test func aPeerThatTakesNothingMoreTimesTheConnectionOut() async throws {
        let loop = EventLoop()
        let accepted = Inbox<TCPConnection>()
        let listener = try await onLoop(loop, "listen") {
            try TCPListener(loop: loop, host: "127.0.0.1", port: 0) { accepted.send($0) }
        }
        let connected = Inbox<Result<TCPConnection, LoopError>>()
        loop.execute {
            TCPConnection.connect(loop: loop, host: "127.0.0.1", port: listener.port, userTimeoutMs: 300) { connected.send($0) }
        }
        let client = try await connected.next("connect").get()
        let closed = Inbox<ConnectionError?>()
        await client.start(onRead: { _ in }, onClose: { closed.send($0) })
        let server = try await accepted.next("accept")
        let received = Inbox<[UInt8]>()
        await server.start(onRead: { received.send($0) }, onClose: { _ in })

        await client.send(Array("hello".utf8))
        #expect(try await received.next("the first bytes") == Array("hello".utf8))
        await server.pauseReading()
        // More than the kernel's buffers on both sides hold: the rest waits on a closed window.
        await client.setMaxPendingBytes(1 << 30)
        await client.send([UInt8](repeating: 7, count: 64 << 20))
        let error = try await closed.next("the connection timing out", within: 30)
        #expect(error == .io(UVError(-ETIMEDOUT)), "\(String(describing: error))")

        await server.close()
        await listener.close()
        try await expectCleanShutdown(loop)
    }
}
