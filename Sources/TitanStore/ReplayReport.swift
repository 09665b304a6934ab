/// What a replay found, and what it did about a torn tail.
public struct ReplayReport: Sendable, Equatable {
    /// The file replayed.
    public var path: String
    /// False when there was no file, which means empty state.
    public var fileExisted: Bool
    /// Intact records handed to the body, in file order.
    public var recordCount: Int
    /// Byte offset just past the last intact record: the file's length after a repair.
    public var validLength: Int64
    /// The file's length when replay started.
    public var fileSize: Int64
    /// The damaged end of the file, if any.
    public var tornTail: TornTail?
    /// Whether the file was truncated to `validLength` (and fsynced).
    public var repaired: Bool

    /// A report; replay builds these, tests and tools may too.
    public init(
        path: String, fileExisted: Bool, recordCount: Int = 0, validLength: Int64 = 0,
        fileSize: Int64 = 0, tornTail: TornTail? = nil, repaired: Bool = false
    ) {
        self.path = path
        self.fileExisted = fileExisted
        self.recordCount = recordCount
        self.validLength = validLength
        self.fileSize = fileSize
        self.tornTail = tornTail
        self.repaired = repaired
    }
}

/// A damaged region at the end of the file that holds no intact record, as a crash during an
/// append (or preallocated space) leaves behind. Dropping it loses nothing that was acknowledged
/// under `FsyncPolicy.always`.
public struct TornTail: Sendable, Equatable, CustomStringConvertible {
    /// Why the first record of the region is unusable.
    public enum Reason: Sendable, Equatable, CustomStringConvertible {
        /// The file ends inside its 12-byte header (a crash while creating it).
        case incompleteFileHeader
        /// Fewer than 8 bytes remain for a record header.
        case incompleteRecordHeader
        /// The header announces more payload than the file holds.
        case incompletePayload
        /// The length field is zero or above `RecordFormat.maxPayloadSize`.
        case invalidLength(UInt32)
        /// The payload does not match its checksum.
        case checksumMismatch
        /// The whole region is zero bytes, as preallocation or a torn extent reads back.
        case zeroFilled

        public var description: String {
            switch self {
            case .incompleteFileHeader: "incomplete file header"
            case .incompleteRecordHeader: "incomplete record header"
            case .incompletePayload: "incomplete payload"
            case .invalidLength(let length): "invalid length \(length)"
            case .checksumMismatch: "checksum mismatch"
            case .zeroFilled: "zero-filled"
            }
        }
    }

    /// Where the region starts: the end of the last intact record.
    public var offset: Int64
    /// The region's length.
    public var bytesDropped: Int64
    /// What was wrong with the region's first record.
    public var reason: Reason

    /// A torn tail description.
    public init(offset: Int64, bytesDropped: Int64, reason: Reason) {
        self.offset = offset
        self.bytesDropped = bytesDropped
        self.reason = reason
    }

    public var description: String {
        "torn tail at offset \(offset): \(bytesDropped) bytes (\(reason))"
    }
}
