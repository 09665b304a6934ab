import Foundation
import Testing
import TitanAuth
import TitanClient
import TitanMaster
import TitanProtocol
import TitanRuntime

/// Peers that try to make the master hold memory or descriptors: every connection and all of them
/// together cost a bounded amount, and the master keeps serving everyone else.
@Suite struct HostilePeerTests {
    static func cluster(_ configure: (inout ConnectionLimits) -> Void) async throws -> EmbeddedCluster {
        var config = MasterConfig.loopbackAnyPort
        configure(&config.connections)
        return try await EmbeddedCluster.start(master: config, workers: [])
    }

    static func request(_ id: UInt32, _ message: Message) -> [UInt8] {
        NativeCodec.encode(Envelope(requestId: id, message: message))
    }

    /// Resident memory of a process, in bytes.
    static func residentBytes(_ pid: Int32) -> Int {
        let text = (try? String(contentsOfFile: "/proc/\(pid)/statm", encoding: .utf8)) ?? ""
        let pages = text.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// The error a refused connection is told before it is closed.
    static func refusal(_ socket: RawSocket) throws -> String? {
        guard let envelope = try socket.readEnvelope(), case .error(_, let text) = envelope.message else { return nil }
        return text
    }

    @Test func aClientThatPipelinesRequestsAndNeverReadsCostsABoundedAmount() async throws {
        let master = try await NodeProcess(["--role", "master", "--port", "0"])
        defer { master.signal(SIGKILL) }
        let port = try #require(master.port)
        let client = try await TitanClient.connect(to: "127.0.0.1:\(port)")
        // A pending job whose status reply weighs 512 KiB (no worker: it stays pending).
        let big = String(repeating: "x", count: 512 << 10)
        let jobId = try await client.submit(JobSpec(command: ["true"], environment: ["BIG": big]))
        await client.close()

        let before = Self.residentBytes(master.pid)
        let socket = try RawSocket(port: port, timeoutSeconds: 20)
        try socket.authenticate()
        let count = 300  // 150 MiB of replies if they were all built at once
        var requests: [UInt8] = []
        for i in 1...count { requests += Self.request(UInt32(i), .getStatus(jobId: jobId)) }
        socket.send(requests)
        // Meanwhile everyone else is served at once.
        let other = try RawSocket(port: port)
        other.send(Self.request(7, .ping))
        #expect(try other.readEnvelope() == Envelope(requestId: 7, message: .pong))
        let grown = Self.residentBytes(master.pid) - before
        #expect(grown < 64 << 20, "the master grew by \(grown >> 20) MiB for a client that does not read")

        // Back-pressure, not loss: once the client reads, every reply comes, in order.
        for i in 1...count {
            let reply = try #require(try socket.readEnvelope(), "reply \(i) missing")
            #expect(reply.requestId == UInt32(i))
            guard case .status(let info) = reply.message else {
                Issue.record("reply \(i): \(reply.message.name)")
                break
            }
            #expect(info.spec.environment["BIG"]?.utf8.count == big.utf8.count)
        }
    }

    @Test func connectionsThatSendNothingOrNeverFinishAFrameAreCutOff() async throws {
        let cluster = try await Self.cluster {
            $0.firstFrameDeadlineMs = 300
            $0.frameDeadlineMs = 300
        }
        let port = cluster.master.port
        let silent = try RawSocket(port: port)
        let ping = Self.request(3, .ping)
        let partial = try RawSocket(port: port)
        // A ping, then another announced with half its payload sent.
        partial.send(ping + [2, 0x03, 0, 0, 0, 0, 0, 4, 0, 0])
        #expect(try partial.readEnvelope() == Envelope(requestId: 3, message: .pong))
        let dribble = try RawSocket(port: port)
        dribble.send(ping)
        #expect(try dribble.readEnvelope() == Envelope(requestId: 3, message: .pong))

        #expect(try Self.refusal(silent)?.contains("no request within 300 ms") == true)
        #expect(await silent.eof())
        #expect(try Self.refusal(partial)?.contains("not completed within 300 ms") == true)
        #expect(await partial.eof())
        // One byte at a time, slower than the deadline allows for the whole frame.
        var cut = false
        for byte in ping {
            dribble.send([byte])
            try await Task.sleep(for: .milliseconds(80))
            if !(try await isOpen(dribble)) {
                cut = true
                break
            }
        }
        #expect(cut, "a client sending a byte every 80 ms was never cut off")
        let stats = await cluster.master.connectionStats()
        #expect(stats.refusals["no first frame in time"] == 1)
        #expect((stats.refusals["frame not completed in time"] ?? 0) >= 2)
        #expect(await cluster.stop() == 0)
    }

    /// True while the peer has neither closed nor sent anything (MSG_PEEK, non-blocking).
    func isOpen(_ socket: RawSocket) async throws -> Bool {
        var byte: UInt8 = 0
        let n = recv(socket.fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
        return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)
    }

    @Test func incompleteFramesHaveABudgetAcrossAllConnections() async throws {
        let cluster = try await Self.cluster { $0.totalPartialFrameBytes = 4 << 20 }
        let port = cluster.master.port
        // Each announces a 3 MiB frame and sends 2 MiB of it: the second one passes the budget.
        var header: [UInt8] = [2, 0x03, 0, 0]
        withUnsafeBytes(of: UInt32(3 << 20).bigEndian) { header += $0 }
        let chunk = [UInt8](repeating: 0, count: 2 << 20)
        let first = try RawSocket(port: port)
        first.send(header + chunk)
        try await waitUntil { await cluster.master.connectionStats().partialFrameBytes >= 2 << 20 }
        let second = try RawSocket(port: port)
        second.send(header + chunk)
        #expect(try Self.refusal(second)?.contains("too many incomplete frames") == true)
        #expect(await second.eof())
        // The first is still open and the master serves new connections.
        #expect(try await isOpen(first))
        let other = try RawSocket(port: port)
        other.send(Self.request(1, .ping))
        #expect(try other.readEnvelope() == Envelope(requestId: 1, message: .pong))
        #expect(await cluster.stop() == 0)
    }

    @Test func connectionsAreCappedWithPlacesKeptForWorkers() async throws {
        let cluster = try await Self.cluster {
            $0.maxConnections = 12
            $0.reservedForWorkers = 4
        }
        let port = cluster.master.port
        var idle: [RawSocket] = []
        for _ in 0..<8 { idle.append(try RawSocket(port: port)) }
        // Every place but the reserved ones is taken: a client is told so.
        let client = try RawSocket(port: port)
        client.send(Self.request(1, .ping))
        #expect(try Self.refusal(client)?.contains("kept for workers") == true)
        #expect(await client.eof())
        try await waitUntil { await cluster.master.connectionStats().open == 8 }
        // A client with a submit token is told so; an admin and a worker still get in.
        let admin = try await TitanClient.connect(to: cluster.masterAddress)
        guard case .tokenResult(.created(_, let text)) = try await admin.request(.token(.create(role: "submit", name: "", ttlMs: 0))) else {
            Issue.record("no token")
            return
        }
        let submitter = try RawSocket(port: port)
        let token = try AuthToken(parsing: text)
        var refused = ""
        do {
            refused = "\(try submitter.authenticate(token))"
        } catch {
            refused = "\(error)"
        }
        #expect(refused.contains("kept for workers and admins"), "\(refused)")
        try await admin.ping()
        try await waitUntil { await cluster.master.connectionStats().open == 9 }
        let worker = try RawSocket(port: port)
        #expect(try worker.authenticate() == .admin)
        worker.send(Self.request(2, .register(Registration(workerId: "w-reserve", name: "w", capabilities: ["GENERAL"],
                                                           slots: 1, permanent: true, instance: "instance-reserve"))))
        guard case .registered(let id, _, _) = try #require(try worker.readEnvelope()).message else {
            Issue.record("the worker was not registered")
            return
        }
        #expect(id == "w-reserve")
        // Past the cap: refused at once with the reason.
        var more: [RawSocket] = []
        for _ in 0..<3 { more.append(try RawSocket(port: port)) }
        let over = try RawSocket(port: port)
        #expect(try Self.refusal(over)?.contains("too many connections (12)") == true)
        await admin.close()
        // Places free up as connections close.
        idle.removeAll()
        more.removeAll()
        try await waitUntil { await cluster.master.connectionStats().open <= 2 }
        let later = try RawSocket(port: port)
        later.send(Self.request(3, .ping))
        #expect(try later.readEnvelope() == Envelope(requestId: 3, message: .pong))
        #expect(await cluster.stop() == 0)
    }

    @Test func theMasterRaisesItsDescriptorLimit() async throws {
        let master = try await NodeProcess(["--role", "master", "--port", "0"])
        defer { master.signal(SIGKILL) }
        let limits = try String(contentsOfFile: "/proc/\(master.pid)/limits", encoding: .utf8)
        let line = try #require(limits.split(separator: "\n").first { $0.hasPrefix("Max open files") })
        let numbers = line.split(separator: " ").compactMap { Int($0) }
        #expect(numbers.count == 2 && numbers[0] == numbers[1], "\(line)")
    }
}
