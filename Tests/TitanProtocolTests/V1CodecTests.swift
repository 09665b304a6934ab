import Testing
import TitanProtocol
import TitanTestSupport

@Suite("v1 codec (the original Titan protocol)")
struct V1CodecTests {
    func decode(_ opcode: UInt8, _ text: String) throws(V1Error) -> V1Request {
        try V1Codec.decode(opcode: opcode, payload: Array(text.utf8))
    }

    @Test("DAG lines as the original SDK sends them")
    func dagLines() throws {
        let payload = "extract|RUN_PAYLOAD|extract.py|--day 2024-01-01|cHJpbnQoMSk=|GENERAL|5|100|[] ; "
            + "train|DEPLOY_PAYLOAD|server.py|c2VydmU=|8080|GPU|1|0|[extract]|AFFINITY ; "
            + "DAG-report|RUN_ARCHIVE|proj.zip/src/report.py|a b|GENERAL|2|0|[DAG-extract,train] ; "
            + "svc|START_ARCHIVE_SERVICE|proj.zip/app.py||9000|HIGH_MEM|1|0|[report]|STICKY"
        let request = try decode(0x04, payload)
        #expect(request == .submitDag([
            V1Job(id: "DAG-extract", kind: .runPayload, file: "extract.py", args: ["--day", "2024-01-01"],
                  scriptBase64: "cHJpbnQoMSk=", requirement: "GENERAL", priority: 5, delayMs: 100),
            V1Job(id: "DAG-train", kind: .deployPayload, file: "server.py", scriptBase64: "c2VydmU=", port: 8080,
                  requirement: "GPU", parents: ["DAG-extract"], affinity: true),
            V1Job(id: "DAG-report", kind: .runArchive, file: "proj.zip/src/report.py", args: ["a", "b"], priority: 2,
                  parents: ["DAG-extract", "DAG-train"]),
            V1Job(id: "DAG-svc", kind: .startArchiveService, file: "proj.zip/app.py", port: 9000, requirement: "HIGH_MEM",
                  parents: ["DAG-report"], affinity: true),
        ]))
    }

    @Test("bad DAG lines name the line and the problem", arguments: [
        ("a|RUN_PAYLOAD|x.py||Zg==|GENERAL|1|0", "line 1", "parent list"),
        ("a|RUN_PAYLOAD|x.py||Zg==|GENERAL|1|0|[] ; b|FLY|x|1|0|[]", "line 2", "unknown job type 'FLY'"),
        ("a|RUN_PAYLOAD|x.py||Zg==|GENERAL|high|0|[]", "line 1", "priority 'high'"),
        ("a|RUN_PAYLOAD|x.py||Zg==|GENERAL|1|-5|[]", "line 1", "delay '-5'"),
        ("a|RUN_PAYLOAD|../x.py||Zg==|GENERAL|1|0|[]", "line 1", "not a plain file name"),
        ("a|RUN_ARCHIVE|p.zip/../../x.py||GENERAL|1|0|[]", "line 1", "without '..'"),
        ("a|RUN_ARCHIVE|noslash.py||GENERAL|1|0|[]", "line 1", "ZIP/ENTRY"),
        ("a|DEPLOY_PAYLOAD|s.py|Zg==|99999|GENERAL|1|0|[]", "line 1", "port '99999'"),
        ("a|RUN_PAYLOAD|x.py|Zg==|GENERAL|1|0|[]", "line 1", "takes 4 fields"),
        (" ; ", "no jobs", ""),
    ])
    func badLines(payload: String, fragment1: String, fragment2: String) {
        #expect {
            _ = try decode(0x04, payload)
        } throws: { error in
            let message = (error as? V1Error)?.message ?? ""
            return message.hasPrefix("ERROR: ") && message.contains(fragment1) && (fragment2.isEmpty || message.contains(fragment2))
        }
    }

    @Test("SUBMIT_JOB with and without an id, priority and delay")
    func submitJob() throws {
        #expect(try decode(0x03, "RUN_PAYLOAD|x.sh|a|ZWNobw==|GENERAL") == .submitJob(
            V1Job(id: "", kind: .runPayload, file: "x.sh", args: ["a"], scriptBase64: "ZWNobw==")))
        #expect(try decode(0x03, "myjob|RUN_PAYLOAD|x.sh||ZWNobw==|GPU|7|250") == .submitJob(
            V1Job(id: "DAG-myjob", kind: .runPayload, file: "x.sh", scriptBase64: "ZWNobw==", requirement: "GPU",
                  priority: 7, delayMs: 250)))
        #expect(throws: V1Error.self) { try decode(0x03, "RUN_PAYLOAD|x.sh") }
        #expect(throws: V1Error.self) { try decode(0x03, "nothing here") }
    }

    @Test("KV, uploads and the rest")
    func others() throws {
        #expect(try decode(0x60, "k|a|b|c") == .kvSet(key: "k", value: "a|b|c"))
        #expect(try decode(0x61, "k") == .kvGet(key: "k"))
        #expect(try decode(0x62, "titan:hitl:queue|gate-1") == .kvSadd(key: "titan:hitl:queue", member: "gate-1"))
        #expect(try decode(0x63, "s") == .kvSmembers(key: "s"))
        #expect(try decode(0x53, "model.bin|AAEC") == .uploadAsset(name: "model.bin", base64: "AAEC"))
        #expect(try decode(0x54, "model.bin") == .fetchAsset(name: "model.bin"))
        #expect(try decode(0x57, "w.py|cA==") == .deployScript(name: "w.py", base64: "cA=="))
        #expect(try decode(0x05, "w.py|8080|GPU") == .deploy(file: "w.py", port: 8080, requirement: "GPU"))
        #expect(try decode(0x06, "w.py") == .run(file: "w.py", requirement: "GENERAL"))
        #expect(try decode(0x55, "DAG-x") == .getJobStatus(id: "DAG-x"))
        #expect(try decode(0x16, "DAG-x") == .getLogs(id: "DAG-x"))
        #expect(try decode(0x56, "DAG-x") == .cancelJob(id: "DAG-x"))
        #expect(try decode(0x07, "DAG-svc") == .stop(id: "DAG-svc"))
        #expect(try decode(0x08, "") == .stats)
        #expect(try decode(0x09, "") == .statsJSON)
        #expect(try decode(0x11, "10.0.0.1|8081") == .killWorker(host: "10.0.0.1", port: 8081))
        for evil in ["../etc/passwd|AA==", "a/b|AA==", "..|AA=="] {
            #expect(throws: V1Error.self) { try decode(0x53, evil) }
        }
        #expect(throws: V1Error("UNKNOWN_OPCODE: 153")) { try decode(0x99, "x") }
        #expect(throws: V1Error.self) { try V1Codec.decode(opcode: 0x61, payload: [0xFF, 0xFE]) }
        #expect(throws: V1Error.self) { try decode(0x55, "  ") }
    }

    @Test("random payloads for every v1 opcode never crash", arguments: V1Opcode.allCases.map(\.rawValue))
    func fuzz(opcode: UInt8) {
        var rng = SplitMix64(seed: UInt64(opcode))
        let alphabet = Array("|;[],ab0123 \n=DAG-RUN_PAYLOAD/.zip".utf8) + [0xFF, 0x00]
        for _ in 0 ..< 500 {
            let count = Int.random(in: 0...60, using: &rng)
            let payload = (0 ..< count).map { _ in alphabet[Int.random(in: 0 ..< alphabet.count, using: &rng)] }
            _ = try? V1Codec.decode(opcode: opcode, payload: payload)
        }
    }
}
