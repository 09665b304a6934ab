import Foundation
import Testing
import TitanClient
import TitanLoop
import TitanProtocol
import TitanRuntime

/// Health probes with deadlines, with real processes: an HTTP endpoint that accepts connections
/// but never answers makes its service unhealthy by the start deadline, and it is restarted per its
/// policy instead of staying STARTING forever.
@Suite struct ServiceProbeTests {
    // Room for python3 to start listening on a loaded machine (the whole suite on two cores):
    // within the deadline the probe must meet a listener that never answers, not a refusal.
    static let graceMs: UInt64 = 3_000
    static let probeTimeoutMs: UInt64 = 300

    static func workers() -> [WorkerConfig] {
        ServiceTests.workers(1).map { base in
            var c = base
            c.serviceStartGraceMs = graceMs
            c.serviceProbeTimeoutMs = probeTimeoutMs
            c.serviceStableAfterMs = 60_000  // every probe-failed run is a quick failure
            return c
        }
    }

    /// Listens on the port, accepts every connection and never answers it.
    static let mute = ["python3", "-c", """
        import socket, sys
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", int(sys.argv[1])))
        s.listen(64)
        held = []
        while True:
            held.append(s.accept()[0])
        """, "{port}"]

    /// Runs `body` against a one-worker cluster that is stopped (its services with it) however `body` ends.
    static func withCluster(_ body: (TitanClient) async throws -> Void) async throws {
        let cluster = try await EmbeddedCluster.start(master: .loopbackAnyPort, workers: workers())
        var failure: (any Error)?
        do {
            let client = try await TitanClient.connect(to: cluster.masterAddress)
            do { try await body(client) } catch { failure = error }
            await client.close()
        } catch {
            failure = error
        }
        #expect(await cluster.stop() == 0)
        if let failure { throw failure }
    }

    @Test func aMuteHTTPEndpointIsRestartedUntilCrashLoop() async throws { try await Self.withCluster { client in
        let started = ContinuousClock.now
        _ = try await client.deployService(ServiceSpec(name: "mute", command: Self.mute, port: 0, health: "http:/healthz"))
        try await waitUntil(seconds: 20) { try await client.service("mute").pid > 0 }
        let firstPid = try await client.service("mute").pid
        // Given up on by the start deadline plus one probe's timeout (and a probe interval), not left STARTING.
        try await waitUntil(seconds: 20) { try await client.service("mute").restarts >= 1 }
        let firstRestart = ContinuousClock.now - started
        #expect(firstRestart >= .milliseconds(Int(Self.graceMs)))
        #expect(firstRestart < .milliseconds(Int(Self.graceMs + Self.probeTimeoutMs)) + .seconds(5))
        try await waitUntil(seconds: 10) { !processIsAlive(firstPid) }  // the mute process was killed
        // Five quick probe failures in a row: CRASH_LOOP, saying why.
        try await waitUntil(seconds: 40) { try await client.service("mute").state == "CRASH_LOOP" }
        let info = try await client.service("mute")
        #expect(info.restarts == 4)
        #expect(info.lastExit.contains("not healthy within \(Self.graceMs) ms"), "\(info.lastExit)")
        #expect(info.lastExit.contains("probe timed out after \(Self.probeTimeoutMs) ms"), "\(info.lastExit)")
        try await client.stopService("mute")
        try await waitUntil { try await client.service("mute").state == "STOPPED" }
    } }

    @Test func withRestartNeverAMuteEndpointEndsItsService() async throws { try await Self.withCluster { client in
        _ = try await client.deployService(ServiceSpec(name: "mute1", command: Self.mute, restart: "never", port: 0, health: "http:/"))
        try await waitUntil(seconds: 20) { try await client.service("mute1").pid > 0 }
        let pid = try await client.service("mute1").pid
        try await waitUntil(seconds: 20) { try await client.service("mute1").state == "EXITED" }
        let info = try await client.service("mute1")
        #expect(info.restarts == 0)
        #expect(info.lastExit.contains("probe timed out after \(Self.probeTimeoutMs) ms"), "\(info.lastExit)")
        try await waitUntil(seconds: 10) { !processIsAlive(pid) }
        // A TCP probe of the same process passes: it does accept connections.
        _ = try await client.deployService(ServiceSpec(name: "accepts", command: Self.mute, port: 0, health: "tcp"))
        try await waitUntil(seconds: 20) { try await client.service("accepts").state == "HEALTHY" }
        try await client.stopService("accepts")
        try await waitUntil { try await client.service("accepts").state == "STOPPED" }
    } }

    /// The worker's flags set the probe timeout and the start deadline.
    @Test func titanNodeFlagsSetTheDeadlines() async throws {
        let master = try await NodeProcess(["--role", "master", "--port", "0"])
        defer { master.signal(SIGKILL) }
        let address = "127.0.0.1:\(try #require(master.port))"
        let worker = try await NodeProcess(["--role", "worker", "--master", address, "--id", "probe-flags-\(getpid())",
                                            "--start-deadline-ms", "700", "--probe-timeout-ms", "250"])
        defer { worker.signal(SIGKILL) }
        let client = try await TitanClient.connect(to: address)
        try await waitUntil { try await client.workers().count == 1 }
        _ = try await client.deployService(ServiceSpec(name: "deaf", command: ["sleep", "60"], restart: "never", port: 0, health: "tcp"))
        try await waitUntil { try await client.service("deaf").state == "EXITED" }
        let info = try await client.service("deaf")
        #expect(info.lastExit.contains("not healthy within 700 ms of start"), "\(info.lastExit)")
        try await client.stopService("deaf")
        await client.close()
        #expect(await worker.terminate() == 0)
        #expect(await master.terminate() == 0)
    }
}
