import Foundation
import Testing

/// Approval gates are one thing to `titan approvals`, `titan approve` and `titan reject`,
/// whether the original Titan's SDK made them (over v1: a job running a gate script that
/// registers its own name, `hitl-gate-x`, and polls its status key) or they are native (YAML
/// `hitl_message`): listed while open, no longer once decided or ended, and decided by the id
/// listed or another name of the same gate.
@Suite(.serialized) struct GateCLITests {
    /// What the original Titan's gate script does, our own version: registers `GATE` in the
    /// queue, WAITING, its message; polls until APPROVED (exit 0), REJECTED or its deadline
    /// (exit 1). Speaks the original protocol to the master the worker names.
    static let gateScript = """
        import os, socket, struct, sys, time
        ADDRESS = (os.environ.get("TITAN_HOST", "127.0.0.1"), int(os.environ.get("TITAN_PORT", "9090")))

        def exact(s, n):
            data = b""
            while len(data) < n:
                chunk = s.recv(n - len(data))
                if not chunk:
                    raise ConnectionError("closed")
                data += chunk
            return data

        def call(op, text):
            with socket.create_connection(ADDRESS, timeout=10) as s:
                body = text.encode()
                s.sendall(struct.pack(">BBBBI", 1, op, 0, 0, len(body)) + body)
                return exact(s, struct.unpack(">BBBBI", exact(s, 8))[4]).decode()

        gate, wait, message = sys.argv[1], int(sys.argv[2]), " ".join(sys.argv[3:])
        status = call(0x61, "titan:hitl:status:" + gate)
        if status in ("APPROVED", "REJECTED"):
            sys.exit(0 if status == "APPROVED" else 1)
        call(0x62, "titan:hitl:queue|" + gate)
        call(0x60, "titan:hitl:status:" + gate + "|WAITING")
        call(0x60, "titan:hitl:message:" + gate + "|" + message)
        deadline = time.time() + wait
        while time.time() < deadline:
            status = call(0x61, "titan:hitl:status:" + gate)
            if status in ("APPROVED", "REJECTED"):
                print("gate", status)
                sys.exit(0 if status == "APPROVED" else 1)
            time.sleep(0.05)
        call(0x60, "titan:hitl:status:" + gate + "|TIMEOUT")
        sys.exit(1)
        """

    static func b64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }

    /// A DAG as the original SDK sends one for `TitanJob(STEP, ..., hitl_message=MESSAGE)`
    /// followed by `TitanJob(NEXT, ..., parents=[STEP])`: the gate job `hitl-gate-STEP` runs
    /// the gate script between them. Its status key is cleared first, as the SDK did.
    static func submitGated(_ step: String, then next: String, message: String, port: Int) throws {
        let gate = "hitl-gate-\(step)"
        #expect(try V1ProtocolTests.call(port, 0x60, "titan:hitl:status:\(gate)|CLEARED").text == "OK")
        let lines = [
            "\(step)|RUN_PAYLOAD|\(step).sh||\(b64("echo \(step) done"))|GENERAL|1|0|[]",
            "\(gate)|RUN_PAYLOAD|hitl_gate.py|\(gate) 120 \(message)|\(b64(gateScript))|GENERAL|1|0|[\(step)]",
            "\(next)|RUN_PAYLOAD|\(next).sh||\(b64("echo \(next) ran"))|GENERAL|1|0|[\(gate)]",
        ]
        #expect(try V1ProtocolTests.call(port, 0x04, lines.joined(separator: " ; ")) == (0x50, "DAG_ACCEPTED"))
    }

    @Test func gatesOfTheOriginalSDKAreListedWhileOpenAndDecidedByAnyOfTheirNames() async throws {
        let master = try await NodeProcess(["--role", "master", "--port", "0"])
        defer { master.signal(SIGTERM) }  // also if the test stops early (a worker ends its jobs)
        let port = try #require(master.port)
        let env = ["TITAN_MASTER": "127.0.0.1:\(port)"]
        let worker = try await NodeProcess(["--role", "worker", "--master", "127.0.0.1:\(port)", "--id", "w", "--slots", "4"])
        defer { worker.signal(SIGTERM) }  // also if the test stops early (a worker ends its jobs)
        func approvals() async throws -> String { try await Tools.run("titan", ["approvals"], environment: env).stdout }
        func v1Status(_ id: String) throws -> String { try V1ProtocolTests.call(port, 0x55, id).text }

        // Approved by the DAG- form of its name.
        try Self.submitGated("prep", then: "train", message: "Approve the data?", port: port)
        try await waitUntil(seconds: 20) { try await approvals().contains("hitl-gate-prep  Approve the data?") }
        #expect(try v1Status("DAG-train") == "PENDING")
        let approved = try await Tools.run("titan", ["approve", "DAG-hitl-gate-prep"], environment: env)
        #expect(approved.status == 0 && approved.stdout == "hitl-gate-prep approved\n", "\(approved.stderr)")
        #expect(try await approvals() == "no gate is waiting\n")  // decided: no longer listed
        try await waitUntil(seconds: 20) { try v1Status("DAG-train") == "COMPLETED" }
        #expect(try V1ProtocolTests.call(port, 0x16, "DAG-train").text == "train ran")

        // Rejected by the name listed: what follows fails (skipped, reported FAILED over v1).
        try Self.submitGated("load", then: "publish", message: "Load it?", port: port)
        try await waitUntil(seconds: 20) { try await approvals().contains("hitl-gate-load  Load it?") }
        let rejected = try await Tools.run("titan", ["reject", "hitl-gate-load"], environment: env)
        #expect(rejected.stdout == "hitl-gate-load rejected\n", "\(rejected.stderr)")
        try await waitUntil(seconds: 20) { try v1Status("DAG-hitl-gate-load") == "FAILED" }
        #expect(try v1Status("DAG-publish") == "FAILED")
        #expect(try await approvals() == "no gate is waiting\n")

        // Decided by its job's own id; and one cancelled while waiting leaves the list.
        try Self.submitGated("fit", then: "ship", message: "Fit?", port: port)
        try Self.submitGated("scan", then: "report", message: "Scan?", port: port)
        try await waitUntil(seconds: 20) {
            let listed = try await approvals()
            return listed.contains("hitl-gate-fit  Fit?") && listed.contains("hitl-gate-scan  Scan?")
        }
        let fitJob = try await Tools.run("titan", ["status", "DAG-hitl-gate-fit", "--json"], environment: env).stdout
        let fitId = try #require((try JSONSerialization.jsonObject(with: Data(fitJob.utf8)) as? [String: Any])?["id"] as? String)
        #expect(fitId.hasSuffix("/DAG-hitl-gate-fit"))
        #expect(try await Tools.run("titan", ["approve", fitId], environment: env).stdout == "hitl-gate-fit approved\n")
        try await waitUntil(seconds: 20) { try v1Status("DAG-ship") == "COMPLETED" }
        #expect(try V1ProtocolTests.call(port, 0x56, "DAG-hitl-gate-scan").text == "CANCELLED")
        try await waitUntil { try await approvals() == "no gate is waiting\n" }
        let late = try await Tools.run("titan", ["approve", "hitl-gate-scan"], environment: env)
        #expect(late.status != 0 && late.stderr.contains("is not a gate waiting for a decision"), "\(late.stderr)")
        #expect(await worker.terminate() == 0)
        #expect(await master.terminate() == 0)
    }

    @Test func nativeGatesAreListedWhileOpenAndDecidedByAnyOfTheirNames() async throws {
        let master = try await NodeProcess(["--role", "master", "--port", "0"])
        defer { master.signal(SIGTERM) }  // also if the test stops early (a worker ends its jobs)
        let port = try #require(master.port)
        let env = ["TITAN_MASTER": "127.0.0.1:\(port)"]
        let worker = try await NodeProcess(["--role", "worker", "--master", "127.0.0.1:\(port)", "--id", "w", "--slots", "4"])
        defer { worker.signal(SIGTERM) }  // also if the test stops early (a worker ends its jobs)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("titan-gates-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        func pipeline(_ name: String, _ step: String) throws -> String {
            let path = dir.appendingPathComponent("\(name).yaml").path
            try """
            name: \(name)
            jobs:
              - id: \(step)
                command: "echo \(step) done"
                hitl_message: "\(step)?"
              - id: after-\(step)
                command: "echo after \(step)"
                depends_on: [\(step)]
            """.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        func submit(_ path: String) async throws -> String {
            let run = try await Tools.run("titan", ["submit", path], environment: env)
            #expect(run.status == 0, "\(run.stderr)")
            return run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        func approvals() async throws -> String { try await Tools.run("titan", ["approvals"], environment: env).stdout }
        func state(_ id: String) async throws -> String {
            let out = try await Tools.run("titan", ["status", id, "--json"], environment: env).stdout
            return (try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])?["state"] as? String ?? out
        }

        // Two open gates of the same name: the short name is ambiguous, the listed ids are not.
        let a = try await submit(try pipeline("a", "check"))
        let b = try await submit(try pipeline("b", "check"))
        try await waitUntil(seconds: 20) {
            let listed = try await approvals()
            return listed.contains("\(a)/hitl-gate-check  check?") && listed.contains("\(b)/hitl-gate-check  check?")
        }
        let ambiguous = try await Tools.run("titan", ["approve", "hitl-gate-check"], environment: env)
        #expect(ambiguous.status != 0 && ambiguous.stderr.contains("names several waiting gates"), "\(ambiguous.stderr)")
        let first = try await Tools.run("titan", ["approve", "\(a)/hitl-gate-check"], environment: env)
        #expect(first.stdout == "\(a)/hitl-gate-check approved\n", "\(first.stderr)")
        try await waitUntil(seconds: 20) { try await state(a) == "COMPLETED" }
        #expect(try await approvals() == "\(b)/hitl-gate-check  check?\n")
        // Now the short name is unique; the DAG- form names the latest job of that name.
        let second = try await Tools.run("titan", ["reject", "DAG-hitl-gate-check"], environment: env)
        #expect(second.stdout == "\(b)/hitl-gate-check rejected\n", "\(second.stderr)")
        try await waitUntil(seconds: 20) { try await state(b) == "FAILED" }
        #expect(try await state("\(b)/after-check") == "SKIPPED")
        #expect(try await approvals() == "no gate is waiting\n")

        let c = try await submit(try pipeline("c", "review"))
        try await waitUntil(seconds: 20) { try await approvals().contains("\(c)/hitl-gate-review") }
        #expect(try await Tools.run("titan", ["approve", "hitl-gate-review"], environment: env).stdout
            == "\(c)/hitl-gate-review approved\n")
        try await waitUntil(seconds: 20) { try await state(c) == "COMPLETED" }
        // Errors name what is wrong.
        let decided = try await Tools.run("titan", ["approve", "\(c)/hitl-gate-review"], environment: env)
        #expect(decided.stderr.contains("\(c)/hitl-gate-review is already COMPLETED"), "\(decided.stderr)")
        let notGate = try await Tools.run("titan", ["approve", "\(c)/review"], environment: env)
        #expect(notGate.stderr.contains("\(c)/review is not a gate"), "\(notGate.stderr)")
        let unknown = try await Tools.run("titan", ["approve", "nope"], environment: env)
        #expect(unknown.status != 0 && unknown.stderr.contains("no gate 'nope' is waiting"), "\(unknown.stderr)")
        #expect(await worker.terminate() == 0)
        #expect(await master.terminate() == 0)
    }
}
