import Testing
import TitanLoop

/// A loop-bound actor for tests: its methods must run on the loop thread.
actor Probe: LoopBound {
    nonisolated let eventLoop: EventLoop
    private(set) var log: [Int] = []
    private(set) var count = 0

    init(loop: EventLoop) {
        eventLoop = loop
    }

    func onLoopThread() -> Bool { eventLoop.inLoopThread }

    func record(_ value: Int) { log.append(value) }

    func increment() -> Int {
        count += 1
        return count
    }

    /// Calls another loop-bound actor: a hop between actors sharing the loop executor.
    func ask(_ other: Probe) async -> Bool {
        let there = await other.onLoopThread()
        return there && eventLoop.inLoopThread
    }
}

@Suite("EventLoop")
struct EventLoopTests {
    @Test("execute runs the closure on the loop thread")
    func executeOnLoopThread() async throws {
        let loop = EventLoop(name: "test-execute")
        #expect(!loop.inLoopThread)
        let there = try await onLoop(loop) { loop.inLoopThread }
        #expect(there)
        #expect(!loop.inLoopThread)
        try await expectCleanShutdown(loop)
    }

    @Test("the executor reports isolation only on the loop thread")
    func isolationChecks() async throws {
        let loop = EventLoop()
        #expect(loop.isIsolatingCurrentContext() == false)
        let inside = try await onLoop(loop) { () -> Bool? in
            loop.checkIsolated() // would trap off the loop thread
            return loop.isIsolatingCurrentContext()
        }
        #expect(inside == true)
        try await expectCleanShutdown(loop)
    }

    @Test("a LoopBound actor's methods run on the loop thread, also when one calls another")
    func loopBoundActor() async throws {
        let loop = EventLoop()
        let a = Probe(loop: loop)
        let b = Probe(loop: loop)
        #expect(await a.onLoopThread())
        #expect(await a.ask(b))
        try await expectCleanShutdown(loop)
    }

    @Test("assumeIsolated works from inside execute (how libuv callbacks enter actors)")
    func assumeIsolatedFromExecute() async throws {
        let loop = EventLoop()
        let probe = Probe(loop: loop)
        let seen = try await onLoop(loop) { () -> [Int] in
            probe.assumeIsolated { p in
                p.record(1)
                p.record(2)
                return p.log
            }
        }
        #expect(seen == [1, 2])
        #expect(await probe.log == [1, 2])
        try await expectCleanShutdown(loop)
    }

    @Test("closures from concurrent producers run exactly once, in FIFO order per producer")
    func concurrentEnqueues() async throws {
        let loop = EventLoop()
        let producers = 6
        let perProducer = 5_000
        let probe = Probe(loop: loop)
        let done = Inbox<Void>()
        let total = producers * perProducer
        await withTaskGroup(of: Void.self) { group in
            for p in 0..<producers {
                group.addTask {
                    for i in 0..<perProducer {
                        loop.execute {
                            precondition(loop.inLoopThread)
                            let n = probe.assumeIsolated { probe in
                                probe.record(p * perProducer + i)
                                return probe.log.count
                            }
                            if n == total { done.send(()) }
                        }
                        if i % 500 == 0 { await Task.yield() }
                    }
                }
            }
        }
        try await done.next("all \(total) closures to run")
        let log = await probe.log
        #expect(log.count == total)
        #expect(Set(log).count == total, "some closure ran twice or not at all")
        for p in 0..<producers {
            let mine = log.filter { $0 / perProducer == p }
            #expect(mine == Array(p * perProducer..<(p + 1) * perProducer), "producer \(p) out of order")
        }
        try await expectCleanShutdown(loop)
    }

    @Test("actor calls from many tasks all run, serialized on the loop")
    func concurrentActorJobs() async throws {
        let loop = EventLoop()
        let probe = Probe(loop: loop)
        let results = await withTaskGroup(of: [Int].self) { group in
            for _ in 0..<8 {
                group.addTask {
                    var mine: [Int] = []
                    for _ in 0..<500 { mine.append(await probe.increment()) }
                    return mine
                }
            }
            var all: [Int] = []
            for await r in group { all += r }
            return all
        }
        // Every increment saw a distinct count: no two ran at once.
        #expect(results.sorted() == Array(1...4_000))
        #expect(await probe.count == 4_000)
        try await expectCleanShutdown(loop)
    }

    @Test("work queued before shutdown runs before the loop ends")
    func workBeforeShutdownRuns() async throws {
        let loop = EventLoop()
        let ran = Locked(0)
        for _ in 0..<1_000 { loop.execute { ran.withLock { $0 += 1 } } }
        try await expectCleanShutdown(loop)
        #expect(ran.value == 1_000)
        #expect(await loop.terminated() == 0)
    }

    @Test("shutdown of an idle loop returns 0; openHandleCount tracks handles")
    func shutdownIdle() async throws {
        let loop = EventLoop()
        #expect(try await onLoop(loop) { loop.openHandleCount() } == 0)
        let timer = try await onLoop(loop) { LoopTimer(loop: loop) }
        #expect(try await onLoop(loop) { loop.openHandleCount() } == 1)
        await timer.close()
        #expect(try await onLoop(loop) { loop.openHandleCount() } == 0)
        try await expectCleanShutdown(loop)
    }

    @Test("several loops run side by side, each on its own thread")
    func severalLoops() async throws {
        let loops = (0..<4).map { EventLoop(name: "test-loop-\($0)") }
        for (i, loop) in loops.enumerated() {
            let others = loops.enumerated().filter { $0.offset != i }.map(\.element)
            let answers = try await onLoop(loop) { (loop.inLoopThread, others.map(\.inLoopThread)) }
            #expect(answers.0)
            #expect(!answers.1.contains(true))
        }
        for loop in loops { try await expectCleanShutdown(loop) }
    }
}

@Suite("EventLoop as a TaskExecutor")
struct EventLoopTaskExecutorTests {
    @Test("a task that prefers the loop runs its nonisolated code on the loop thread")
    func preference() async throws {
        let loop = EventLoop()
        let onLoop = await withTaskExecutorPreference(loop) { loop.inLoopThread }
        #expect(onLoop)
        #expect(!loop.inLoopThread)
        let grouped = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<8 { group.addTask(executorPreference: loop) { loop.inLoopThread } }
            return await group.reduce(true) { $0 && $1 }
        }
        #expect(grouped)
        #expect(await loop.shutdown() == 0)
    }
}
