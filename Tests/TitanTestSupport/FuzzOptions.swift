#if canImport(Glibc)
internal import Glibc
#elseif canImport(Darwin)
internal import Darwin
#endif

// No Foundation here: the test targets import this module, and Foundation's String members
// (its `contains("")` is false) would leak into every one of them.

/// How long and from which seed a fuzz target runs. Read from the environment so CI and a
/// developer chasing a failure run the same code:
///
/// - `TITAN_FUZZ_SECONDS`: time budget per target (default 1). Bounded by default so that every
///   target together stays well under a minute; raise it for a long local run.
/// - `TITAN_FUZZ_ITERATIONS`: stop after this many executions (alone: no time limit). With the
///   seed of a failure, replays the inputs up to it exactly.
/// - `TITAN_FUZZ_SEED`: the run's seed (decimal or `0x` hex; random when unset). Each target
///   mixes its name into it, so one seed reproduces every target of a run.
/// - `TITAN_FUZZ_SLOW_MS`: one execution slower than this is a failure (default 2000).
/// - `TITAN_FUZZ_HANG_SECONDS`: one execution still running after this aborts the process,
///   printing the input (default 30): a hang must not stall CI silently.
/// - `TITAN_FUZZ_MEMORY_EVERY`: executions between two looks at peak memory (default 256); 1
///   names the very input behind a growth.
public struct FuzzOptions: Sendable {
    /// The seed of the whole run (what `TITAN_FUZZ_SEED` takes); targets derive theirs from it.
    public var seed: UInt64
    /// Time budget in seconds; nil for none (then `iterations` must be set).
    public var seconds: Double?
    /// Execution budget; nil for none.
    public var iterations: Int?
    /// Inputs longer than this are cut after mutation.
    public var maxLength: Int
    /// The corpus stops growing at this many inputs.
    public var maxCorpus: Int
    public var slowMs: Int
    public var hangSeconds: Double
    /// Growth of the process's peak virtual memory during a target above which it fails: a
    /// decoder that believes a length field allocates far more than any input here holds.
    public var memoryGrowthLimit: Int
    /// Executions between two looks at peak memory (each costs a read of /proc).
    public var memoryCheckInterval: Int

    public init(seed: UInt64, seconds: Double? = 1, iterations: Int? = nil, maxLength: Int = 4096,
                maxCorpus: Int = 512, slowMs: Int = 2000, hangSeconds: Double = 30, memoryGrowthLimit: Int = peakMemoryGrowthLimit,
                memoryCheckInterval: Int = 256) {
        self.seed = seed
        self.seconds = seconds
        self.iterations = iterations
        self.maxLength = maxLength
        self.maxCorpus = maxCorpus
        self.slowMs = slowMs
        self.hangSeconds = hangSeconds
        self.memoryGrowthLimit = memoryGrowthLimit
        self.memoryCheckInterval = memoryCheckInterval
    }

    /// The run's seed: `TITAN_FUZZ_SEED`, else one drawn once per process.
    public static let runSeed: UInt64 = {
        if let text = environment("TITAN_FUZZ_SEED") {
            guard let seed = parseSeed(text) else { fatalError("TITAN_FUZZ_SEED='\(text)' is not a decimal or 0x-hex UInt64") }
            return seed
        }
        return UInt64.random(in: 0 ... UInt64.max)
    }()

    /// Options from the environment (see the type's documentation).
    public static func fromEnvironment() -> FuzzOptions {
        var options = FuzzOptions(seed: runSeed)
        let seconds = environment("TITAN_FUZZ_SECONDS").map { text -> Double in
            guard let value = Double(text), value >= 0 else { fatalError("TITAN_FUZZ_SECONDS='\(text)' is not a number of seconds") }
            return value
        }
        let iterations = environment("TITAN_FUZZ_ITERATIONS").map { text -> Int in
            guard let value = Int(text), value >= 0 else { fatalError("TITAN_FUZZ_ITERATIONS='\(text)' is not a count") }
            return value
        }
        options.iterations = iterations
        options.seconds = seconds ?? (iterations == nil ? 1 : nil)
        if let text = environment("TITAN_FUZZ_SLOW_MS"), let value = Int(text), value > 0 { options.slowMs = value }
        if let text = environment("TITAN_FUZZ_HANG_SECONDS"), let value = Double(text), value > 0 { options.hangSeconds = value }
        if let text = environment("TITAN_FUZZ_MEMORY_EVERY"), let value = Int(text), value > 0 { options.memoryCheckInterval = value }
        return options
    }

    static func parseSeed(_ text: String) -> UInt64? {
        let trimmed = text.lowercased().filter { $0 != " " }
        if trimmed.hasPrefix("0x") { return UInt64(trimmed.dropFirst(2), radix: 16) }
        return UInt64(trimmed)
    }

    private static func environment(_ name: String) -> String? {
        guard let value = getenv(name).map({ String(cString: $0) }), !value.isEmpty else { return nil }
        return value
    }
}

/// Growth of peak virtual memory that counts as an allocation sized by the input. The peak is
/// the whole process's, and tests running beside a fuzz target (threads, malloc arenas, buffers)
/// move it by up to about 1 GiB; a believed u32 length is 4 GiB.
public let peakMemoryGrowthLimit = 3 << 30

/// The process's peak virtual memory (`VmPeak` of `/proc/self/status`), in bytes; nil where
/// there is no such file. Virtual, not resident: an allocation the decoder never touches still
/// counts, which is what a bound on what a length field makes us allocate needs.
public func peakVirtualMemory() -> Int? {
    let fd = open("/proc/self/status", O_RDONLY)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else { break }
        bytes += chunk[..<count]
    }
    for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") where line.hasPrefix("VmPeak:") {
        let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard fields.count >= 2, let kib = Int(fields[1]) else { return nil }
        return kib * 1024
    }
    return nil
}
