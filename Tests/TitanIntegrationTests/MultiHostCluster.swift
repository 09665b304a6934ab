import Foundation
import Synchronization
import Testing

/// Test hosts made of network namespaces (scripts/netns-cluster.sh) and the `titan` and
/// `titan-node` executables run on them: what MultiHostTests and MultiHostChaosTests share.
enum MultiHost {
    static let script = FileManager.default.currentDirectoryPath + "/scripts/netns-cluster.sh"

    /// Whether this machine can make network namespaces (root, iproute2).
    static let namespacesWork: Bool = {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") || FileManager.default.isExecutableFile(atPath: "/sbin/ip"),
              FileManager.default.isExecutableFile(atPath: script) else { return false }
        return shell([script, "check"]) == 0
    }()

    /// Runs a command to completion, synchronously (set-up and tear-down only).
    @discardableResult
    static func shell(_ arguments: [String]) -> Int32 {
        var pid: pid_t = 0
        let argv = arguments.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        guard posix_spawnp(&pid, arguments[0], nil, nil, argv, environ) == 0 else { return -1 }
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        return status
    }

    /// `titan-node` or `titan` on host `host` of the network `net`, with `configHome` as its
    /// XDG_CONFIG_HOME (the local credential of that "machine").
    static func onHost(_ net: String, _ host: String, _ tool: String, _ arguments: [String],
                       configHome: String) async throws -> Spawned {
        try await Spawned.start(["ip", "netns", "exec", "\(net)-\(host)", Tools.path(tool)] + arguments,
                                environment: ["XDG_CONFIG_HOME": configHome, "TITAN_TOKEN": "", "TITAN_TOKEN_FILE": ""])
    }

    /// `titan ARGS` on a host, to completion: (status, stdout, stderr).
    static func run(_ net: String, _ host: String, _ arguments: [String], configHome: String) async throws -> (Int32, String, String) {
        let child = try await onHost(net, host, "titan", arguments, configHome: configHome)
        guard let status = await child.waitExit(timeout: 30) else {
            child.signal(SIGKILL)
            Issue.record("titan \(arguments) on \(host) timed out")
            return (-1, child.stdout, child.stderr)
        }
        return (status, child.stdout, child.stderr)
    }

    /// Pids of live processes (not zombies) whose command line contains `marker`. The hosts share
    /// this machine's PID space, so this sees processes on every host.
    static func pids(matching marker: String) -> [pid_t] {
        let me = getpid()
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { pid_t($0) }.filter { pid in
            guard pid != me, processIsAlive(pid),
                  let raw = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            return String(decoding: raw.map { $0 == 0 ? 32 : $0 }, as: UTF8.self).contains(marker)
        }
    }
}

/// One test's network: hosts `NET-m` (.1), `-w1` (.11), `-w2` (.12) and `-c` (.21), a work
/// directory holding a config directory per host, and the processes started on them, which
/// ``tearDown()`` ends (with any process left whose command line holds ``marker``) before the
/// namespaces and the directory go.
final class MultiHostCluster: Sendable {
    let net: String
    let subnet: String
    let work: String
    /// In every job command of the test, so that its processes can be found (and killed).
    let marker: String
    private let processes = Mutex<[Spawned]>([])

    /// A network unique to this process and `index` (one per test).
    init(index: Int) throws {
        let pid = Int(getpid())
        net = "tc\(index)-\(pid % 100_000)"
        subnet = "10.\(80 + index).\(pid % 200 + 20)"
        marker = "chaos\(index)x\(pid)"
        work = try DurabilityTests.temporaryDirectory("chaos\(index)")
        MultiHost.shell([MultiHost.script, "down", net])  // a leftover of an earlier run with this pid
        guard MultiHost.shell([MultiHost.script, "up", net, subnet]) == 0 else {
            MultiHost.shell([MultiHost.script, "down", net])
            throw SetupFailure("scripts/netns-cluster.sh up \(net) \(subnet) failed")
        }
        for host in ["m", "w1", "w2", "c"] {
            try FileManager.default.createDirectory(atPath: "\(work)/\(host)", withIntermediateDirectories: true)
        }
    }

    /// A host's address (as scripts/netns-cluster.sh gives them).
    func address(_ host: String) -> String {
        switch host {
        case "m": "\(subnet).1"
        case "w1": "\(subnet).11"
        case "w2": "\(subnet).12"
        default: "\(subnet).21"
        }
    }

    var masterAddress: String { "\(subnet).1:9090" }

    /// Starts a process on `host` (its config directory as the local one); ended at tear-down.
    func start(_ host: String, _ tool: String, _ arguments: [String]) async throws -> Spawned {
        let child = try await MultiHost.onHost(net, host, tool, arguments, configHome: "\(work)/\(host)")
        processes.withLock { $0.append(child) }
        return child
    }

    /// Any program (`arguments[0]` found on PATH) on `host`; ended at tear-down.
    func startProgram(_ host: String, _ arguments: [String]) async throws -> Spawned {
        let child = try await Spawned.start(["ip", "netns", "exec", "\(net)-\(host)"] + arguments)
        processes.withLock { $0.append(child) }
        return child
    }

    /// A master on host m listening on `bind`:9090 with a data directory, once it says so.
    func startMaster(bind: String? = nil, _ arguments: [String]) async throws -> Spawned {
        let master = try await start("m", "titan-node", ["--role", "master", "--bind", bind ?? address("m"), "--port", "9090",
                                                          "--data-dir", work + "/data", "--log-level", "warning"] + arguments)
        let line = await master.firstLine()
        guard line.contains("listening on") else { throw SetupFailure("the master did not start: \(line) \(master.stderr)") }
        return master
    }

    /// A worker on `host` with id `host`, joining with the token in `tokenFile`.
    func startWorker(_ host: String, tokenFile: String, master: String? = nil, _ arguments: [String] = []) async throws -> Spawned {
        try await start(host, "titan-node", ["--role", "worker", "--master", master ?? masterAddress, "--id", host,
                                             "--token-file", tokenFile, "--data-dir", "\(work)/\(host)/data",
                                             "--log-level", "warning"] + arguments)
    }

    /// `titan ARGS` on `host`, to completion.
    func titan(_ host: String, _ arguments: [String]) async throws -> (status: Int32, out: String, err: String) {
        try await MultiHost.run(net, host, arguments, configHome: "\(work)/\(host)")
    }

    /// A token made on the master's host (its local admin credential), in a file to carry over.
    func token(_ role: String) async throws -> String {
        let (status, out, err) = try await titan("m", ["token", "create", "--role", role, "--master", masterAddress])
        guard status == 0 else { throw SetupFailure("titan token create --role \(role): \(err)") }
        let file = "\(work)/\(role).token"
        try out.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    /// Brings `host`'s link (its end of the cable to the bridge) down or up.
    func link(_ host: String, up: Bool) {
        #expect(MultiHost.shell(["ip", "-n", "\(net)-\(host)", "link", "set", "eth0", up ? "up" : "down"]) == 0)
    }

    /// Runs a command inside `host`'s namespace, synchronously; its exit status.
    @discardableResult
    func shell(on host: String, _ arguments: [String]) -> Int32 {
        MultiHost.shell(["ip", "netns", "exec", "\(net)-\(host)"] + arguments)
    }

    /// Ends every process started here: SIGTERM (a worker kills its jobs' process groups), up to 5 s
    /// to go, then SIGKILL; then any process left holding the marker (a job of a worker killed
    /// before it could end it); then the namespaces and the work directory.
    func tearDown() {
        let children = processes.withLock { $0 }
        for child in children { child.signal(SIGTERM) }
        let deadline = ContinuousClock.now + .seconds(5)
        while children.contains(where: \.isRunning) && ContinuousClock.now < deadline { usleep(20_000) }
        for child in children where child.isRunning { child.signal(SIGKILL) }
        for pid in MultiHost.pids(matching: marker) { kill(pid, SIGKILL) }
        MultiHost.shell([MultiHost.script, "down", net])
        try? FileManager.default.removeItem(atPath: work)
    }
}

/// A set-up step that failed (the test cannot go on), with what it said.
struct SetupFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Polls `condition` until true; after `seconds`, fails at the caller's line naming `what`.
func waitFor(_ what: String, seconds: Double, sourceLocation: SourceLocation = #_sourceLocation,
             _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(seconds)
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(20))
    }
    Issue.record("not within \(seconds) s: \(what)", sourceLocation: sourceLocation)
    throw CancellationError()
}
