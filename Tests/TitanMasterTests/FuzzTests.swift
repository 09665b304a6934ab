import Testing
import TitanPolicy
import TitanProtocol
import TitanStore
import TitanTestSupport
@testable import TitanMaster

/// Fuzz targets for what the master reads: journal records (decoded, round-tripped and replayed
/// into `RestoredState`), and client submissions run through the scheduler's validation.
/// Budget and seed: `TITAN_FUZZ_SECONDS` / `TITAN_FUZZ_SEED`.
@Suite("Fuzzing the master's readers")
struct FuzzTests {
    static let spec = JobSpec(command: ["sh", "-c", "echo ü|x"], environment: ["K": "v"], priority: 3, retries: 2,
                              artifacts: [ArtifactRef(hash: String(repeating: "a", count: 64), size: 9, kind: .file, destination: "x")])
    static let dag = DagSpec(name: "etl", jobs: [
        DagJobSpec(id: "a", spec: spec),
        DagJobSpec(id: "b", spec: JobSpec(command: ["true"], gate: GateSpec(message: "ok?", timeoutMs: 5)), dependsOn: ["a"],
                   affinity: .hard),
        DagJobSpec(id: "c", spec: JobSpec(command: ["srv", "{port}"], service: ServiceOptions(name: "db", port: 0, health: "tcp")),
                   dependsOn: ["a", "b"]),
    ])
    static let service = ServiceSpec(name: "api", command: ["python3", "server.py", "{port}"], environment: ["K": "v"],
                                     requirements: ["GPU"], restart: "on-failure", port: 0, health: "http:/health",
                                     replicas: 3, dag: "dag-7")
    static let schedule = ScheduleSpec(name: "n", cron: "0 3 * * MON-FRI", timeZone: "Europe/Paris", overlap: "skip",
                                       missed: "run-once", dag: dag)

    /// Every kind of record, in an order that replays cleanly.
    static let records: [JournalRecord] = JournalTests.records + [
        .jobCreated(JobInfo(id: "job-9", spec: spec, state: .running, attempts: 1, workerId: "w1", submittedAtMs: 1,
                            result: JobResult(exitCode: 3, signal: 9, error: "x", startedAtMs: 1, finishedAtMs: 2, timedOut: true))),
        .dagCreated(id: "dag-4", spec: dag, submittedAtMs: 7),
        .serviceSet(service), .serviceStopped(name: "api"), .scheduleSet(schedule, createdAtMs: 3),
        .kv(KVMutation.sadd(key: "s", member: "m").encoded()),
    ]

    @Test("JournalRecord: a typed error, or a record that round-trips and replays without a crash")
    func journalRecord() throws {
        var base = RestoredState()
        for record in Self.records { try base.apply(record) }
        let report = Fuzzer.run("journal-record", corpus: Self.records.map { $0.encoded() }) { fuzzCase in
            let record: JournalRecord
            do throws(JournalDecodeError) {
                record = try JournalRecord(decoding: fuzzCase.bytes)
            } catch {
                try fuzzCheck(!error.message.isEmpty, "an error without a message")
                return false
            }
            let again = try JournalRecord(decoding: record.encoded())
            try fuzzCheck(again == record, "round trip changed \(record) into \(again)")
            // Replayed on top of a state holding every kind of thing: applies, or says why not.
            var state = base
            do throws(JournalDecodeError) {
                try state.apply(record)
            } catch {
                try fuzzCheck(!error.message.isEmpty, "an error without a message")
            }
            try fuzzCheck(state.nextJob <= RestoredState.maxCounter && state.nextDag <= RestoredState.maxCounter,
                          "counters past the limit: \(state.nextJob), \(state.nextDag)")
            return true
        }
        #expect(report.failure == nil, "\(report)")
        #expect(report.seedsAccepted == Self.records.count, "\(report)")
    }

    @Test("submissions from clients: validation names a problem or accepts, never crashes")
    func submissionValidation() {
        let messages: [Message] = [
            .submit(Self.spec, follow: true), .submitDag(Self.dag, follow: false), .deployService(Self.service),
            .schedule(Self.schedule), .extendDag(dagId: "dag-1", jobs: Self.dag.jobs),
            .submit(JobSpec(command: ["x"], gate: GateSpec(message: "approve?", timeoutMs: 60_000)), follow: false),
        ]
        let corpus = messages.map { message in
            let encoded = NativeCodec.encode(Envelope(requestId: 1, message: message))
            return [encoded[1]] + encoded.dropFirst(TitanProto.headerSize)
        }
        let report = Fuzzer.run("submission-validation", corpus: corpus,
                                dictionary: ["{port}", "tcp", "http:/", "always", "never", "on-failure", "@daily", "*/5"]
                                    .map { Array($0.utf8) }) { fuzzCase in
            guard let opcode = fuzzCase.bytes.first,
                  let envelope = try? NativeCodec.decode(Frame(opcode: opcode, payload: Array(fuzzCase.bytes.dropFirst())))
            else { return false }
            func checkProblem(_ problem: String?) throws -> Bool {
                guard let problem else { return true }
                try fuzzCheck(problem.hasPrefix("field '") || problem.hasPrefix("invalid DAG"), "a problem naming no field: \(problem)")
                return false
            }
            switch envelope.message {
            case .submit(let spec, _):
                let accepted = try checkProblem(SchedulerActor.validate(spec))
                if accepted, spec.gate == nil, spec.service == nil {
                    try fuzzCheck(!spec.command.isEmpty && !spec.command[0].isEmpty, "accepted a job without a program")
                }
                return accepted
            case .submitDag(let dag, _):
                switch SchedulerActor.validate(dag) {
                case .success(let order):
                    try fuzzCheck(order.sorted() == Array(dag.jobs.indices), "order \(order) for \(dag.jobs.count) jobs")
                    return true
                case .failure(let problem):
                    return try checkProblem(problem.message)
                }
            case .extendDag(_, let jobs):
                if case .failure(let problem) = SchedulerActor.validate(DagSpec(name: "", jobs: jobs)) {
                    return try checkProblem(problem.message)
                }
                return true
            case .deployService(let service):
                let accepted = try checkProblem(SchedulerActor.validate(service))
                if accepted {
                    let name = Array(service.name.utf8)
                    try fuzzCheck(!name.contains(UInt8(ascii: "/")) && name != [0x2E] && name != [0x2E, 0x2E],
                                  "accepted the service name '\(service.name)'")
                }
                return accepted
            case .schedule(let schedule):
                // What `makeSchedule` checks besides the DAG: the cron expression in its zone.
                _ = try? CronSchedule(parsing: schedule.cron, timeZone: schedule.timeZone.isEmpty ? nil : schedule.timeZone)
                if case .failure(let problem) = SchedulerActor.validate(schedule.dag) { return try checkProblem(problem.message) }
                return true
            default:
                return false
            }
        }
        #expect(report.failure == nil, "\(report)")
        #expect(report.seedsAccepted == corpus.count, "\(report)")
    }

    @Test("a journal field claiming 4 GiB fails at once, naming the field, allocating nothing near it")
    func hugeJournalClaims() throws {
        let start = try #require(peakVirtualMemory())
        let claims: [([UInt8], String)] = [
            ([JournalRecord.Tag.instance.rawValue, 0xFF, 0xFF, 0xFF, 0xFF], "masterId"),
            ([JournalRecord.Tag.kv.rawValue, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3], "bytes"),
            ([JournalRecord.Tag.dagCreated.rawValue, 0, 0, 0, 1, 0x64, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF], "jobs"),
        ]
        for (bytes, field) in claims {
            #expect {
                try JournalRecord(decoding: bytes)
            } throws: { error in
                let message = (error as? JournalDecodeError)?.message ?? ""
                return message.contains(field) && message.contains("truncated")
            }
        }
        #expect(try #require(peakVirtualMemory()) - start < peakMemoryGrowthLimit)
    }

    // MARK: - Regressions found by fuzzing

    /// `job-18446744073709551615` made replay compute `UInt64.max + 1` and trap; counters near
    /// the top would have made the scheduler trap at the next submission.
    @Test("id numbers and counters at the top of UInt64 are a replay error, not a crash")
    func counterOverflow() {
        let records: [JournalRecord] = [
            .jobCreated(JobInfo(id: "job-18446744073709551615", spec: Self.spec, state: .pending, submittedAtMs: 0)),
            .dagCreated(id: "dag-18446744073709551615", spec: Self.dag, submittedAtMs: 0),
            .counters(nextJob: UInt64.max, nextDag: 1),
            .counters(nextJob: 1, nextDag: RestoredState.maxCounter + 1),
        ]
        for record in records {
            var state = RestoredState()
            #expect(throws: JournalDecodeError.self, "\(record)") { try state.apply(record) }
            #expect(state.jobs.isEmpty && state.dags.isEmpty && state.order.isEmpty, "nothing half-applied")
        }
        var state = RestoredState()
        #expect(throws: Never.self) { try state.apply(.jobCreated(JobInfo(id: "job-4611686018427387903", spec: Self.spec,
                                                                          state: .pending, submittedAtMs: 0))) }
        #expect(state.nextJob == RestoredState.maxCounter)
    }

    /// `contains("/")` on a String compares Characters, and `/` followed by a combining mark is
    /// one Character: such a service name became a directory path on the worker.
    @Test("service names are checked on bytes: '/' with a combining mark, '.' and '..' are refused")
    func serviceNames() {
        for name in ["../\u{301}x", "a/\u{301}", ".", "..", "x\u{0}"] {
            #expect(SchedulerActor.validate(ServiceSpec(name: name, command: ["x"]))?.contains("field 'name'") == true, "\(name)")
        }
        #expect(SchedulerActor.validate(ServiceSpec(name: "api.v2-\u{301}", command: ["x"]))?.contains("non-ASCII") == true)
        #expect(SchedulerActor.validate(ServiceSpec(name: "api.v2-x", command: ["x"])) == nil)
    }
}
