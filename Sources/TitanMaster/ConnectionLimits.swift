import Glibc
import TitanLoop

/// Bounds on what one connection, and all of them together, may cost the master. A peer gets no
/// more than this whatever it sends, and one that goes over is slowed (its requests are no longer
/// read) or dropped with an error that says why.
public struct ConnectionLimits: Sendable {
    /// Connections open at once; 0 derives it from the file-descriptor limit (whose soft value the
    /// master raises to the hard one at start), keeping descriptors for files and the journal.
    public var maxConnections = 0
    /// Of those, the last ones are kept for connections whose first message registers a worker, so
    /// that workers still get in when clients have taken every other connection.
    public var reservedForWorkers = 32
    /// Replies and pushes waiting for one connection (held until their journal records are written,
    /// or queued for its socket): past this the master stops reading that peer's requests until
    /// they drain (back-pressure; TCP then slows the sender).
    public var outputBudgetBytes = 8 << 20
    /// Past this much waiting output the connection is dropped (a peer that never reads).
    public var outputHardLimitBytes = 64 << 20
    /// Bytes of incomplete frames buffered across all connections; a connection whose partial frame
    /// would go past it is refused.
    public var totalPartialFrameBytes = 256 << 20
    /// A frame must arrive whole within this once its first byte has (a peer sending a byte a
    /// second is cut off).
    public var frameDeadlineMs: Int64 = 30_000
    /// A connection must send its first complete frame within this after it is accepted.
    public var firstFrameDeadlineMs: Int64 = 10_000
    /// TLS handshakes in progress at once: past this a new one is refused at once. Each holds an
    /// OpenSSL connection and the part of a hello received so far, which a hostile peer can make
    /// about 70 KiB (a hello announcing 64 KiB): 512 bound that near 36 MiB. A handshake ends
    /// within the first-frame deadline, so an honest peer refused retries into a free place soon.
    public var maxPendingHandshakes = 512

    public init() {}

    /// Descriptors kept for everything that is not a connection: the journal, job output files
    /// (up to 256 open), artifacts, the listener, libuv's own.
    static let descriptorsForFiles = 512

    /// `maxConnections`, or what the descriptor limit allows.
    func effectiveMaxConnections(descriptorLimit: Int) -> Int {
        if maxConnections > 0 { return maxConnections }
        return min(100_000, max(64, descriptorLimit - Self.descriptorsForFiles))
    }
}

/// What the master's connections cost now, and what the limits refused.
public struct ConnectionStats: Sendable {
    public var open: Int
    /// Bytes of incomplete frames buffered across all connections.
    public var partialFrameBytes: Int
    /// TLS handshakes in progress.
    public var pendingHandshakes: Int
    /// Connections refused or dropped, by reason.
    public var refusals: [String: Int]
}

/// The process's file-descriptor limit.
enum DescriptorLimit {
    /// Raises the soft limit to the hard one (a master holds one descriptor per connection) and
    /// returns the soft limit in force.
    @discardableResult
    static func raise() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return limit.rlim_cur > rlim_t(Int32.max) ? Int(Int32.max) : Int(limit.rlim_cur)
    }
}

/// What every connection together costs: counts shared by the master's sessions. Lives on the
/// master's loop.
actor ConnectionGovernor: LoopBound {
    nonisolated let eventLoop: EventLoop
    let limits: ConnectionLimits
    let maxConnections: Int
    private(set) var open = 0
    private(set) var partialFrameBytes = 0
    private(set) var pendingHandshakes = 0
    /// Connections refused or dropped, by reason (for tests and metrics).
    private(set) var refusals: [String: Int] = [:]

    init(loop: EventLoop, limits: ConnectionLimits, descriptorLimit: Int) {
        eventLoop = loop
        self.limits = limits
        maxConnections = limits.effectiveMaxConnections(descriptorLimit: descriptorLimit)
    }

    enum Admission {
        /// Anything may follow.
        case open
        /// Only a worker's registration: the connection holds one of the reserved places.
        case workersOnly
        /// Full: the connection is told so and closed.
        case refused
    }

    /// A connection was accepted: how it may be used.
    func admit() -> Admission {
        if open >= maxConnections {
            refused("too many connections")
            return .refused
        }
        open += 1
        return open > maxConnections - min(limits.reservedForWorkers, maxConnections / 2) ? .workersOnly : .open
    }

    func closed() {
        open -= 1
    }

    /// A connection's partial frame grew or shrank by `delta` bytes; false when the total would
    /// pass the limit (the caller drops the connection and gives its bytes back).
    func partialFrameBytesChanged(by delta: Int) -> Bool {
        if delta > 0 && partialFrameBytes + delta > limits.totalPartialFrameBytes {
            refused("partial frames over budget")
            return false
        }
        partialFrameBytes += delta
        return true
    }

    /// A TLS handshake begins; false when too many are in progress (the caller drops it).
    func handshakeStarted() -> Bool {
        guard pendingHandshakes < limits.maxPendingHandshakes else {
            refused("too many TLS handshakes in progress")
            return false
        }
        pendingHandshakes += 1
        return true
    }

    /// A handshake begun with ``handshakeStarted()`` completed, failed, or its connection closed.
    func handshakeEnded() {
        pendingHandshakes -= 1
    }

    func counts() -> ConnectionStats {
        ConnectionStats(open: open, partialFrameBytes: partialFrameBytes, pendingHandshakes: pendingHandshakes, refusals: refusals)
    }

    func refused(_ reason: String) {
        refusals[reason, default: 0] += 1
    }
}
