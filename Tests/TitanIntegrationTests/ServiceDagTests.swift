import Foundation
import Testing
import TitanClient
import TitanLoop
import TitanPolicy
import TitanProtocol
import TitanRuntime

/// Services and jobs in one DAG: a job below a service starts once the service is healthy and
/// finds it through `TITAN_SVC_*`; the service lives as long as its DAG unless it is kept.
@Suite struct ServiceDagTests {
    static let httpServer = ["python3", "-m", "http.server", "{port}", "--bind", "127.0.0.1"]

    static func job(_ id: String, _ spec: JobSpec, after parents: [String] = []) -> DagJobSpec {
        DagJobSpec(id: id, spec: spec, dependsOn: parents)
    }

    @Test func aJobBelowAServiceTalksToItAndTheServiceEndsWithTheDag() async throws {
        let cluster = try await EmbeddedCluster.start(master: .loopbackAnyPort, workers: ServiceTests.workers(2))
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        let fetch = """
            import os, urllib.request
            port = os.environ["TITAN_SVC_WEB_PORT"]
            host = os.environ["TITAN_SVC_WEB_HOST"]
            print(os.environ["TITAN_SVC_WEB_NAME"], urllib.request.urlopen("http://%s:%s/" % (host, port)).status,
                  os.environ["TITAN_SVC_WEB_ADDRS"] == "%s:%s" % (host, port), host)
            """
        let (dagId, _) = try await client.submitDag(DagSpec(name: "eval", jobs: [
            Self.job("web", JobSpec(command: Self.httpServer, service: ServiceOptions(port: 0, health: "http:/", keep: false))),
            Self.job("query", JobSpec(command: ["python3", "-c", fetch]), after: ["web"]),
        ]))
        let dag = try await client.waitDag(dagId)
        #expect(dag.state == .completed)
        #expect(dag.jobs.map(\.state) == [.completed, .completed])
        let logs = String(decoding: try await client.logs(dagId + "/query").flatMap(\.bytes), as: UTF8.self)
        #expect(logs == "\(dagId).web 200 True 127.0.0.1\n", "\(logs)")
        // The DAG is over: its service is stopped, its process gone.
        try await waitUntil { try await client.service(dagId + ".web").state == "STOPPED" }
        #expect(try await client.service(dagId + ".web").spec.dag == dagId)
        await client.close()
        #expect(await cluster.stop() == 0)
    }

    @Test func aServiceThatDiesBeforeItIsHealthyFailsItsJobAndSkipsWhatDependsOnIt() async throws {
        let cluster = try await EmbeddedCluster.start(master: .loopbackAnyPort, workers: ServiceTests.workers(1))
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        let (dagId, _) = try await client.submitDag(DagSpec(name: "broken", jobs: [
            // Without a health check a service counts as healthy once started; with one, it must pass it.
            Self.job("db", JobSpec(command: ["sh", "-c", "echo no disk; exit 3"],
                                   service: ServiceOptions(restart: "never", port: 0, health: "tcp", keep: false))),
            Self.job("use", JobSpec(command: ["true"]), after: ["db"]),
        ]))
        let dag = try await client.waitDag(dagId)
        #expect(dag.state == .failed)
        #expect(dag.jobs.map(\.state) == [.failed, .skipped])
        #expect(dag.jobs[0].result?.error == "service '\(dagId).db' is EXITED (last exit: exit 3)")

        // A timeout bounds the wait for health: the job fails, its service is stopped.
        let (slow, _) = try await client.submitDag(DagSpec(name: "slow", jobs: [
            Self.job("deaf", JobSpec(command: ["sleep", "60"], timeoutMs: 300, service: ServiceOptions(port: 0, health: "tcp", keep: false))),
            Self.job("use", JobSpec(command: ["true"]), after: ["deaf"]),
        ]))
        let timedOut = try await client.waitDag(slow)
        #expect(timedOut.jobs.map(\.state) == [.failed, .skipped])
        #expect(timedOut.jobs[0].result?.timedOut == true)
        #expect(timedOut.jobs[0].result?.error == "its service was not healthy within 0.3 s")
        try await waitUntil { try await client.service(slow + ".deaf").state == "STOPPED" }
        await client.close()
        #expect(await cluster.stop() == 0)
    }

    @Test func aKeptServiceOutlivesItsDagAndACancelledOneStops() async throws {
        let cluster = try await EmbeddedCluster.start(master: .loopbackAnyPort, workers: ServiceTests.workers(1))
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        let (kept, _) = try await client.submitDag(DagSpec(name: "release", jobs: [
            Self.job("build", JobSpec(command: ["true"])),
            Self.job("api", JobSpec(command: ["sleep", "60"], service: ServiceOptions()), after: ["build"]),
        ]))
        #expect(try await client.waitDag(kept).state == .completed)
        let api = try await client.service("api")
        #expect(api.state == "HEALTHY")
        #expect(api.spec.dag.isEmpty)

        // A DAG cancelled while its service is still starting (it never gets healthy): the
        // service goes with it.
        let (cancelled, _) = try await client.submitDag(DagSpec(name: "stuck", jobs: [
            Self.job("deaf", JobSpec(command: ["sleep", "60"], service: ServiceOptions(port: 0, health: "tcp", keep: false))),
            Self.job("after", JobSpec(command: ["true"]), after: ["deaf"]),
        ]))
        try await waitUntil {
            let deaf = try await client.service(cancelled + ".deaf")
            return deaf.state == "STARTING" && deaf.pid > 0
        }
        let deaf = try await client.service(cancelled + ".deaf")
        try await client.cancel(cancelled)
        let dag = try await client.waitDag(cancelled)
        #expect(dag.jobs.map(\.state) == [.cancelled, .skipped])
        try await waitUntil { try await client.service(cancelled + ".deaf").state == "STOPPED" }
        try await waitUntil { !processIsAlive(deaf.pid) }
        #expect(try await client.service("api").state == "HEALTHY")
        try await client.stopService("api")
        await client.close()
        #expect(await cluster.stop() == 0)
    }

    @Test func aServiceJobWaitingAcrossAMasterRestartCompletesWhenItsServiceIsHealthy() async throws {
        let dir = try ServiceTests.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (master, loop, started) = try await ServiceTests.restartableMaster(dir, loopName: "svc-dag-master")
        var node = started
        var config = ServiceTests.workers(1)[0]
        config.serviceStartGraceMs = 120_000  // its checks fail until the test lets it listen: no restart for that
        let (worker, workerLoop) = await ServiceTests.startWorker(config, masterPort: node.port, dir: dir)
        var client = try await TitanClient.connect(to: "127.0.0.1:\(node.port)")
        // Healthy only once the file `ready` exists: the test decides when.
        let gate = dir + "/ready"
        let (dagId, _) = try await client.submitDag(DagSpec(name: "slow", jobs: [
            Self.job("svc", JobSpec(command: ["sh", "-c", "while [ ! -f \(gate) ]; do sleep 0.05; done; exec python3 -m http.server $PORT --bind 127.0.0.1"],
                                    service: ServiceOptions(port: 0, health: "tcp", keep: false))),
            Self.job("use", JobSpec(command: ["sh", "-c", "echo port $TITAN_SVC_SVC_PORT"]), after: ["svc"]),
        ]))
        try await waitUntil { try await client.service(dagId + ".svc").pid > 0 }
        let before = try await client.service(dagId + ".svc")
        await client.close()
        await node.stop()
        node = try await MasterNode.start(config: master, loop: loop, logger: EmbeddedCluster.defaultLogger)
        client = try await TitanClient.connect(to: "127.0.0.1:\(node.port)")
        #expect(try await client.status(dagId + "/svc").state == .running)
        #expect(FileManager.default.createFile(atPath: gate, contents: Data()))
        let dag = try await client.waitDag(dagId)
        #expect(dag.jobs.map(\.state) == [.completed, .completed])
        // The job below it saw the port of the first run: the service was adopted, not started
        // again (a new run gets a new port).
        let logs = String(decoding: try await client.logs(dagId + "/use").flatMap(\.bytes), as: UTF8.self)
        #expect(before.port > 0)
        #expect(logs == "port \(before.port)\n")
        try await waitUntil { try await client.service(dagId + ".svc").state == "STOPPED" }
        await client.close()
        await worker.stop()
        await node.stop()
        for l in [workerLoop, loop] { #expect(await l.shutdown() == 0) }
    }
}
