import Foundation
import Testing
import TitanClient
import TitanProtocol

/// Stopped services are state too: listed (STOPPED) after a restart, also once the append-only
/// file was compacted.
@Suite struct StoppedServiceTests {
    @Test func stoppedServicesSurviveACompactionAndARestart() async throws {
        let dir = KVTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var sizeBeforeStop = 0
        try await KVTests.withMaster(directory: dir, compactAtBytes: 16 << 10) { client in
            // No worker: both wait; one is stopped (at once), one stays deployed.
            _ = try await client.deployService(ServiceSpec(name: "old", command: ["sleep", "60"], replicas: 2))
            try await client.stopService("old")
            _ = try await client.deployService(ServiceSpec(name: "live", command: ["sleep", "60"]))
            for i in 0 ..< 2_000 { try await client.kvSet("key-\(i % 10)", Array(repeating: 7, count: 60)) }
            sizeBeforeStop = (try FileManager.default.attributesOfItem(atPath: dir + "/titan.aof")[.size] as? Int) ?? 0
        }
        #expect(sizeBeforeStop < 64 << 10, "the file holds \(sizeBeforeStop) bytes: it was never rewritten")
        try await KVTests.withMaster(directory: dir, compactAtBytes: 16 << 10) { client in
            let services = try await client.services()
            let states = services.map { "\($0.spec.name)#\($0.replica) \($0.state)" }.sorted()
            #expect(states == ["live#0 PENDING", "old#0 STOPPED", "old#1 STOPPED"], "\(states)")
        }
    }
}
