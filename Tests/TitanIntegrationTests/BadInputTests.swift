import Foundation
import Testing
import TitanClient
import TitanProtocol
import TitanRuntime

/// Garbage at a real master over a real socket: a clear error each time, nothing changes, and
/// the connection is closed only when framing is lost.
@Suite struct BadInputTests {
    static func frame(version: UInt8 = 2, opcode: UInt8, payload: [UInt8]) -> [UInt8] {
        Frame(version: version, opcode: opcode, flags: 0, payload: payload).encoded()
    }

    static let ping = NativeCodec.encode(Envelope(requestId: 9, message: .ping))

    @Test func wrongVersionGetsAnErrorThenClose() async throws {
        let cluster = try await EmbeddedCluster.start(workers: 0)
        let socket = try RawSocket(port: cluster.master.port)
        socket.send(Self.frame(version: 7, opcode: 0x03, payload: [0, 0, 0, 1]))
        let reply = try #require(try socket.readEnvelope())
        guard case .error(.badFrame, let text) = reply.message else {
            Issue.record("expected a badFrame error, got \(reply.message)")
            return
        }
        #expect(text.contains("version 7"))
        #expect(await socket.eof())
        #expect(await cluster.stop() == 0)
    }

    @Test func oversizeFrameIsRejectedBeforeItsPayload() async throws {
        let cluster = try await EmbeddedCluster.start(workers: 0)
        let socket = try RawSocket(port: cluster.master.port)
        socket.send([2, 0x30, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF])  // header only: 4 GiB announced
        let reply = try #require(try socket.readEnvelope())
        guard case .error(.badFrame, let text) = reply.message else {
            Issue.record("expected a badFrame error, got \(reply.message)")
            return
        }
        #expect(text.contains("4294967295"))
        #expect(await socket.eof())
        #expect(await cluster.stop() == 0)
    }

    @Test func unknownOpcodeCostsOnlyThatRequest() async throws {
        let cluster = try await EmbeddedCluster.start(workers: 0)
        let socket = try RawSocket(port: cluster.master.port)
        socket.send(Self.frame(opcode: 0x7F, payload: [0, 0, 0, 5]))
        let reply = try #require(try socket.readEnvelope())
        #expect(reply.requestId == 5)
        guard case .error(.unknownOpcode, let text) = reply.message else {
            Issue.record("expected unknownOpcode, got \(reply.message)")
            return
        }
        #expect(text.contains("0x7F") || text.contains("0x7f") || text.contains("127"))
        // Same connection still works.
        socket.send(Self.ping)
        #expect(try socket.readEnvelope() == Envelope(requestId: 9, message: .pong))
        #expect(await cluster.stop() == 0)
    }

    @Test func malformedSubmitChangesNothing() async throws {
        let cluster = try await EmbeddedCluster.start(workers: 1)
        let socket = try RawSocket(port: cluster.master.port)
        let good = NativeCodec.encode(Envelope(requestId: 3, message: .submit(JobSpec(command: ["true", "x"]), follow: false)))
        // Cut the payload short but keep the frame consistent: framing intact, payload malformed.
        let payload = Array(good[8..<(good.count - 12)])
        socket.send(Self.frame(opcode: good[1], payload: payload))
        let reply = try #require(try socket.readEnvelope())
        #expect(reply.requestId == 3)
        guard case .error(.malformedPayload, let text) = reply.message else {
            Issue.record("expected malformedPayload, got \(reply.message)")
            return
        }
        #expect(text.contains("submit"))
        #expect(text.contains("field"))
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        #expect(try await client.jobs().isEmpty)
        #expect(await cluster.master.scheduler.counts.jobs == 0)
        await client.close()
        #expect(await cluster.stop() == 0)
    }

    @Test func invalidSubmissionsNameTheField() async throws {
        let cluster = try await EmbeddedCluster.start(workers: 0)
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        let cases: [(JobSpec, String)] = [
            (JobSpec(command: []), "command"),
            (JobSpec(command: [""]), "command[0]"),
            (JobSpec(command: ["echo", "a\u{0}b"]), "command[1]"),
            (JobSpec(command: ["true"], environment: ["A=B": "x"]), "environment"),
            (JobSpec(command: ["true"], requirements: ["GPU,X"]), "requirements"),
            (JobSpec(command: ["true"], delayMs: UInt64.max), "delayMs"),
            (JobSpec(command: ["true"], timeoutMs: UInt64.max), "timeoutMs"),
        ]
        for (spec, field) in cases {
            do {
                _ = try await client.submit(spec)
                Issue.record("accepted \(spec)")
            } catch let TitanClientError.server(code, text) {
                #expect(code == .invalidRequest)
                #expect(text.contains("'\(field)'"), "\(text)")
            }
        }
        #expect(try await client.jobs().isEmpty)
        await client.close()
        #expect(await cluster.stop() == 0)
    }

    @Test func requestsSplitByteByByteStillWork() async throws {
        let cluster = try await EmbeddedCluster.start(workers: 0)
        let socket = try RawSocket(port: cluster.master.port)
        try socket.authenticate()
        let bytes = Self.ping + NativeCodec.encode(Envelope(requestId: 10, message: .listWorkers))
        for b in bytes { socket.send([b]) }
        #expect(try socket.readEnvelope() == Envelope(requestId: 9, message: .pong))
        #expect(try socket.readEnvelope() == Envelope(requestId: 10, message: .workers([])))
        #expect(await cluster.stop() == 0)
    }

    @Test func repliesToWorkerOnlyMessagesFromClientsAreErrors() async throws {
        let cluster = try await EmbeddedCluster.start(workers: 0)
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        await #expect(throws: TitanClientError.self) { try await client.request(.pong) }
        await #expect(throws: TitanClientError.server(.notFound, "no job 'nope'")) { try await client.status("nope") }
        await client.close()
        #expect(await cluster.stop() == 0)
    }

    @Test func unknownV1OpcodesGetAV1Error() async throws {
        let cluster = try await EmbeddedCluster.start(workers: 0)
        let socket = try RawSocket(port: cluster.master.port)
        socket.send(Self.frame(version: 1, opcode: 0x99, payload: Array("x".utf8)))
        let reply = try #require(socket.readFrame())
        #expect(reply.version == 1)
        #expect(reply.opcode == 0x51)
        #expect(String(decoding: reply.payload, as: UTF8.self) == "UNKNOWN_OPCODE: 153")
        #expect(await cluster.stop() == 0)
    }
}

@Suite struct AbruptPeerTests {
    /// A client that sends a burst of requests and resets the connection: the master's replies
    /// hit a dead socket (EPIPE), which must not kill the process with SIGPIPE.
    @Test func aClientVanishingMidReplyDoesNotKillTheMaster() async throws {
        let cluster = try await EmbeddedCluster.start(workers: 0)
        for _ in 0..<20 {
            let socket = try RawSocket(port: cluster.master.port)
            try socket.authenticate()
            let ping = NativeCodec.encode(Envelope(requestId: 1, message: .listWorkers))
            socket.send(Array(repeating: ping, count: 2_000).flatMap { $0 })
            socket.reset()
        }
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        try await client.ping()
        await client.close()
        #expect(await cluster.stop() == 0)
    }
}
