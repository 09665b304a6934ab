import TitanTestSupport
import Testing
import TitanProtocol


/// One named message to encode; the name is what Swift Testing shows for the test case.
struct Sample: Sendable, CustomTestStringConvertible {
    var name: String
    var envelope: Envelope
    var testDescription: String { name }
}

enum Fixtures {
    static let binary: [UInt8] = [0x00, 0x7C, 0xFF, 0x0A, 0x0D, 0x80, 0x00, 0x7C, 0x7C, 0xFE, 0xC3]
    static let bigBinary: [UInt8] = (0 ..< 70_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
    static let unicode = "héllo wörld 🚀 日本語 \u{0301}e|pipe\nnewline\u{0}nul"
    static let long = String(repeating: "abc|é", count: 400)

    static let spec = JobSpec(
        command: ["/bin/sh", "-c", "printf 'a|b\\0c' && echo \(unicode)", ""],
        environment: ["PATH": "/usr/bin:/bin", "ÜNICODE": "✓ ok", "EMPTY": "", "": "empty key", "PIPE|KEY": "v|w"],
        workingDirectory: "/tmp/wörk dir",
        requirements: ["GPU", "linux", ""],
        priority: -7,
        name: unicode,
        retries: 3,
        retryDelayMs: 250,
        timeoutMs: 60_000,
        delayMs: 1_500,
        artifacts: [ArtifactRef(hash: String(repeating: "ab", count: 32), size: 12_345, kind: .archive, destination: ""),
                    ArtifactRef(hash: String(repeating: "0f", count: 32), size: UInt64.max, kind: .file,
                                destination: "bin/rün|me", executable: true)],
        gate: GateSpec(message: "Approve the ü|deploy?", timeoutMs: 3_600_000))
    static let minimalSpec = JobSpec(command: [], priority: 0)
    static let extremeSpec = JobSpec(command: ["x"], priority: Int32.min, name: long, retries: UInt32.max,
                                     retryDelayMs: UInt64.max, timeoutMs: UInt64.max, delayMs: UInt64.max)

    static let fullResult = JobResult(exitCode: -1, signal: 9, error: "exec failed: ünknown|x",
                                      startedAtMs: 1_700_000_000_123, finishedAtMs: -5)
    static let emptyResult = JobResult()
    static let minResult = JobResult(exitCode: Int32.min, signal: Int32.max, error: "",
                                     startedAtMs: Int64.min, finishedAtMs: Int64.max, timedOut: true)

    static let ref = AttemptRef(jobId: "job-42-ü", attempt: 3)
    static let manyRefs = (0 ..< 300).map { AttemptRef(jobId: "job-\($0)", attempt: UInt32($0)) }

    static let jobInfo = JobInfo(id: "j1", spec: spec, state: .running, attempts: 2, workerId: "w-α",
                                 submittedAtMs: -1, result: fullResult, pendingReason: "")
    static let pendingInfo = JobInfo(id: "", spec: minimalSpec, state: .pending, pendingReason: "needs GPU | none free",
                                     notBeforeMs: 1_700_000_000_000)
    static let worker = WorkerInfo(id: "w1", name: "node-ü", capabilities: ["GPU", "big|mem"], slots: 8, running: 3,
                                   permanent: true, lastSeenAgoMs: 1234, runningJobs: ["j1", "j2", ""], health: "SUSPECT|ü",
                                   services: ["api", "web#2"], idleMs: 45_000, address: "10.0.0.7")
    static let emptyWorker = WorkerInfo(id: "", name: "", capabilities: [], slots: 0, running: 0,
                                        permanent: false, lastSeenAgoMs: -1, runningJobs: [])

    static let dagJobInfo = JobInfo(id: "dag-1/b", spec: spec, state: .skipped, attempts: 0, dagId: "dag-1",
                                    parents: ["dag-1/a", "dag-1/ü|x"])
    static let dagSpec = DagSpec(name: "etl ü", jobs: [
        DagJobSpec(id: "a", spec: spec),
        DagJobSpec(id: "b", spec: minimalSpec, dependsOn: ["a"], affinity: .soft),
        DagJobSpec(id: "c|ü", spec: extremeSpec, dependsOn: ["a", "b", ""], affinity: .hard),
    ])
    static let counts = JobCounts(pending: 1, running: 2, completed: 3, failed: 4, cancelled: 5, skipped: UInt32.max)
    static let dagInfo = DagInfo(id: "dag-7", name: "nightly|ü", state: .failed, submittedAtMs: -3, finishedAtMs: Int64.max,
                                 counts: counts, jobs: [jobInfo, dagJobInfo, pendingInfo])

    static let scheduleInfo = ScheduleInfo(name: "nightly", cron: "@daily", timeZone: "", overlap: "skip", missed: "skip",
                                           nextFireMs: 1_800_000_000_000, lastFireMs: -1, lastDagId: "dag-9", runs: 7,
                                           skipped: UInt32.max)

    static let messages: [(String, UInt32, Message)] = [
        ("ok", 1, .ok),
        ("error", 2, .error(.notFound, "job 'x|y' not found ✗")),
        ("error empty", UInt32.max, .error(.internalError, "")),
        ("ping", 0, .ping),
        ("pong", 3, .pong),
        ("register", 4, .register(Registration(workerId: "w-1", name: "wörker", capabilities: ["GPU", "", "ü"],
                                               slots: 4, permanent: true, running: [ref, AttemptRef(jobId: "", attempt: 0)],
                                               instance: "p-1234-ü", address: "fe80::1"))),
        ("register empty", 5, .register(Registration(workerId: "", name: "", capabilities: [], slots: 0, permanent: false))),
        ("heartbeat", 0, .heartbeat(running: manyRefs)),
        ("heartbeat empty", 6, .heartbeat(running: [])),
        ("jobOutput", 8, .jobOutput(ref, .stdout, binary)),
        ("jobOutput big stderr", 9, .jobOutput(ref, .stderr, bigBinary)),
        ("jobOutput empty", 10, .jobOutput(AttemptRef(jobId: "", attempt: UInt32.max), .stdout, [])),
        ("jobFinished full", 11, .jobFinished(ref, fullResult)),
        ("jobFinished empty", 12, .jobFinished(ref, emptyResult)),
        ("jobFinished extremes", 13, .jobFinished(ref, minResult)),
        ("registered", 14, .registered(workerId: "w-1 ✓", heartbeatIntervalMs: 1500, masterId: "m-ü|1")),
        ("dispatch", 15, .dispatch(Dispatch(jobId: "j|1", attempt: 7, spec: spec))),
        ("dispatch minimal", 16, .dispatch(Dispatch(jobId: "", attempt: 0, spec: minimalSpec))),
        ("kill", 17, .kill(ref)),
        ("ackFinished", 18, .ackFinished(AttemptRef(jobId: "日本", attempt: 1))),
        ("submit follow", 19, .submit(spec, follow: true)),
        ("submit extreme", 20, .submit(extremeSpec, follow: false)),
        ("submit service job", 21, .submit(JobSpec(command: ["srv", "{port}"], service: ServiceOptions(
            name: "db|ü", restart: "never", port: 0, health: "http:/ready", replicas: 1_000, keep: true)), follow: false)),
        ("getStatus", 21, .getStatus(jobId: "job-1")),
        ("listWorkers", 22, .listWorkers),
        ("listJobs", 23, .listJobs(limit: UInt32.max)),
        ("subscribe logs", 24, .subscribe(jobId: "j1", logs: true)),
        ("subscribe", 25, .subscribe(jobId: "", logs: false)),
        ("unsubscribe", 26, .unsubscribe(jobId: "ü|")),
        ("cancel", 27, .cancel(jobId: "j1")),
        ("getLogs", 28, .getLogs(jobId: "j1")),
        ("readLogs", 80, .readLogs(LogRead(jobId: "dag-1/ü|x", cursor: UInt64.max, limit: 1 << 20, tailLines: 100,
                                           sinceMs: -1_700_000_000_000))),
        ("readLogs defaults", 81, .readLogs(LogRead(jobId: ""))),
        ("submitted", 29, .submitted(jobId: "job-\(unicode)")),
        ("status", 30, .status(jobInfo)),
        ("status pending", 31, .status(pendingInfo)),
        ("workers", 32, .workers([worker, emptyWorker, worker])),
        ("workers empty", 33, .workers([])),
        ("jobs", 34, .jobs([jobInfo, pendingInfo] + (0 ..< 100).map {
            JobInfo(id: "job-\($0)", spec: JobSpec(command: ["echo", "\($0)"]), state: JobState.allCases[$0 % JobState.allCases.count],
                    attempts: UInt32($0), submittedAtMs: Int64($0) * -1000)
        })),
        ("jobs empty", 35, .jobs([])),
        ("logs", 36, .logs(jobId: "j1", [LogChunk(stream: .stdout, bytes: binary), LogChunk(stream: .stderr, bytes: []),
                                         LogChunk(stream: .stdout, bytes: Array("ü|\n".utf8))])),
        ("logs empty", 37, .logs(jobId: "", [])),
        ("logPage", 82, .logPage(LogPage(jobId: "j1", chunks: [LogChunk(stream: .stderr, bytes: binary),
                                                               LogChunk(stream: .stdout, bytes: bigBinary)],
                                         next: 1 << 40 | 17, end: false, skipped: UInt64.max))),
        ("logPage end", 83, .logPage(LogPage(jobId: "", chunks: [], next: 0, end: true))),
        ("event", 0, .event(JobEvent(jobId: "j1", state: .completed, attempt: 2, workerId: "w1", result: fullResult))),
        ("event no result", 0, .event(JobEvent(jobId: "j1", state: .cancelled, attempt: 0, workerId: ""))),
        ("output", 0, .output(jobId: "j1", .stderr, binary)),
        ("output empty", 0, .output(jobId: "j1", .stdout, [])),
        ("submitDag", 38, .submitDag(dagSpec, follow: true)),
        ("submitDag empty", 39, .submitDag(DagSpec(name: "", jobs: []), follow: false)),
        ("getDag", 40, .getDag(dagId: "dag-1")),
        ("listDags", 41, .listDags(limit: 20)),
        ("dagSubmitted", 42, .dagSubmitted(dagId: "dag-1", jobIds: ["dag-1/a", "dag-1/b", ""])),
        ("dag", 43, .dag(dagInfo)),
        ("dags", 44, .dags([dagInfo, DagInfo(id: "", name: "", state: .running, submittedAtMs: 0, counts: JobCounts())])),
        ("dags empty", 45, .dags([])),
        ("dagEvent", 0, .dagEvent(DagEvent(dagId: "dag-1", state: .completed, counts: counts))),
        ("schedule", 46, .schedule(ScheduleSpec(name: "nightly|ü", cron: "0 3 * * MON-FRI", timeZone: "Europe/Paris",
                                                overlap: "cancel-previous", missed: "run-once", dag: dagSpec))),
        ("listSchedules", 47, .listSchedules),
        ("unschedule", 48, .unschedule(name: "nightly")),
        ("scheduled", 49, .scheduled(scheduleInfo)),
        ("schedules", 50, .schedules([scheduleInfo, ScheduleInfo(name: "", cron: "", timeZone: "", overlap: "", missed: "",
                                                                 nextFireMs: 0, lastFireMs: 0, lastDagId: "", runs: 0, skipped: 0)])),
        ("fetchArtifact", 51, .fetchArtifact(ArtifactRange(hash: "ab12", offset: UInt64.max, length: 1 << 20))),
        ("artifactData", 52, .artifactData(ArtifactData(hash: "ab12", offset: 7, total: 70_007, bytes: bigBinary))),
        ("artifactData empty", 53, .artifactData(ArtifactData(hash: "", offset: 0, total: 0, bytes: []))),
        ("uploadArtifact", 54, .uploadArtifact(UploadChunk(uploadId: 9, name: "model|ü.bin", kind: .file, offset: 3,
                                                           bytes: binary, last: true))),
        ("uploadArtifact archive", 55, .uploadArtifact(UploadChunk(uploadId: 0, name: "", kind: .archive, offset: 0,
                                                                   bytes: [], last: false))),
        ("getArtifact", 56, .getArtifact(name: "project.zip")),
        ("artifactStored", 57, .artifactStored(ArtifactInfo(name: "p.zip", hash: "cd", size: 42, kind: .archive))),
        ("kv get", 58, .kv(.get(key: "k|ü"))),
        ("kv set", 59, .kv(.set(key: "k", value: binary, ttlMs: 60_000))),
        ("kv set empty", 60, .kv(.set(key: "", value: [], ttlMs: 0))),
        ("kv del", 61, .kv(.del(key: "k"))),
        ("kv sadd", 62, .kv(.sadd(key: "s", member: "m|ü"))),
        ("kv srem", 63, .kv(.srem(key: "s", member: ""))),
        ("kv smembers", 64, .kv(.smembers(key: "s"))),
        ("kv incr", 65, .kv(.incr(key: "n", by: Int64.min))),
        ("kvResult value", 66, .kvResult(.value(binary))),
        ("kvResult missing", 67, .kvResult(.value(nil))),
        ("kvResult integer", 68, .kvResult(.integer(-42))),
        ("kvResult members", 69, .kvResult(.members(["a", "ü|", ""]))),
        ("extendDag", 70, .extendDag(dagId: "dag-3", jobs: dagSpec.jobs)),
        ("extendDag empty", 71, .extendDag(dagId: "", jobs: [])),
        ("getStats", 72, .getStats),
        ("stats", 73, .stats(ClusterStats(queued: 3, counts: counts, workers: [worker, emptyWorker], recent: [jobInfo, pendingInfo]))),
        ("stats empty", 74, .stats(ClusterStats(queued: 0, counts: JobCounts(), workers: [], recent: []))),
        ("deployService", 75, .deployService(ServiceSpec(name: "api|ü", command: ["python3", "server.py", "{port}"],
                                                         environment: ["K": "v"], requirements: ["GPU"], restart: "on-failure",
                                                         port: 0, health: "http:/health", artifacts: spec.artifacts,
                                                         replicas: 3, dag: "dag-7"))),
        ("serviceInfos", 76, .serviceInfos([ServiceInfo(spec: ServiceSpec(name: "a", command: ["x"]), state: "HEALTHY",
                                                        workerId: "w1", pid: 4242, port: 20001, restarts: 3, lastExit: "exit 1",
                                                        startedAtMs: 1_700_000_000_000, replica: 2, host: "10.0.0.7")])),
        ("listServices", 77, .listServices),
        ("stopService", 78, .stopService(name: "api")),
        ("restartService", 79, .restartService(name: "api")),
        ("runService", 0, .runService(name: "api", generation: 7, ServiceSpec(name: "api", command: ["x"], port: 8080))),
        ("endService", 0, .endService(name: "api", generation: UInt32.max)),
        ("serviceReport", 0, .serviceReport(ServiceReport(name: "api", generation: 2, state: "CRASH_LOOP", pid: -1, port: 0,
                                                          restarts: 9, lastExit: "signal 9", startedAtMs: -1))),
        ("authHello", 40, .authHello(tokenId: "job:dag-1/ü@2", nonce: Array(0..<32))),
        ("authChallenge", 40, .authChallenge(nonce: [UInt8](repeating: 0xFF, count: 32))),
        ("authProof", 41, .authProof(Array(100..<132))),
        ("authOk", 41, .authOk(role: "worker", signature: [])),
        ("token create", 42, .token(.create(role: "submit", name: "ci", ttlMs: UInt64.max))),
        ("token list", 43, .token(.list)),
        ("token revoke", 44, .token(.revoke(id: "0a1b2c3d4e5f"))),
        ("token created", 42, .tokenResult(.created(TokenInfo(id: "0a1b", role: "read", name: "", createdAtMs: -1, expiresAtMs: 0),
                                                     token: "titan.0a1b." + String(repeating: "ab", count: 32)))),
        ("token list result", 43, .tokenResult(.list([TokenInfo(id: "x", role: "admin", name: "local", createdAtMs: 1, expiresAtMs: 2),
                                                       TokenInfo(id: "", role: "", name: "", createdAtMs: 0, expiresAtMs: 0)]))),
    ]

    static let samples: [Sample] = messages.map { Sample(name: $0.0, envelope: Envelope(requestId: $0.1, message: $0.2)) }

    /// Samples whose payload is small enough to test every truncation.
    static let smallSamples: [Sample] = samples.filter { NativeCodec.encode($0.envelope).count <= 4096 }
}

/// The payload of a frame encoded by `NativeCodec` (header stripped).
func payload(of envelope: Envelope) -> [UInt8] {
    Array(NativeCodec.encode(envelope).dropFirst(TitanProto.headerSize))
}

/// Decodes a native frame built from an opcode and raw payload.
func decode(opcode: UInt8, _ payload: [UInt8]) throws(ProtocolError) -> Envelope {
    try NativeCodec.decode(Frame(opcode: opcode, payload: payload))
}

/// The `malformed` reason, or nil if `body` did not throw `malformed`.
func malformedReason(_ body: () throws(ProtocolError) -> Envelope) -> String? {
    do {
        _ = try body()
        return nil
    } catch {
        if case .malformed(_, let reason) = error { return reason }
        return nil
    }
}

/// Builds a native payload by hand: request id then whatever `body` writes.
func handPayload(requestId: UInt32 = 1, _ body: (inout BinaryWriter) -> Void) -> [UInt8] {
    var writer = BinaryWriter()
    writer.writeU32(requestId)
    body(&writer)
    return writer.bytes
}
