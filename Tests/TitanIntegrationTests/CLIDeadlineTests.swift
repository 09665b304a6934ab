import Foundation
import Testing

/// Every `titan` command against a port where something that is not a master listens ends with
/// an error naming the address and what did not happen, within its deadline: never a hang.
@Suite(.serialized) struct CLIDeadlineTests {
    /// One command of each family (the arguments after `titan`); `FILE` and `DIR` are replaced.
    static let commands: [[String]] = [
        ["run", "--", "true"], ["run", "--detach", "--", "true"], ["submit", "FILE"], ["status", "job-1"],
        ["status", "dag-1"], ["logs", "job-1"], ["logs", "-f", "dag-1"], ["jobs"], ["dags"], ["workers"],
        ["cancel", "job-1"], ["upload", "DIR"], ["kv", "get", "k"], ["kv", "set", "k", "v"], ["approvals"],
        ["approve", "dag-1/g"], ["deploy", "--", "sleep", "1"], ["services"], ["stop", "svc"], ["restart", "svc"],
        ["schedules"], ["unschedule", "s"], ["token", "list"],
    ]

    /// Runs every command against `address` at once; each must fail within `limit` seconds with
    /// stderr containing the address and `expected`.
    private func expectAll(at address: String, environment: [String: String], expected: String,
                           limit: Double, extra: [String] = []) async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("titan-deadline-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "name: p\njobs:\n  - {id: a, command: [\"true\"]}\n".write(toFile: dir + "/p.yaml", atomically: true, encoding: .utf8)
        var env = environment
        env["TITAN_MASTER"] = address
        let runs = Self.commands.map { command in
            // Options right after the command's name (`kv get`, `token list`): `run` and `deploy`
            // pass on what follows `--`.
            let name = ["kv", "token"].contains(command[0]) ? 2 : 1
            return Array(command.prefix(name)) + extra + command.dropFirst(name).map { $0 == "FILE" ? dir + "/p.yaml" : $0 == "DIR" ? dir : $0 }
        }
        let results = await withTaskGroup(of: ([String], Tools.Output?, Double).self) { group in
            for arguments in runs {
                group.addTask { [env] in
                    let start = ContinuousClock.now
                    let output = try? await Tools.run("titan", arguments, environment: env, timeout: limit + 30)
                    let elapsed = start.duration(to: .now)
                    return (arguments, output, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
                }
            }
            var all: [([String], Tools.Output?, Double)] = []
            for await result in group { all.append(result) }
            return all
        }
        #expect(results.count == runs.count)
        for (arguments, output, seconds) in results {
            let output = try #require(output, "titan \(arguments) did not start")
            #expect(output.status == 1, "titan \(arguments): exit \(output.status), \(output.stderr)")
            #expect(output.stderr.contains(address) && output.stderr.contains(expected),
                    "titan \(arguments): \(output.stderr)")
            // Within the deadline (plus a process start on a busy machine), not a hang.
            #expect(seconds < limit + 15, "titan \(arguments) took \(seconds) s")
        }
    }

    private var noToken: [String: String] {
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("titan-no-config-\(UUID().uuidString)").path
        return ["TITAN_TOKEN": "", "TITAN_TOKEN_FILE": "", "XDG_CONFIG_HOME": empty, "HOME": empty]
    }

    private let aToken = ["TITAN_TOKEN": "titan.nosuch." + String(repeating: "0", count: 64)]

    @Test func aListenerThatNeverAnswersTimesOutAuthentication() async throws {
        let peer = try FakePeer(.silent)
        defer { peer.close() }
        try await expectAll(at: peer.address, environment: aToken.merging(["TITAN_REQUEST_TIMEOUT": "1.5"]) { $1 },
                            expected: "authentication with the master at \(peer.address) timed out: no answer within 1.5s",
                            limit: 1.5)
    }

    @Test func aListenerThatNeverAnswersTimesOutTheFirstRequest() async throws {
        let peer = try FakePeer(.silent)
        defer { peer.close() }
        try await expectAll(at: peer.address, environment: noToken, expected: "request timed out: the master at",
                            limit: 1.5, extra: ["--request-timeout", "1.5"])
    }

    @Test func aListenerThatAnswersGarbageIsNamedNotTitan() async throws {
        let peer = try FakePeer(.garbage)
        defer { peer.close() }
        try await expectAll(at: peer.address, environment: aToken, expected: "is not a Titan master", limit: 1)
        try await expectAll(at: peer.address, environment: noToken, expected: "is not a Titan master", limit: 1)
    }

    @Test func aConnectThatGetsNoAnswerTimesOut() async throws {
        let peer = try FakePeer(.full)
        defer { peer.close() }
        for command in [["workers"], ["run", "--", "true"], ["logs", "-f", "job-1"]] {
            let output = try await Tools.run("titan", [command[0], "--master", peer.address, "--request-timeout", "1"] + command.dropFirst(),
                                             timeout: 30)
            #expect(output.status == 1)
            #expect(output.stderr.contains("cannot connect to master at \(peer.address): connect timed out after 1s"), "\(output.stderr)")
        }
    }

    @Test func aTLSHandshakeThatGetsNoAnswerTimesOut() async throws {
        let peer = try FakePeer(.silent)
        defer { peer.close() }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("titan-tls-deadline-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ca = try await Tools.run("titan", ["certs", "ca", "--dir", dir])
        #expect(ca.status == 0, "\(ca.stderr)")
        let output = try await Tools.run("titan", ["workers", "--master", peer.address, "--tls-ca", dir + "/ca.pem",
                                                   "--request-timeout", "1"], timeout: 30)
        #expect(output.status == 1)
        #expect(output.stderr.contains("TLS with the master at \(peer.address): no TLS handshake within 1s"), "\(output.stderr)")
    }

    @Test func badTimeoutsAreRefused() async throws {
        let flag = try await Tools.run("titan", ["workers", "--request-timeout", "soon"])
        #expect(flag.status != 0)
        #expect(flag.stderr.contains("--request-timeout: 'soon' is not a number of seconds"), "\(flag.stderr)")
        let variable = try await Tools.run("titan", ["workers"], environment: ["TITAN_REQUEST_TIMEOUT": "-3"])
        #expect(variable.status != 0)
        #expect(variable.stderr.contains("TITAN_REQUEST_TIMEOUT: '-3' is not a number of seconds"), "\(variable.stderr)")
    }
}
