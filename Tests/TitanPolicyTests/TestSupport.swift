import TitanPolicy

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny, fast, seedable generator, so randomized tests
/// replay exactly from their seed.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Shorthand for a worker snapshot in placement tests.
func worker(_ id: String, _ capabilities: Set<String> = [], slots: Int = 4, running: Int = 0,
            accepting: Bool = true) -> WorkerCapacity {
    WorkerCapacity(id: id, capabilities: capabilities, slots: slots, running: running, accepting: accepting)
}
