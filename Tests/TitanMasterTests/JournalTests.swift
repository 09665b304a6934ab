import Foundation
import TitanAuth
import Logging
import Testing
import TitanLoop
import TitanProtocol
import TitanStore
@testable import TitanMaster

@Suite("Journal records and replay")
struct JournalTests {
    static let spec = JobSpec(command: ["sh", "-c", "echo ü|x"], environment: ["K": "v"], priority: 3, retries: 2,
                              artifacts: [ArtifactRef(hash: String(repeating: "a", count: 64), size: 9, kind: .file, destination: "x")])
    static let dag = DagSpec(name: "etl", jobs: [
        DagJobSpec(id: "a", spec: spec),
        DagJobSpec(id: "b", spec: JobSpec(command: ["true"]), dependsOn: ["a"], affinity: .hard),
    ])
    static let records: [JournalRecord] = [
        .instance(masterId: "m1"),
        .counters(nextJob: 7, nextDag: 3),
        .jobCreated(JobInfo(id: "job-5", spec: spec, state: .pending, submittedAtMs: 123)),
        .dagCreated(id: "dag-2", spec: dag, submittedAtMs: 456),
        .dagExtended(id: "dag-2", jobs: [DagJobSpec(id: "c", spec: JobSpec(command: ["true"]), dependsOn: ["b"])], atMs: 500),
        .jobState(JobStateChange(id: "dag-2/a", state: .failed, attempts: 3, workerId: "w",
                                 result: JobResult(exitCode: 1, startedAtMs: 1, finishedAtMs: 2), notBeforeMs: 0, failures: 3)),
        .jobState(JobStateChange(id: "job-5", state: .pending, attempts: 1, workerId: "w2", result: nil,
                                 notBeforeMs: 999, failures: 1)),
        .dagFinished(id: "dag-2", atMs: 789),
        .scheduleSet(ScheduleSpec(name: "n", cron: "@daily", timeZone: "UTC", overlap: "skip", missed: "run-once", dag: dag),
                     createdAtMs: 1000),
        .scheduleState(name: "n", lastFireMs: 2000, lastDagId: "dag-2", runs: 1, skipped: 4),
        .kv(KVMutation.set(key: "k", value: [0, 255], expiresAtMs: nil).encoded()),
        .scheduleRemoved(name: "gone"),
    ]

    @Test("every record survives encoding")
    func roundTrip() throws {
        for record in Self.records {
            #expect(try JournalRecord(decoding: record.encoded()) == record)
        }
    }

    @Test("truncated or unknown records are errors, not guesses")
    func malformed() {
        for record in Self.records {
            let bytes = record.encoded()
            for cut in 0 ..< bytes.count {
                #expect(throws: JournalDecodeError.self) { try JournalRecord(decoding: Array(bytes[..<cut])) }
            }
            #expect(throws: JournalDecodeError.self) { try JournalRecord(decoding: bytes + [0]) }
        }
        #expect(throws: JournalDecodeError.self) { try JournalRecord(decoding: [200]) }
    }

    @Test("replaying the records rebuilds the state")
    func reducer() throws {
        var state = RestoredState()
        for record in Self.records { try state.apply(record) }
        #expect(state.masterId == "m1")
        #expect(state.nextJob == 7)
        #expect(state.nextDag == 3)
        #expect(state.order.map(\.id) == ["job-5", "dag-2"])
        #expect(state.jobs["dag-2/a"]?.state == .failed)
        #expect(state.jobs["dag-2/a"]?.attempts == 3)
        #expect(state.failures["dag-2/a"] == 3)
        #expect(state.jobs["dag-2/b"]?.state == .pending)
        #expect(state.jobs["dag-2/b"]?.parents == ["dag-2/a"])
        #expect(state.jobs["job-5"]?.notBeforeMs == 999)
        #expect(state.jobs["dag-2/c"]?.parents == ["dag-2/b"])
        #expect(state.jobs["dag-2/c"]?.submittedAtMs == 500)
        #expect(state.dags["dag-2"]?.spec.jobs.map(\.id) == ["a", "b", "c"])
        #expect(state.dags["dag-2"]?.finishedAtMs == 789)
        #expect(state.schedules["n"]?.runs == 1)
        #expect(state.schedules["n"]?.skipped == 4)
        #expect(try state.kv.get("k", nowMs: 0) == [0, 255])
        var broken = RestoredState()
        #expect(throws: JournalDecodeError.self) {
            try broken.apply(.jobState(JobStateChange(id: "nope", state: .running, attempts: 1, workerId: "", result: nil,
                                                      notBeforeMs: 0, failures: 0)))
        }
    }

    /// A master with no workers: submitted work stays pending, which is all the journal needs.
    static func runMaster(in directory: String, _ body: @escaping @Sendable (String) async throws -> Void) async throws {
        let loop = EventLoop()
        var config = MasterConfig()
        config.port = 0
        config.dataDirectory = directory
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let master = try await MasterNode.start(config: config, loop: loop, logger: logger)
        try await body("127.0.0.1:\(master.port)")
        await master.stop()
        #expect(await loop.shutdown() == 0)
    }

    @Test("a cut anywhere inside the last record keeps every record before it")
    func truncatedTail() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("titan-journal-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try await Self.runMaster(in: dir) { address in
            let client = try await TitanClientStub.connect(address)
            for i in 0 ..< 3 { _ = try await client.request(.submit(JobSpec(command: ["echo", "\(i)"]), follow: false)) }
            let dag = DagSpec(name: "d", jobs: [DagJobSpec(id: "a", spec: JobSpec(command: ["true"])),
                                                DagJobSpec(id: "b", spec: JobSpec(command: ["true"]), dependsOn: ["a"])])
            let reply = try await client.request(.submitDag(dag, follow: false))
            #expect(reply == .dagSubmitted(dagId: "dag-1", jobIds: ["dag-1/a", "dag-1/b"]))
            await client.close()
        }
        let path = dir + "/titan.aof"
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        // Walk the records: 12-byte file header, then length, CRC, payload.
        var offset = 12
        var starts: [Int] = []
        while offset < bytes.count {
            starts.append(offset)
            let length = bytes[offset ..< offset + 4].reduce(0) { $0 << 8 | Int($1) }
            offset += 8 + length
        }
        #expect(offset == bytes.count)
        let all = try MasterNode.openJournal(directory: dir, fsync: .no, logger: Logger(label: "t")).state
        #expect(all.records == starts.count)
        #expect(all.jobs.count == 5)
        let last = try #require(starts.last)
        let cutDir = dir + "-cut"
        defer { try? FileManager.default.removeItem(atPath: cutDir) }
        for cut in last + 1 ..< bytes.count {
            try? FileManager.default.removeItem(atPath: cutDir)
            try FileManager.default.createDirectory(atPath: cutDir, withIntermediateDirectories: true)
            try Data(bytes[..<cut]).write(to: URL(fileURLWithPath: cutDir + "/titan.aof"))
            var logger = Logger(label: "t")
            logger.logLevel = .critical
            let opened = try MasterNode.openJournal(directory: cutDir, fsync: .no, logger: logger)
            #expect(opened.state.records == starts.count - 1, "cut at \(cut)")
            try await opened.log.close()
            // Repaired: the file now ends at the last whole record.
            let size = try FileManager.default.attributesOfItem(atPath: cutDir + "/titan.aof")[.size] as? Int
            #expect(size == last, "cut at \(cut)")
        }
    }

    @Test("a master whose append-only file cannot be written does not start")
    func fullDisk() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("titan-full-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: dir + "/titan.aof", withDestinationPath: "/dev/full")
        let loop = EventLoop()
        var config = MasterConfig()
        config.port = 0
        config.dataDirectory = dir
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        do {
            _ = try await MasterNode.start(config: config, loop: loop, logger: logger)
            Issue.record("started on a full disk")
        } catch {
            #expect("\(error)".contains("append-only file"), "\(error)")
            #expect("\(error)".contains("space"), "\(error)")
        }
        #expect(await loop.shutdown() == 0)
    }
}

/// The smallest native client: enough to drive a master from TitanMasterTests (which does not
/// link TitanClient).
actor TitanClientStub: LoopBound {
    nonisolated let eventLoop: EventLoop
    private let connection: TCPConnection
    private var decoder = FrameDecoder()
    private var waiters: [UInt32: CheckedContinuation<Message, Never>] = [:]
    private var next: UInt32 = 1

    private init(loop: EventLoop, connection: TCPConnection) {
        eventLoop = loop
        self.connection = connection
    }

    static func connect(_ address: String) async throws -> TitanClientStub {
        let loop = EventLoop()
        let parts = address.split(separator: ":")
        let conn = try await TCPConnection.connect(loop: loop, host: String(parts[0]), port: Int(parts[1])!)
        let client = TitanClientStub(loop: loop, connection: conn)
        await client.start()
        // The master requires a token: the local credential it registered, proved as clients do.
        if let token = try TokenSource.find() {
            let nonce = AuthExchange.nonce()
            let hello = try await client.request(.authHello(tokenId: token.id, nonce: nonce))
            guard case .authChallenge(let serverNonce) = hello else {
                throw AuthError.refused("the test master did not accept the local credential: \(hello)")
            }
            let proof = try await client.request(.authProof(AuthExchange.clientProof(token: token, clientNonce: nonce, serverNonce: serverNonce)))
            guard case .authOk = proof else {
                throw AuthError.refused("the test master did not accept the local credential: \(proof)")
            }
        }
        return client
    }

    private func start() {
        connection.assumeIsolated { c in
            c.start(onRead: { [self] bytes in self.assumeIsolated { $0.received(bytes) } },
                    onClose: { [self] _ in self.assumeIsolated { $0.closed() } })
        }
    }

    private func received(_ bytes: [UInt8]) {
        decoder.append(contentsOf: bytes)
        while let frame = try? decoder.next(), let envelope = try? NativeCodec.decode(frame) {
            waiters.removeValue(forKey: envelope.requestId)?.resume(returning: envelope.message)
        }
    }

    /// The master hung up: nothing waits forever.
    private func closed() {
        isClosed = true
        let pending = waiters
        waiters = [:]
        for (_, waiter) in pending { waiter.resume(returning: .error(.unavailable, "connection closed")) }
    }

    private var isClosed = false

    func request(_ message: Message) async throws -> Message {
        if isClosed { return .error(.unavailable, "connection closed") }
        let id = next
        next += 1
        return await withCheckedContinuation { c in
            waiters[id] = c
            connection.assumeIsolated { $0.send(NativeCodec.encode(Envelope(requestId: id, message: message))) }
        }
    }

    func close() async {
        await connection.close()
        _ = await eventLoop.shutdown()
    }
}

@Suite("Journal: restore and failures")
struct JournalRestoreTests {
    /// 2026-01-01T00:00:00Z
    static let t0: Int64 = 1_767_225_600_000

    @Test("a schedule restored after hours down follows on_missed; a parked retry keeps its time")
    func restoreCronAndDelays() async throws {
        let loop = EventLoop()
        let clock = ManualClock()
        clock.set(Self.t0 + 3 * 3_600_000 + 60_000)  // three hours and a minute after the last firing
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let scheduler = SchedulerActor(loop: loop, logger: logger, wallClockMs: { clock.now() })
        var state = RestoredState()
        let dag = DagSpec(name: "hourly", jobs: [DagJobSpec(id: "a", spec: JobSpec(command: ["true"]))])
        for record: JournalRecord in [
            .instance(masterId: "m-restored"),
            .scheduleSet(ScheduleSpec(name: "hourly", cron: "@hourly", timeZone: "", overlap: "skip", missed: "run-once", dag: dag),
                         createdAtMs: Self.t0 - 3_600_000),
            .scheduleState(name: "hourly", lastFireMs: Self.t0, lastDagId: "", runs: 1, skipped: 0),
            .jobCreated(JobInfo(id: "job-4", spec: JobSpec(command: ["true"], retries: 3), state: .pending, submittedAtMs: Self.t0)),
            .jobState(JobStateChange(id: "job-4", state: .pending, attempts: 1, workerId: "w", result: nil,
                                     notBeforeMs: clock.now() + 30_000, failures: 1)),
        ] { try state.apply(record) }
        let restored = state
        let result = await withCheckedContinuation { (c: CheckedContinuation<(ScheduleInfo?, JobInfo?, String, Int), Never>) in
            loop.execute {
                scheduler.assumeIsolated { s in
                    s.restore(restored, reclaimAfterMs: 10_000)
                    s.cronDue()
                    c.resume(returning: (s.scheduleInfos().first, s.jobs["job-4"].map(s.statusInfo), s.masterId,
                                         s.dags.count))
                }
            }
        }
        let (schedule, job, masterId, dagCount) = result
        #expect(masterId == "m-restored")
        // Three firings passed while down: one catch-up run, two counted as skipped.
        #expect(schedule?.runs == 2)
        #expect(schedule?.skipped == 2)
        #expect(dagCount == 1)
        #expect(schedule?.nextFireMs == Self.t0 + 4 * 3_600_000)
        #expect(job?.state == .pending)
        #expect(job?.pendingReason.hasPrefix("retry 1 of 3 in 30") == true, "\(job?.pendingReason ?? "")")
        #expect(try await submitNumber(scheduler, loop) == "job-5")
        await scheduler.close()
        #expect(await loop.shutdown() == 0)
    }

    /// The id the next submission gets.
    private func submitNumber(_ scheduler: SchedulerActor, _ loop: EventLoop) async throws -> String {
        let peer = RecordingPeer()
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            loop.execute {
                scheduler.assumeIsolated { $0.handle(Envelope(requestId: 9, message: .submit(JobSpec(command: ["x"]), follow: false)), from: peer) }
                c.resume()
            }
        }
        guard case .submitted(let id)? = peer.replies().first else { return "" }
        return id
    }

    @Test("a master that can no longer write refuses work and never acknowledges what it lost")
    func writeFailure() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("titan-enospc-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let loop = EventLoop()
        var config = MasterConfig()
        config.port = 0
        config.dataDirectory = dir
        // No periodic fsync: the write itself is what fails (an fsync of /dev/full would fail
        // differently, at a moment of its own).
        config.fsync = .no
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let master = try await MasterNode.start(config: config, loop: loop, logger: logger)
        let client = try await TitanClientStub.connect("127.0.0.1:\(master.port)")
        #expect(try await client.request(.submit(JobSpec(command: ["true"]), follow: false)) == .submitted(jobId: "job-1"))
        try await master.scheduler.redirectJournalForTesting(to: "/dev/full")
        guard case .error(.unavailable, let lost) = try await client.request(.submit(JobSpec(command: ["true"]), follow: false)) else {
            Issue.record("a submission that could not be recorded was acknowledged")
            return
        }
        #expect(lost.contains("not recorded") && lost.contains("No space left"), "\(lost)")
        guard case .error(.unavailable, let refused) = try await client.request(.kv(.set(key: "k", value: [1], ttlMs: 0))) else {
            Issue.record("a write was accepted after the journal failed")
            return
        }
        #expect(refused.contains("accepts no new work"), "\(refused)")
        // Reads still work.
        #expect(try await client.request(.getStatus(jobId: "job-1")) != .error(.notFound, "no job 'job-1'"))
        await client.close()
        await master.stop()
        #expect(await loop.shutdown() == 0)
    }
}
