#if canImport(Glibc)
internal import Glibc
#elseif canImport(Darwin)
internal import Darwin
#endif
internal import Dispatch
internal import Synchronization

/// One execution of a fuzz target: the input, its number in the run, and a generator for any
/// further random choice the target makes (where to split a stream...), derived from the run's
/// seed so that it replays too.
public struct FuzzCase {
    public let bytes: [UInt8]
    public let iteration: Int
    public var rng: SplitMix64
}

/// An invariant a fuzz target found broken. Throw it (or any error) from the target; the fuzzer
/// stops and reports the input.
public struct FuzzViolation: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Throws a `FuzzViolation` with `message` unless `condition` holds.
public func fuzzCheck(_ condition: Bool, _ message: @autoclosure () -> String) throws(FuzzViolation) {
    if !condition { throw FuzzViolation(message()) }
}

/// What a fuzz run did, and the first failure if any.
public struct FuzzReport: CustomStringConvertible, Sendable {
    public struct Failure: CustomStringConvertible, Sendable {
        public var iteration: Int
        public var input: [UInt8]
        public var message: String

        public var description: String {
            let shown = input.prefix(256)
            let literal = shown.map { "0x" + String($0, radix: 16, uppercase: true) }.joined(separator: ", ")
            let more = input.count > shown.count ? ", ... (\(input.count - shown.count) more)" : ""
            let text = String(decoding: shown, as: UTF8.self).debugDescription
            return "execution \(iteration): \(message.prefix(1000))\n  input (\(input.count) bytes): [\(literal)\(more)]\n"
                + "  as text: \(text)"
        }
    }

    public var target: String
    /// The run's seed (`TITAN_FUZZ_SEED` reproduces it).
    public var seed: UInt64
    public var executions: Int
    public var seconds: Double
    /// Executions the target accepted (the input decoded).
    public var accepted: Int
    /// Corpus inputs the target accepted unmutated (they should all be valid).
    public var seedsAccepted: Int
    public var corpusCount: Int
    public var failure: Failure?

    public var executionsPerSecond: Int { seconds > 0 ? Int(Double(executions) / seconds) : executions }

    /// One line: what ran, how fast, from which seed, and whether it failed.
    public var summary: String {
        "fuzz \(target): \(executions) executions in \(Double(Int(seconds * 100)) / 100) s "
            + "(\(executionsPerSecond)/s), \(accepted) accepted, corpus \(corpusCount), "
            + "TITAN_FUZZ_SEED=0x\(String(seed, radix: 16))\(failure == nil ? "" : ", FAILED")"
    }

    public var description: String {
        let seedText = "0x" + String(seed, radix: 16)
        var text = summary
        if let failure {
            text += "\nFAILED at \(failure)\n  reproduce: TITAN_FUZZ_SEED=\(seedText) TITAN_FUZZ_ITERATIONS=\(failure.iteration + 1)"
                + " swift test --skip-build --filter <this test>"
        }
        return text
    }
}

/// A small seeded mutation fuzzer, in process, for decoders: starts from a corpus of valid
/// inputs, runs each unmutated, then mutates inputs picked from the corpus (`FuzzMutator`)
/// until the budget (`FuzzOptions`) is spent or the target fails. Inputs the target accepts
/// join the corpus (up to `maxCorpus`), so mutations reach past the first field.
///
/// The target returns whether the input was accepted and throws when an invariant breaks; a
/// crash is a crash (the seed is printed first so the run can be repeated). There is no
/// coverage feedback: for that, run the libFuzzer targets in `Fuzz/`.
public enum Fuzzer {
    /// Runs `target` on inputs derived from `corpus`; prints and returns the report.
    public static func run(_ name: String, corpus: [[UInt8]], dictionary: [[UInt8]] = [],
                           options: FuzzOptions = .fromEnvironment(),
                           _ target: (inout FuzzCase) throws -> Bool) -> FuzzReport {
        precondition(options.seconds != nil || options.iterations != nil, "a fuzz run needs a budget")
        let seedText = "0x" + String(options.seed, radix: 16)
        print("fuzz \(name): starting, TITAN_FUZZ_SEED=\(seedText)")
        var rng = SplitMix64(seed: options.seed ^ fnv1a(name))
        var mutator = FuzzMutator(seed: rng.next(), dictionary: dictionary, maxLength: options.maxLength)
        var pool = corpus.isEmpty ? [[]] : corpus
        var known = Set(pool)
        var report = FuzzReport(target: name, seed: options.seed, executions: 0, seconds: 0, accepted: 0,
                                seedsAccepted: 0, corpusCount: pool.count)
        let watchdog = Watchdog(target: name, seed: seedText, limit: options.hangSeconds)
        defer { watchdog.stop() }
        let clock = ContinuousClock()
        let started = clock.now
        let deadline = options.seconds.map { started + .milliseconds(Int64($0 * 1000)) }
        let memoryAtStart = peakVirtualMemory()
        let slowLimit = Duration.milliseconds(options.slowMs)

        func fail(_ iteration: Int, _ input: [UInt8], _ message: String) {
            report.failure = FuzzReport.Failure(iteration: iteration, input: input, message: message)
        }

        var iteration = 0
        while report.failure == nil {
            if let limit = options.iterations, iteration >= limit { break }
            // Every corpus input runs once, whatever the budget.
            if let deadline, iteration >= corpus.count, clock.now >= deadline { break }
            let input = iteration < corpus.count ? corpus[iteration] : mutator.mutate(mutator.pick(pool), corpus: pool)
            var fuzzCase = FuzzCase(bytes: input, iteration: iteration, rng: SplitMix64(seed: rng.next()))
            let before = clock.now
            watchdog.begin(iteration, input)
            do {
                if try target(&fuzzCase) {
                    report.accepted += 1
                    if iteration < corpus.count { report.seedsAccepted += 1 }
                    if pool.count < options.maxCorpus, known.insert(input).inserted { pool.append(input) }
                }
            } catch {
                fail(iteration, input, "\(error)")
            }
            watchdog.end()
            let took = clock.now - before
            if report.failure == nil, took > slowLimit {
                fail(iteration, input, "one execution took \(took) (limit \(options.slowMs) ms): superlinear work on this input?")
            }
            iteration += 1
            let every = options.memoryCheckInterval
            if report.failure == nil, iteration % every == 0, let start = memoryAtStart, let now = peakVirtualMemory(),
               now - start > options.memoryGrowthLimit {
                fail(iteration - 1, input, "peak virtual memory grew by \((now - start) >> 20) MiB during executions "
                     + "\(max(0, iteration - every)) ..< \(iteration): an allocation sized by the input? "
                     + "(TITAN_FUZZ_MEMORY_EVERY=1 names the input)")
            }
        }
        if report.failure == nil, let start = memoryAtStart, let now = peakVirtualMemory(), now - start > options.memoryGrowthLimit {
            fail(iteration - 1, [], "peak virtual memory grew by \((now - start) >> 20) MiB during the run")
        }
        report.executions = iteration
        let elapsed = clock.now - started
        report.seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        report.corpusCount = pool.count
        print(report.summary)
        return report
    }

    /// FNV-1a: a stable hash of the target's name (Swift's `Hasher` is seeded per process).
    static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x100_0000_01B3
        }
        return hash
    }
}

/// Aborts the process, printing the input, when one execution runs past its limit: a decoder
/// stuck in a loop would otherwise stall CI until its timeout with nothing to show for it.
final class Watchdog: Sendable {
    private struct Current {
        var iteration = 0
        var input: [UInt8] = []
        var started: ContinuousClock.Instant?
        var stopped = false
    }

    private let current = Mutex(Current())

    init(target: String, seed: String, limit: Double) {
        DispatchQueue.global().async { [self] in
            let clock = ContinuousClock()
            while true {
                usleep(250_000)
                let state = current.withLock { $0 }
                if state.stopped { return }
                guard let started = state.started, clock.now - started > .milliseconds(Int64(limit * 1000)) else { continue }
                let failure = FuzzReport.Failure(iteration: state.iteration, input: state.input,
                                                 message: "still running after \(limit) s: a hang")
                let text = Array("fuzz \(target): TITAN_FUZZ_SEED=\(seed) \(failure)\n".utf8)
                _ = text.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
                abort()
            }
        }
    }

    func begin(_ iteration: Int, _ input: [UInt8]) {
        current.withLock {
            $0.iteration = iteration
            $0.input = input
            $0.started = ContinuousClock.now
        }
    }

    func end() {
        current.withLock { $0.started = nil }
    }

    func stop() {
        current.withLock { $0.stopped = true }
    }
}
