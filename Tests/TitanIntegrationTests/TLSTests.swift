import Foundation
import Testing
import TitanCerts
import TitanClient
import TitanLoop
import TitanProtocol
import TitanRuntime
import TitanTLS

/// Certificates for a test cluster, written where a node would read them.
struct ClusterPKI {
    let directory: String
    let ca: CertificateAuthority

    init(_ name: String = "Titan test CA") throws {
        directory = try DurabilityTests.temporaryDirectory("tls")
        ca = try CertificateAuthority.create(commonName: name, notAfter: .now + 30 * 86_400)
        try ca.write(certificatePath: caFile, keyPath: directory + "/ca.key")
    }

    var caFile: String { directory + "/ca.pem" }
    func cert(_ name: String) -> String { directory + "/\(name).pem" }
    func key(_ name: String) -> String { directory + "/\(name).key" }

    func issue(_ name: String, hosts: [String] = ["127.0.0.1"]) throws {
        try ca.issue(commonName: name, hosts: hosts, notAfter: .now + 86_400).write(certificatePath: cert(name), keyPath: key(name))
    }

    func server(clientCA: Bool) throws -> TLSContext {
        try TLSContext.server(certificateFile: cert("master"), privateKeyFile: key("master"), clientCAFile: clientCA ? caFile : nil)
    }

    func client(_ name: String? = nil, ca: String? = nil) throws -> TLSContext {
        try TLSContext.client(caFile: ca ?? caFile, certificateFile: name.map(cert), privateKeyFile: name.map(key))
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// TLS on every link of a real cluster (in one process, real sockets): jobs over TLS, mutual TLS
/// for workers, and a clear error for each way it can be set up wrong.
@Suite struct TLSTests {
    static func failure(_ body: () async throws -> Void) async -> String {
        do {
            try await body()
            return ""
        } catch {
            return "\(error)"
        }
    }

    @Test func jobsRunOverTLSAndWorkersProveWhoTheyAreWithACertificate() async throws {
        let pki = try ClusterPKI()
        defer { pki.remove() }
        try pki.issue("master")
        try pki.issue("worker-1")
        var master = MasterConfig.loopbackAnyPort
        master.tls = try pki.server(clientCA: true)
        var worker = WorkerConfig()
        worker.workerId = "w-tls"
        worker.tls = try pki.client("worker-1")
        worker.tlsCAFile = pki.caFile
        let cluster = try await EmbeddedCluster.start(master: master, workers: [worker])
        let address = cluster.masterAddress
        let client = try await TitanClient.connect(to: address, transport: .tls(try pki.client(), serverName: nil))
        // The job learns the CA, so the SDK in it reaches the master over TLS as well.
        let id = try await client.submit(JobSpec(command: ["sh", "-c", "echo ca=$TITAN_TLS_CA"]))
        let result = try await client.wait(id)
        #expect(result.state == .completed)
        let output = String(decoding: try await client.logs(id).flatMap(\.bytes), as: UTF8.self)
        #expect(output.contains("ca=\(pki.caFile)"), "\(output)")
        // This host's own plaintext connections are still served (the local quick start).
        let local = try await TitanClient.connect(to: address, transport: .plaintext)
        #expect(try await local.workers().map(\.id) == ["w-tls"])
        await local.close()
        await client.close()
        #expect(await cluster.stop() == 0)
    }

    @Test func aWorkerWithoutACertificateOrWithAStrangersIsRefusedSayingWhy() async throws {
        let pki = try ClusterPKI()
        let other = try ClusterPKI("Another CA")
        defer { pki.remove(); other.remove() }
        try pki.issue("master")
        try other.issue("stranger")
        var master = MasterConfig.loopbackAnyPort
        master.tls = try pki.server(clientCA: true)
        let cluster = try await EmbeddedCluster.start(master: master, workers: [])
        let loop = EventLoop(name: "workers")
        var noCert = WorkerConfig()
        noCert.masterPort = cluster.master.port
        noCert.tls = try pki.client()
        var stranger = noCert
        stranger.tls = try TLSContext.client(caFile: pki.caFile, certificateFile: other.cert("stranger"), privateKeyFile: other.key("stranger"))
        let nodes = [WorkerNode(loop: loop, config: noCert, logger: EmbeddedCluster.defaultLogger),
                     WorkerNode(loop: loop, config: stranger, logger: EmbeddedCluster.defaultLogger)]
        for node in nodes { await node.start() }
        try await waitUntil(seconds: 10) {
            let first = await nodes[0].lastRejection
            let second = await nodes[1].lastRejection
            return first != nil && second != nil
        }
        let first = await nodes[0].lastRejection ?? ""
        let second = await nodes[1].lastRejection ?? ""
        #expect(first.contains("a worker must present a certificate signed by the cluster's CA"), "\(first)")
        #expect(second.contains("unknown CA") && second.contains("does not trust the CA that signed this end's certificate"), "\(second)")
        let admin = try await TitanClient.connect(to: cluster.masterAddress, transport: .plaintext)
        #expect(try await admin.workers().isEmpty)
        await admin.close()
        for node in nodes { await node.stop() }
        #expect(await loop.shutdown() == 0)
        #expect(await cluster.stop() == 0)
    }

    @Test func eachWrongSetUpGetsAClearErrorNeverAHang() async throws {
        let pki = try ClusterPKI()
        let other = try ClusterPKI("Another CA")
        defer { pki.remove(); other.remove() }
        try pki.issue("master", hosts: ["127.0.0.1", "master.test"])
        var master = MasterConfig.loopbackAnyPort
        master.tls = try pki.server(clientCA: false)
        let tlsCluster = try await EmbeddedCluster.start(master: master, workers: [])
        let plainCluster = try await EmbeddedCluster.start(workers: 0)
        let tlsAddress = tlsCluster.masterAddress

        let wrongCA = await Self.failure { _ = try await TitanClient.connect(to: tlsAddress, transport: .tls(try other.client(ca: other.caFile), serverName: nil)) }
        #expect(wrongCA.contains("TLS with the master at \(tlsAddress)") && wrongCA.contains("not signed by a CA this end trusts"), "\(wrongCA)")
        let wrongName = await Self.failure { _ = try await TitanClient.connect(to: tlsAddress, transport: .tls(try pki.client(), serverName: "elsewhere.test")) }
        #expect(wrongName.contains("hostname mismatch"), "\(wrongName)")
        let rightName = try await TitanClient.connect(to: tlsAddress, transport: .tls(try pki.client(), serverName: "master.test"))
        await rightName.close()
        // TLS to a plaintext master: the client says so, the master counts it as such.
        let plainAddress = plainCluster.masterAddress
        let toPlain = await Self.failure { _ = try await TitanClient.connect(to: plainAddress, transport: .tls(try pki.client(), serverName: nil)) }
        #expect(toPlain.contains("does not speak TLS"), "\(toPlain)")
        try await waitUntil(seconds: 5) { await plainCluster.master.connectionStats().refusals["TLS on a plaintext port"] == 1 }
        // The master's own side of a refused handshake is counted too.
        try await waitUntil(seconds: 5) { await tlsCluster.master.connectionStats().refusals["TLS handshake failed", default: 0] >= 2 }
        // A bad CA file named by the environment is named in the error.
        let badFile = await Self.failure { _ = try TitanClient.Transport.fromEnvironment(["TITAN_TLS_CA": pki.directory + "/nope.pem"]) }
        #expect(badFile.contains("nope.pem: No such file or directory"), "\(badFile)")
        #expect(await tlsCluster.stop() == 0)
        #expect(await plainCluster.stop() == 0)
    }
}

/// Hostile peers on a TLS port: half-finished handshakes and garbage cost bounded memory and are
/// cut off, and the master keeps serving everyone else over TLS.
@Suite struct TLSHostilePeerTests {
    @Test func halfHandshakesAndGarbageAreCutOffWhileOthersAreServed() async throws {
        let pki = try ClusterPKI()
        defer { pki.remove() }
        try pki.issue("master")
        var config = MasterConfig.loopbackAnyPort
        config.tls = try pki.server(clientCA: true)
        // Long enough for the honest client's handshake on a loaded machine (the whole suite
        // runs at once), short enough to wait for.
        config.connections.firstFrameDeadlineMs = 5_000
        config.connections.maxPendingHandshakes = 60
        let cluster = try await EmbeddedCluster.start(master: config, workers: [])
        let port = cluster.master.port
        // Garbage that looks like TLS at first: refused at once.
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<100 {
            let socket = try RawSocket(port: port, timeoutSeconds: 10)
            socket.send([22] + (0..<Int.random(in: 1...2_000, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) })
            #expect(await socket.eof(), "garbage was not refused")
        }
        // Connections that start a TLS record announcing 16 KiB and send only part of it.
        var stalled: [RawSocket] = []
        for _ in 0..<60 {
            let socket = try RawSocket(port: port, timeoutSeconds: 10)
            socket.send([22, 3, 1, 0x40, 0x00] + [UInt8](repeating: 1, count: 200))
            stalled.append(socket)
        }
        // The handshakes in progress are bounded: one more is refused at once.
        let extra = try RawSocket(port: port, timeoutSeconds: 10)
        extra.send([22, 3, 1, 0x40, 0x00])
        #expect(await extra.eof())
        try await waitUntil(seconds: 5) { await cluster.master.connectionStats().refusals["too many TLS handshakes in progress"] == 1 }
        // None finishes its handshake: each is cut off at the first-frame deadline; then a real
        // client gets in over TLS.
        for socket in stalled { #expect(await socket.eof()) }
        try await waitUntil(seconds: 5) { await cluster.master.connectionStats().pendingHandshakes == 0 }
        let client = try await TitanClient.connect(to: cluster.masterAddress, transport: .tls(try pki.client(), serverName: nil))
        try await client.ping()
        let stats = await cluster.master.connectionStats()
        #expect(stats.refusals["no first frame in time", default: 0] >= 60, "\(stats.refusals)")
        #expect(stats.refusals["TLS handshake failed", default: 0] >= 90, "\(stats.refusals)")
        try await client.ping()
        await client.close()
        #expect(await cluster.stop() == 0)
    }

    @Test func manyHalfHandshakesCostTheMasterBoundedMemory() async throws {
        let pki = try ClusterPKI()
        defer { pki.remove() }
        try pki.issue("master")
        let master = try await NodeProcess(["--role", "master", "--port", "0", "--log-level", "error",
                                            "--tls-cert", pki.cert("master"), "--tls-key", pki.key("master")])
        defer { master.signal(SIGKILL) }
        let port = try #require(master.port)
        // Warm up: one full TLS client, so what follows measures connections, not first use.
        let client = try await TitanClient.connect(to: "127.0.0.1:\(port)", transport: .tls(try pki.client(), serverName: nil))
        try await client.ping()
        let before = HostilePeerTests.residentBytes(master.pid)
        var stalled: [RawSocket] = []  // closed when the array goes
        for _ in 0..<600 {
            let socket = try RawSocket(port: port, timeoutSeconds: 10)
            socket.send([22, 3, 1, 0x40, 0x00] + [UInt8](repeating: 1, count: 200))
            stalled.append(socket)
        }
        try await client.ping()  // every hello before it has been read
        let grown = HostilePeerTests.residentBytes(master.pid) - before
        // Each holds an SSL object and a hello announcing 64 KiB (the worst a peer can make it,
        // about 70 KiB), and no more than `maxPendingHandshakes` (512) are held: the rest are
        // refused at once.
        #expect(grown < 48 << 20, "600 half-handshakes cost the master \(grown >> 20) MiB")
        print("600 half-handshakes (512 held): master grew by \(grown >> 10) KiB")
        await client.close()
        stalled.removeAll()
    }
}
