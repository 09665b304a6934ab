import Foundation
import Testing
import TitanClient
import TitanProtocol
import TitanRuntime

/// `--replicas`: copies spread over workers, each with its own port, scaled up and down by
/// redeploying without touching the copies that stay; and what `titan workers` shows of them.
@Suite struct ServiceReplicaTests {
    /// A copy that records its replica number and port, then stays up.
    static func recorder(_ dir: String) -> [String] {
        ["sh", "-c", "echo \"$TITAN_SERVICE $TITAN_REPLICA $PORT\" > \(dir)/copy-$TITAN_REPLICA; exec sleep 60"]
    }

    @Test func copiesSpreadOverWorkersAndScaleWithoutRestartingTheOthers() async throws {
        let cluster = try await EmbeddedCluster.start(master: .loopbackAnyPort, workers: ServiceTests.workers(2))
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        let dir = try ServiceTests.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let spec = ServiceSpec(name: "web", command: Self.recorder(dir), port: 0, replicas: 2)
        let placed = try await client.deployService(spec)
        #expect(placed.map(\.instance) == ["web", "web#1"])
        try await waitUntil { try await client.services().filter { $0.state == "HEALTHY" }.count == 2 }
        let two = try await client.services()
        #expect(two.map(\.instance) == ["web", "web#1"])
        #expect(Set(two.map(\.workerId)) == ["w1", "w2"], "copies go to different workers while they can")
        #expect(two[0].port != two[1].port)
        #expect(two.allSatisfy { $0.host == "127.0.0.1" }, "a worker's address: how it reaches the master")
        for copy in two {
            try await waitUntil { (try? String(contentsOfFile: "\(dir)/copy-\(copy.replica)", encoding: .utf8)) != nil }
            let line = try String(contentsOfFile: "\(dir)/copy-\(copy.replica)", encoding: .utf8)
            #expect(line == "web \(copy.replica) \(copy.port)\n")
        }
        // Each worker lists the copy it runs, and is not idle.
        let workers = try await client.workers()
        #expect(workers.map(\.services) == [[two.first { $0.workerId == "w1" }!.instance],
                                            [two.first { $0.workerId == "w2" }!.instance]])
        #expect(workers.allSatisfy { $0.idleMs == -1 && $0.runningJobs.isEmpty && $0.address == "127.0.0.1" })

        // Scale up: the running copies are left alone.
        var three = spec
        three.replicas = 3
        try await client.deployService(three)
        try await waitUntil { try await client.services().filter { $0.state == "HEALTHY" }.count == 3 }
        let after = try await client.services()
        #expect(after.map(\.instance) == ["web", "web#1", "web#2"])
        #expect(after[0].pid == two[0].pid && after[1].pid == two[1].pid)
        #expect(after.allSatisfy { $0.spec.replicas == 3 })
        #expect(Set(after.map(\.port)).count == 3)

        // One copy alone can be restarted, but not stopped (that would change the count).
        try await client.restartService("web#2")
        try await waitUntil { try await client.service("web#2").pid != after[2].pid }
        await #expect(throws: TitanClientError.self) { try await client.stopService("web#1") }

        // Scale down: the extra copies end, the first stays.
        var one = spec
        one.replicas = 1
        try await client.deployService(one)
        try await waitUntil { !processIsAlive(after[1].pid) }
        let left = try await client.services()
        #expect(left.map(\.instance) == ["web"])
        #expect(left[0].pid == two[0].pid)
        try await waitUntil { try await client.workers().map(\.services.count).reduce(0, +) == 1 }

        // A changed command replaces the copy.
        var changed = one
        changed.environment = ["V": "2"]
        try await client.deployService(changed)
        try await waitUntil { let now = try await client.service("web"); return now.state == "HEALTHY" && now.pid != two[0].pid }

        try await client.stopService("web")
        try await waitUntil { try await client.services().allSatisfy { $0.state == "STOPPED" } }
        // Nothing runs: both workers are idle.
        try await waitUntil { try await client.workers().allSatisfy { $0.idleMs >= 0 && $0.services.isEmpty } }
        await client.close()
        #expect(await cluster.stop() == 0)
    }

    @Test func followingAServiceWithCopiesEndsWhenTheLastCopyStops() async throws {
        let cluster = try await EmbeddedCluster.start(master: .loopbackAnyPort, workers: ServiceTests.workers(1))
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        try await client.deployService(ServiceSpec(name: "talk", command: ["sh", "-c", "echo hi from $TITAN_REPLICA; exec sleep 60"],
                                                   replicas: 2))
        try await waitUntil {
            let text = String(decoding: try await client.logs("talk").flatMap(\.bytes), as: UTF8.self)
            return text.contains("hi from 0") && text.contains("hi from 1")
        }
        #expect(String(decoding: try await client.logs("talk#1").flatMap(\.bytes), as: UTF8.self) == "hi from 1\n")
        let updates = try await client.follow("talk", logs: true)
        try await client.stopService("talk")
        var output = ""
        var ended = false
        for await update in updates {
            switch update {
            case .output(_, let bytes): output += String(decoding: bytes, as: UTF8.self)
            case .event(let event): ended = event.state == .completed
            }
        }
        #expect(ended)
        #expect(output.contains("hi from 0") && output.contains("hi from 1"))
        #expect(try await client.services().allSatisfy { $0.state == "STOPPED" })
        await client.close()
        #expect(await cluster.stop() == 0)
    }

    @Test func badReplicaCountsAreRefused() async throws {
        let cluster = try await EmbeddedCluster.start(master: .loopbackAnyPort, workers: ServiceTests.workers(1))
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        for (spec, fragment) in [(ServiceSpec(name: "a", command: ["x"], replicas: 0), "field 'replicas'"),
                                 (ServiceSpec(name: "a#1", command: ["x"]), "service name 'a#1' contains '#'"),
                                 (ServiceSpec(name: "..", command: ["x"]), "service name '..' must start with")] {
            do {
                try await client.deployService(spec)
                Issue.record("accepted \(spec)")
            } catch TitanClientError.server(let code, let message) {
                #expect(code == .invalidRequest)
                #expect(message.contains(fragment), "\(message)")
            }
        }
        #expect(try await client.services().isEmpty)
        await client.close()
        #expect(await cluster.stop() == 0)
    }

    @Test func copiesOnAFixedPortNeverShareAMachine() async throws {
        // Two workers on this one machine (same address): the second copy waits.
        let cluster = try await EmbeddedCluster.start(master: .loopbackAnyPort, workers: ServiceTests.workers(2))
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        try await client.deployService(ServiceSpec(name: "fixed", command: ["sleep", "60"], port: 18_080, replicas: 2))
        try await waitUntil { try await client.service("fixed").state == "HEALTHY" }
        #expect(try await client.service("fixed#1").state == "PENDING")
        #expect(try await client.service("fixed").port == 18_080)
        try await client.stopService("fixed")
        try await waitUntil { try await client.services().allSatisfy { $0.state == "STOPPED" } }
        await client.close()
        #expect(await cluster.stop() == 0)
    }

    @Test func onlyTheNewestStoppedServicesAreKept() async throws {
        var master = MasterConfig.loopbackAnyPort
        master.scheduler.retainStoppedServices = 2
        let cluster = try await EmbeddedCluster.start(master: master, workers: ServiceTests.workers(1))
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        for i in 1...4 {
            try await client.deployService(ServiceSpec(name: "s\(i)", command: ["sleep", "60"]))
            try await waitUntil { try await client.service("s\(i)").state == "HEALTHY" }
            try await client.stopService("s\(i)")
            try await waitUntil { try await client.service("s\(i)").state == "STOPPED" }
        }
        try await client.deployService(ServiceSpec(name: "live", command: ["sleep", "60"]))
        // The two oldest stopped ones are forgotten; a running one never is.
        #expect(try await client.services().map(\.instance) == ["live", "s3", "s4"])
        try await client.stopService("live")
        await client.close()
        #expect(await cluster.stop() == 0)
    }
}
