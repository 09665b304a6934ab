import TitanTestSupport
import Testing
import TitanLoop

/// What a connection reports: bytes, or its close (nil error for EOF / local close).
enum ConnEvent: Sendable {
    case data([UInt8])
    case closed(ConnectionError?)
}

/// A listener on 127.0.0.1, port 0, whose accepted connections report to `accepted` and then
/// behave as `serve` says (called on the loop thread inside the connection's isolation).
private func listen(
    _ loop: EventLoop,
    serve: @escaping @Sendable (isolated TCPConnection, Inbox<ConnEvent>) -> Void
) async throws -> (TCPListener, Inbox<Inbox<ConnEvent>>) {
    let accepted = Inbox<Inbox<ConnEvent>>()
    let listener = try await onLoop(loop, "listen") {
        try TCPListener(loop: loop, host: "127.0.0.1", port: 0) { conn in
            let events = Inbox<ConnEvent>()
            accepted.send(events)
            conn.assumeIsolated { conn in serve(conn, events) }
        }
    }
    #expect(listener.port > 0)
    return (listener, accepted)
}

/// An echo server: every read is written back.
private func echo(_ conn: isolated TCPConnection, _ events: Inbox<ConnEvent>) {
    conn.start(onRead: { bytes in
        events.send(.data(bytes))
        conn.assumeIsolated { $0.send(bytes) }
    }, onClose: { events.send(.closed($0)) })
}

/// A connected client whose events go to the returned inbox.
private func connect(_ loop: EventLoop, port: Int) async throws -> (TCPConnection, Inbox<ConnEvent>) {
    let conn = try await withDeadline("connect") {
        try await TCPConnection.connect(loop: loop, host: "127.0.0.1", port: port)
    }
    let events = Inbox<ConnEvent>()
    await conn.start(onRead: { events.send(.data($0)) }, onClose: { events.send(.closed($0)) })
    return (conn, events)
}

/// Reads `count` bytes from `events`; fails if the connection closes first.
private func read(_ count: Int, from events: Inbox<ConnEvent>, _ what: String,
                  sourceLocation: SourceLocation = #_sourceLocation) async throws -> [UInt8] {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(count)
    while bytes.count < count {
        switch try await events.next(what, sourceLocation: sourceLocation) {
        case .data(let chunk): bytes += chunk
        case .closed(let error):
            Issue.record("closed (\(String(describing: error))) after \(bytes.count) of \(count) bytes",
                         sourceLocation: sourceLocation)
            return bytes
        }
    }
    return bytes
}

/// Reads until the close event; returns the bytes that came first and the close error.
private func readToClose(_ events: Inbox<ConnEvent>, _ what: String) async throws -> ([UInt8], ConnectionError?) {
    var bytes: [UInt8] = []
    while true {
        switch try await events.next(what) {
        case .data(let chunk): bytes += chunk
        case .closed(let error): return (bytes, error)
        }
    }
}

@Suite("TCP")
struct TCPTests {
    @Test("echo round trips of many messages of varied sizes")
    func echoRoundTrips() async throws {
        let loop = EventLoop()
        let (listener, accepted) = try await listen(loop) { echo($0, $1) }
        let (client, events) = try await connect(loop, port: listener.port)
        let server = try await accepted.next("accept")
        #expect(await client.isOpen)

        var rng = SplitMix64(seed: 11)
        for i in 0..<300 {
            let size = Int.random(in: 1...4_000, using: &rng)
            let message = randomBytes(size, seed: UInt64(i))
            await client.send(message)
            let back = try await read(size, from: events, "echo \(i)")
            #expect(back == message, "message \(i) of \(size) bytes")
        }

        await client.close()
        #expect(await !client.isOpen)
        if case .closed(let error) = try await events.next("client close") { #expect(error == nil) }
        let (_, serverError) = try await readToClose(server, "server sees EOF")
        #expect(serverError == nil)
        await listener.close()
        try await expectCleanShutdown(loop)
    }

    @Test("pipelined messages arrive complete and in order")
    func pipelined() async throws {
        let loop = EventLoop()
        let (listener, accepted) = try await listen(loop) { echo($0, $1) }
        let (client, events) = try await connect(loop, port: listener.port)
        let server = try await accepted.next("accept")
        // Many sends in one turn of the loop: the later ones queue behind a pending write.
        var expected: [UInt8] = []
        var messages: [[UInt8]] = []
        for i in 0..<2_000 {
            let m = Array("message \(i);".utf8)
            messages.append(m)
            expected += m
        }
        let batch = messages
        await client.send { buffer in for m in batch.prefix(1_000) { buffer += m } }
        for m in batch.dropFirst(1_000) { await client.send(m) }
        let back = try await read(expected.count, from: events, "pipelined echoes")
        #expect(back == expected)
        await client.close()
        _ = try await readToClose(server, "server EOF")
        await listener.close()
        try await expectCleanShutdown(loop)
    }

    @Test("an 8 MiB payload is echoed intact and in order (queued-write path on both sides)")
    func largePayload() async throws {
        let loop = EventLoop()
        let (listener, accepted) = try await listen(loop) { echo($0, $1) }
        let (client, events) = try await connect(loop, port: listener.port)
        let server = try await accepted.next("accept")
        let payload = randomBytes(8 << 20, seed: 8)
        // One big send (partly written at once, the rest through uv_write) followed, in the same
        // turn, by smaller sends that must queue up behind it.
        try await onLoop(loop) {
            client.assumeIsolated { c in
                c.send(Array(payload[0..<(5 << 20)]))
                var offset = 5 << 20
                while offset < payload.count {
                    let end = min(payload.count, offset + 300_001)
                    c.send(Array(payload[offset..<end]))
                    offset = end
                }
            }
        }
        let back = try await read(payload.count, from: events, "8 MiB echo")
        #expect(back.count == payload.count)
        #expect(back == payload)
        // The server saw exactly the payload too.
        var atServer = 0
        while atServer < payload.count, case .data(let chunk) = try await server.next("server reads") {
            atServer += chunk.count
        }
        #expect(atServer == payload.count)
        await client.close()
        _ = try await readToClose(server, "server EOF")
        await listener.close()
        try await expectCleanShutdown(loop)
    }

    @Test("closeAfterFlush delivers what was sent before the peer sees EOF", arguments: [3, 4 << 20])
    func closeAfterFlush(size: Int) async throws {
        let loop = EventLoop()
        let payload = randomBytes(size, seed: UInt64(size))
        let serverClosed = Inbox<ConnectionError?>()
        let (listener, _) = try await listen(loop) { conn, _ in
            conn.start(onRead: { _ in }, onClose: { serverClosed.send($0) })
            conn.send(payload)
            conn.closeAfterFlush()
        }
        let (client, events) = try await connect(loop, port: listener.port)
        let (received, error) = try await readToClose(events, "data then EOF")
        #expect(error == nil)
        #expect(received.count == payload.count)
        #expect(received == payload)
        #expect(try await serverClosed.next("server close callback") == nil)
        #expect(await !client.isOpen)
        await listener.close()
        try await expectCleanShutdown(loop)
    }

    @Test("connecting to a closed port fails with ECONNREFUSED, naming connect")
    func connectRefused() async throws {
        let loop = EventLoop()
        let reserved = try ReservedPort()
        let port = reserved.port
        let result = try await withDeadline("connect to a closed port") { () -> Result<TCPConnection, LoopError> in
            do {
                return .success(try await TCPConnection.connect(loop: loop, host: "127.0.0.1", port: port))
            } catch let error as LoopError {
                return .failure(error)
            }
        }
        switch result {
        case .success(let conn):
            Issue.record("connected to a closed port \(port)")
            await conn.close()
        case .failure(let error):
            #expect(error.operation == "connect")
            #expect(error.cause.name == "ECONNREFUSED")
            #expect(error.description.hasPrefix("connect: ECONNREFUSED"))
        }
        withExtendedLifetime(reserved) {}
        try await expectCleanShutdown(loop)
    }

    @Test("connecting to something that is not an IP literal fails at once")
    func connectBadAddress() async throws {
        let loop = EventLoop()
        do {
            let conn = try await withDeadline("connect") {
                try await TCPConnection.connect(loop: loop, host: "not-an-ip", port: 1)
            }
            Issue.record("connected to 'not-an-ip'")
            await conn.close()
        } catch let error as LoopError {
            #expect(error.operation == "connect")
            #expect(error.cause.name == "EINVAL")
        }
        try await expectCleanShutdown(loop)
    }

    @Test("listening twice on the same port fails with EADDRINUSE")
    func addressInUse() async throws {
        let loop = EventLoop()
        let (first, _) = try await listen(loop) { _, _ in }
        let port = first.port
        let outcome = try await onLoop(loop) { () -> Result<Int, LoopError> in
            do {
                let second = try TCPListener(loop: loop, host: "127.0.0.1", port: port) { $0.assumeIsolated { $0.close() } }
                second.assumeIsolated { $0.close() }
                return .success(second.port)
            } catch let error as LoopError {
                return .failure(error)
            }
        }
        switch outcome {
        case .success(let p): Issue.record("second listener on \(port) succeeded (port \(p))")
        case .failure(let error):
            #expect(error.cause.name == "EADDRINUSE")
            #expect(error.operation.contains("listen"))
            #expect(error.operation.contains("127.0.0.1:\(port)"))
        }
        await first.close()
        try await expectCleanShutdown(loop)
    }

    @Test("a client close is seen by the server as EOF; send after close is ignored")
    func clientCloseIsEOF() async throws {
        let loop = EventLoop()
        let (listener, accepted) = try await listen(loop) { echo($0, $1) }
        let (client, events) = try await connect(loop, port: listener.port)
        let server = try await accepted.next("accept")
        await client.send(Array("hi".utf8))
        #expect(try await read(2, from: events, "echo") == Array("hi".utf8))
        await client.close()
        await client.send(Array("ignored".utf8))
        await client.close()
        let (got, error) = try await readToClose(server, "server EOF")
        #expect(got == Array("hi".utf8))
        #expect(error == nil)
        await listener.close()
        try await expectCleanShutdown(loop)
    }

    @Test("many clients at once, each gets its own echoes")
    func manyClients() async throws {
        let loop = EventLoop()
        let (listener, accepted) = try await listen(loop) { echo($0, $1) }
        let port = listener.port
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<20 {
                group.addTask {
                    let (client, events) = try await connect(loop, port: port)
                    for j in 0..<20 {
                        let m = Array("client \(i) message \(j)\n".utf8)
                        await client.send(m)
                        let back = try await read(m.count, from: events, "echo \(i)/\(j)")
                        #expect(back == m)
                    }
                    await client.close()
                    _ = try await readToClose(events, "client \(i) close")
                }
            }
            try await group.waitForAll()
        }
        for _ in 0..<20 {
            let server = try await accepted.next("accepted connection")
            _ = try await readToClose(server, "server side EOF")
        }
        await listener.close()
        try await expectCleanShutdown(loop)
    }

    @Test("a peer that stops reading is dropped once the queue behind it passes the cap")
    func slowPeerIsDropped() async throws {
        let loop = EventLoop()
        // The server accepts but never reads: the client's writes back up.
        let serverSide = Locked<TCPConnection?>(nil)
        let (listener, accepted) = try await listen(loop) { conn, _ in serverSide.withLock { $0 = conn } }
        let (client, events) = try await connect(loop, port: listener.port)
        await client.setMaxPendingBytes(1 << 20)
        let chunk = [UInt8](repeating: 7, count: 256 << 10)
        var sent = 0
        // Kernel buffers absorb some megabytes first; 256 MiB is far past them and the cap.
        while await client.isOpen && sent < 256 << 20 {
            await client.send(chunk)
            sent += chunk.count
        }
        let (_, error) = try await readToClose(events, "client dropped")
        guard case .io(let cause) = error else {
            Issue.record("expected ENOBUFS, got \(String(describing: error))")
            return
        }
        #expect(cause.name == "ENOBUFS")
        #expect(sent < 256 << 20)
        _ = try await accepted.next("accepted")
        await serverSide.withLock { $0 }?.close()
        await listener.close()
        try await expectCleanShutdown(loop)
    }

    @Test("corked sends leave as one write, in order, and a close while corked still delivers them")
    func cork() async throws {
        let loop = EventLoop()
        let (listener, accepted) = try await listen(loop) { conn, events in
            conn.start(onRead: { events.send(.data($0)) }, onClose: { events.send(.closed($0)) })
        }
        let (client, clientEvents) = try await connect(loop, port: listener.port)
        try await onLoop(loop) {
            client.assumeIsolated { c in
                c.cork()
                c.send(Array("first,".utf8))
                c.send { $0.append(contentsOf: Array("second,".utf8)) }
                c.uncork()
                c.cork()
                c.send(Array("third".utf8))
                c.closeAfterFlush()
            }
        }
        let server = try await accepted.next("accepted")
        let (bytes, error) = try await readToClose(server, "server reads to EOF")
        #expect(String(decoding: bytes, as: UTF8.self) == "first,second,third")
        #expect(error == nil)
        _ = try await readToClose(clientEvents, "client closed")
        await listener.close()
        try await expectCleanShutdown(loop)
    }
}
