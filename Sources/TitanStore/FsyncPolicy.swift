/// When appended records are forced to stable storage, trading durability for throughput
/// the way Redis's `appendfsync` does.
public enum FsyncPolicy: Sendable, Hashable, CustomStringConvertible {
    /// fsync before acknowledging. Appends that arrive during an fsync are written and synced
    /// together (group commit), so throughput grows with the number of appends in flight.
    case always
    /// Acknowledge after write(2); fsync from the writer thread at most once a second while
    /// there is unsynced data, and on close. A crash loses at most about a second.
    case everysec
    /// Acknowledge after write(2); fsync only on close and explicit `sync`.
    case no

    public var description: String {
        switch self {
        case .always: "always"
        case .everysec: "everysec"
        case .no: "no"
        }
    }
}
