/// What `AOFRepair.repair(path:validate:)` found and did, exactly enough for an operator to know
/// what was lost: every dropped byte range with its reason, and the records kept.
public struct RepairReport: Sendable, Equatable, CustomStringConvertible {
    /// The file repaired.
    public var path: String
    /// False when there was no file (nothing to repair).
    public var fileExisted: Bool
    /// The file's length before the repair.
    public var fileSize: Int64
    /// The file's length after it (equal to `fileSize` when nothing was dropped).
    public var repairedSize: Int64
    /// Intact, accepted records written to the repaired file.
    public var keptRecords: Int
    /// Dropped ranges in file order; empty when the file was left as it was.
    public var dropped: [DroppedRange]
    /// Where the original file was copied before it was replaced; nil when nothing changed.
    public var damagedCopy: String?

    /// A report; the repair builds these, tests and tools may too.
    public init(path: String, fileExisted: Bool, fileSize: Int64 = 0, repairedSize: Int64 = 0, keptRecords: Int = 0,
                dropped: [DroppedRange] = [], damagedCopy: String? = nil) {
        self.path = path
        self.fileExisted = fileExisted
        self.fileSize = fileSize
        self.repairedSize = repairedSize
        self.keptRecords = keptRecords
        self.dropped = dropped
        self.damagedCopy = damagedCopy
    }

    /// Whether the file was replaced.
    public var changed: Bool { !dropped.isEmpty }

    /// Ranges dropped because their bytes are damaged. Each held at least part of a record;
    /// how many records it held cannot be known.
    public var damagedRanges: Int { dropped.count - rejectedRecords }

    /// Whole records (checksum intact) dropped because the validator refused them.
    public var rejectedRecords: Int {
        dropped.count(where: { if case .rejected = $0.reason { true } else { false } })
    }

    /// Bytes dropped in all.
    public var bytesDropped: Int64 { dropped.reduce(0) { $0 + $1.length } }

    /// One summary line, then one line per dropped range.
    public var lines: [String] {
        guard fileExisted else { return ["nothing to repair: \(path) does not exist"] }
        guard changed else { return ["nothing to repair in \(path): \(keptRecords) intact records"] }
        var summary = "repaired \(path): kept \(keptRecords) records; dropped \(damagedRanges) damaged range(s) and "
            + "\(rejectedRecords) unusable record(s), \(bytesDropped) bytes in all (\(fileSize) -> \(repairedSize) bytes)"
        if let damagedCopy { summary += "; the damaged file is kept as \(damagedCopy)" }
        return [summary] + dropped.map { "  dropped \($0)" }
    }

    public var description: String { lines.joined(separator: "\n") }
}

/// A byte range of the original file left out of the repaired one.
public struct DroppedRange: Sendable, Equatable, CustomStringConvertible {
    /// Why the range was dropped.
    public enum Reason: Sendable, Equatable, CustomStringConvertible {
        /// The bytes do not frame an intact record (what was wrong at the range's start).
        case damaged(TornTail.Reason)
        /// An intact record (checksum matches) that the validator refused, with its reason.
        case rejected(String)

        public var description: String {
            switch self {
            case .damaged(let reason): "damaged: \(reason)"
            case .rejected(let reason): "an intact record the master cannot use: \(reason)"
            }
        }
    }

    /// Where the range starts in the original file.
    public var offset: Int64
    /// Its length in bytes.
    public var length: Int64
    /// Why it was dropped.
    public var reason: Reason

    /// A dropped range.
    public init(offset: Int64, length: Int64, reason: Reason) {
        self.offset = offset
        self.length = length
        self.reason = reason
    }

    public var description: String {
        "offset \(offset), \(length) bytes (\(reason))"
    }
}
