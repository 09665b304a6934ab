/// Structured mutations of byte strings, driven by a seeded generator so that a run replays
/// exactly from its seed. Aimed at length-prefixed binary formats (lengths set to 0, the bytes
/// left, one off, or huge) and at text formats (tokens from a dictionary, repeated brackets).
public struct FuzzMutator {
    public var rng: SplitMix64
    /// Tokens worth inserting whole: keywords, separators, numbers at the edges of their types.
    public let dictionary: [[UInt8]]
    public let maxLength: Int

    public init(seed: UInt64, dictionary: [[UInt8]] = [], maxLength: Int = 4096) {
        rng = SplitMix64(seed: seed)
        self.dictionary = dictionary + FuzzMutator.commonTokens
        self.maxLength = maxLength
    }

    /// Tokens every target gets: integers at the edges of the common types, in decimal.
    public static let commonTokens: [[UInt8]] = [
        "0", "-1", "1", "255", "256", "65535", "65536", "2147483647", "2147483648", "-2147483648",
        "4294967295", "4294967296", "9223372036854775807", "9223372036854775808", "-9223372036854775808",
        "18446744073709551615", "18446744073709551616",
    ].map { Array($0.utf8) }

    static let interestingBytes: [UInt8] = [
        0x00, 0x01, 0x02, 0x7F, 0x80, 0xFE, 0xFF, 0x20, 0x0A, 0x0D, 0x09, 0xC3, 0xE2, 0xF0,
        UInt8(ascii: "|"), UInt8(ascii: ";"), UInt8(ascii: ":"), UInt8(ascii: "["), UInt8(ascii: "]"),
        UInt8(ascii: "{"), UInt8(ascii: "}"), UInt8(ascii: "-"), UInt8(ascii: "/"), UInt8(ascii: "."),
        UInt8(ascii: "*"), UInt8(ascii: "&"), UInt8(ascii: "!"), UInt8(ascii: "'"), UInt8(ascii: "\""),
        UInt8(ascii: "#"), UInt8(ascii: ","), UInt8(ascii: "@"), UInt8(ascii: "0"), UInt8(ascii: "9"),
    ]

    static let interestingU32: [UInt32] = [
        0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x1_0000, 0x00FF_FFFF, 0x0100_0000, 0x0100_0001,
        0x0400_0000, 0x0400_0001, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFE, 0xFFFF_FFFF,
    ]

    static let interestingU64: [UInt64] = [
        0, 1, 0x7FFF_FFFF, 0xFFFF_FFFF, 0x1_0000_0000, 0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000,
        0xFFFF_FFFF_FFFF_FFFE, 0xFFFF_FFFF_FFFF_FFFF,
    ]

    /// What one mutation step does.
    enum Step: CaseIterable {
        case flipBit, interestingByte, randomByte, interestingU16, interestingU32, interestingU64, tweakLength,
             insertBytes, insertToken, overwriteToken, deleteRange, duplicateRange, copyRange, repeatByte,
             splice, truncate
    }

    /// `input` after one to five stacked mutations (fewer more often); `corpus` feeds splices.
    public mutating func mutate(_ input: [UInt8], corpus: [[UInt8]]) -> [UInt8] {
        var bytes = input
        let steps = 1 + min(Int(rng.next() % 8), Int(rng.next() % 8), 4)
        for _ in 0 ..< steps {
            apply(Step.allCases[below(Step.allCases.count)], to: &bytes, corpus: corpus)
        }
        if bytes.count > maxLength { bytes.removeLast(bytes.count - maxLength) }
        return bytes
    }

    mutating func apply(_ step: Step, to bytes: inout [UInt8], corpus: [[UInt8]]) {
        switch step {
        case .flipBit:
            guard !bytes.isEmpty else { return insertBytes(&bytes) }
            bytes[below(bytes.count)] ^= 1 << UInt8(below(8))
        case .interestingByte:
            guard !bytes.isEmpty else { return insertBytes(&bytes) }
            bytes[below(bytes.count)] = pick(Self.interestingBytes)
        case .randomByte:
            guard !bytes.isEmpty else { return insertBytes(&bytes) }
            bytes[below(bytes.count)] = UInt8(truncatingIfNeeded: rng.next())
        case .interestingU16:
            let value = UInt16(truncatingIfNeeded: pick(Self.interestingU32))
            store(value, in: &bytes)
        case .interestingU32:
            store(pick(Self.interestingU32), in: &bytes)
        case .interestingU64:
            store(pick(Self.interestingU64), in: &bytes)
        case .tweakLength:
            tweakLength(&bytes)
        case .insertBytes:
            insertBytes(&bytes)
        case .insertToken:
            bytes.insert(contentsOf: pick(dictionary), at: below(bytes.count + 1))
        case .overwriteToken:
            let token = pick(dictionary)
            guard bytes.count >= token.count else { return bytes.insert(contentsOf: token, at: below(bytes.count + 1)) }
            let at = below(bytes.count - token.count + 1)
            bytes.replaceSubrange(at ..< at + token.count, with: token)
        case .deleteRange:
            guard !bytes.isEmpty else { return }
            let start = below(bytes.count)
            let length = 1 + below(min(32, bytes.count - start))
            bytes.removeSubrange(start ..< start + length)
        case .duplicateRange:
            guard !bytes.isEmpty else { return }
            let range = randomRange(in: bytes.count, maxLength: 64)
            bytes.insert(contentsOf: Array(bytes[range]), at: below(bytes.count + 1))
        case .copyRange:
            guard bytes.count >= 2 else { return }
            let range = randomRange(in: bytes.count, maxLength: 64)
            let at = below(bytes.count - range.count + 1)
            bytes.replaceSubrange(at ..< at + range.count, with: Array(bytes[range]))
        case .repeatByte:
            // Long runs: deep nesting (`[[[[`), long numbers, many separators.
            let byte = bytes.isEmpty || below(2) == 0 ? pick(Self.interestingBytes) : bytes[below(bytes.count)]
            let count = below(4) == 0 ? 1 + below(1024) : 1 + below(16)
            bytes.insert(contentsOf: repeatElement(byte, count: count), at: below(bytes.count + 1))
        case .splice:
            guard let other = corpus.isEmpty ? nil : pick(corpus), !other.isEmpty else { return insertBytes(&bytes) }
            let cut = below(bytes.count + 1)
            let from = below(other.count)
            bytes = Array(bytes[..<cut]) + Array(other[from...])
        case .truncate:
            guard !bytes.isEmpty else { return }
            bytes.removeLast(1 + below(bytes.count))
        }
    }

    /// Finds a big-endian u32 that could be a length (no more than the input's size) and sets it
    /// to 0, one off, exactly the bytes after it, one more than those, or something huge. Falls
    /// back to a random position when nothing looks like a length.
    mutating func tweakLength(_ bytes: inout [UInt8]) {
        guard bytes.count >= 4 else { return store(pick(Self.interestingU32), in: &bytes) }
        var candidates: [Int] = []
        for offset in 0 ... bytes.count - 4 where loadU32(bytes, offset) <= UInt32(clamping: bytes.count) {
            candidates.append(offset)
        }
        let offset = candidates.isEmpty ? below(bytes.count - 3) : pick(candidates)
        let value = loadU32(bytes, offset)
        let after = UInt32(clamping: bytes.count - offset - 4)
        let choices: [UInt32] = [0, value &- 1, value &+ 1, after, after &+ 1, after &- 1, UInt32.max, 0x7FFF_FFFF,
                                 0x0100_0000, 0x0400_0001]
        storeU32(pick(choices), at: offset, in: &bytes)
    }

    mutating func insertBytes(_ bytes: inout [UInt8]) {
        let count = 1 + below(8)
        let new = (0 ..< count).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        bytes.insert(contentsOf: new, at: below(bytes.count + 1))
    }

    mutating func store<T: FixedWidthInteger>(_ value: T, in bytes: inout [UInt8]) {
        let size = MemoryLayout<T>.size
        guard bytes.count >= size else { return bytes.append(contentsOf: bigEndianBytes(value)) }
        let at = below(bytes.count - size + 1)
        bytes.replaceSubrange(at ..< at + size, with: bigEndianBytes(value))
    }

    func bigEndianBytes<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        (0 ..< MemoryLayout<T>.size).reversed().map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) }
    }

    func loadU32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3])
    }

    func storeU32(_ value: UInt32, at offset: Int, in bytes: inout [UInt8]) {
        bytes.replaceSubrange(offset ..< offset + 4, with: bigEndianBytes(value))
    }

    mutating func randomRange(in count: Int, maxLength: Int) -> Range<Int> {
        let start = below(count)
        return start ..< start + 1 + below(min(maxLength, count - start))
    }

    /// Uniform in `0 ..< bound` (bound > 0).
    public mutating func below(_ bound: Int) -> Int {
        Int(rng.next() % UInt64(bound))
    }

    mutating func pick<T>(_ values: [T]) -> T {
        values[below(values.count)]
    }
}
