/// When a supervised service is started again after its process ends (the CLI's `--restart` values).
public enum RestartMode: String, Sendable, CaseIterable {
    /// After every exit, even exit 0: the service is meant to run until stopped.
    case always
    /// After a non-zero exit code, a signal or a failed health check; not after exit 0.
    case onFailure = "on-failure"
    /// Never.
    case never

    /// Whether `exit` calls for a restart under this mode (before crash-loop detection).
    public func restarts(after exit: ServiceExit) -> Bool {
        switch self {
        case .always: true
        case .onFailure: !exit.isSuccess
        case .never: false
        }
    }
}

/// How and when a service's process ended.
public struct ServiceExit: Sendable, Equatable, CustomStringConvertible {
    public var atMs: Int64
    /// Nil when the process was killed by a signal, or when its status is unknown.
    public var exitCode: Int32?
    public var signal: Int32?
    /// The supervisor gave up on the process after a failed health check (the caller kills it;
    /// that kill's own exit is not recorded, so this stays the reason).
    public var healthCheckFailed: Bool

    public init(atMs: Int64, exitCode: Int32?, signal: Int32?, healthCheckFailed: Bool = false) {
        self.atMs = atMs
        self.exitCode = exitCode
        self.signal = signal
        self.healthCheckFailed = healthCheckFailed
    }

    /// Exit code 0, no signal, no failed health check.
    public var isSuccess: Bool { !healthCheckFailed && signal == nil && exitCode == 0 }

    public var description: String {
        if healthCheckFailed { return "health check failed" }
        if let signal { return "killed by signal \(signal)" }
        if let exitCode { return "exited \(exitCode)" }
        return "exited with unknown status"
    }
}

/// Where a supervised service is in its life.
public enum ServiceState: String, Sendable, CaseIterable {
    /// Launch due or process running, not yet healthy.
    case starting = "STARTING"
    case healthy = "HEALTHY"
    /// Waiting for the backoff delay before the next launch.
    case restarting = "RESTARTING"
    /// Too many quick failures in a row: no more restarts until a manual restart.
    case crashLoop = "CRASH_LOOP"
    /// Stop requested: final, nothing starts it again.
    case stopped = "STOPPED"
    /// Ended and, by the restart mode, not restarted (`lastExit` says how).
    case exited = "EXITED"
}

/// What happened to a supervised service.
public enum ServiceEvent: Sendable, Equatable {
    /// The process was launched. Report it before the process's exit, even when the launch failed
    /// at once (then report an exit too): exits are only counted while a process is running.
    case started(atMs: Int64)
    /// The service passed its health check (or has none and is up).
    case healthy(atMs: Int64)
    case exited(atMs: Int64, exitCode: Int32?, signal: Int32?)
    /// A failure like an exit: the caller kills the process; its exit is then ignored.
    case healthCheckFailed(atMs: Int64)
    case stopRequested
    /// Manual restart: the caller kills the running process, if any, and launches a new one now.
    case restartRequested
}

/// What the caller does after an event.
public enum RestartDecision: Sendable, Equatable {
    /// Launch the process again after the delay (then report `started`).
    case restart(afterMs: Int64)
    /// Leave the service down; the reason is for people ("exited 0", "stop requested").
    case stayDown(reason: String)
    /// Leave it down until a manual restart: it keeps failing soon after each start.
    case crashLoop(lastExit: ServiceExit)
    /// Nothing to do.
    case none
}

/// Supervises one long-running service process: a pure state machine fed with events, which decides
/// whether and when to restart. Delays double per consecutive restart up to a cap; a run that lasted
/// `stableAfterMs` resets them, and `crashLoopFailures` quick failures in a row stop the restarts.
public struct ServiceSupervisor: Sendable, Equatable {
    public struct Config: Sendable, Equatable {
        public var mode: RestartMode
        public var initialBackoffMs: Int64
        public var maxBackoffMs: Int64
        /// A run at least this long is stable: it resets the backoff and the quick-failure count.
        public var stableAfterMs: Int64
        /// Quick failures in a row that make a crash loop.
        public var crashLoopFailures: Int

        public init(mode: RestartMode, initialBackoffMs: Int64 = 500, maxBackoffMs: Int64 = 30_000,
                    stableAfterMs: Int64 = 10_000, crashLoopFailures: Int = 5) {
            precondition(initialBackoffMs >= 0 && maxBackoffMs >= 0 && stableAfterMs >= 0)
            precondition(crashLoopFailures >= 1)
            self.mode = mode
            self.initialBackoffMs = initialBackoffMs
            self.maxBackoffMs = maxBackoffMs
            self.stableAfterMs = stableAfterMs
            self.crashLoopFailures = crashLoopFailures
        }

        /// Delay before restart number `attempt` (0-based) since the last stable run:
        /// `initialBackoffMs · 2^attempt`, capped at `maxBackoffMs`.
        public func backoffMs(attempt: Int) -> Int64 {
            let capped = min(initialBackoffMs, maxBackoffMs)
            guard attempt > 0, capped > 0 else { return capped }
            let shift = Int64(min(attempt, 62))
            // Compare before shifting so huge attempt numbers cannot overflow.
            return initialBackoffMs > maxBackoffMs >> shift ? maxBackoffMs : initialBackoffMs << shift
        }
    }

    public let config: Config
    public private(set) var state: ServiceState = .starting
    /// Launches after the first (automatic and manual).
    public private(set) var restarts = 0
    public private(set) var lastExit: ServiceExit?
    /// When the current (or last) process was launched; nil before the first launch.
    public private(set) var startedAtMs: Int64?
    /// Quick failures in a row: runs shorter than `stableAfterMs` whose end called for a restart
    /// (under `always` a quick exit 0 counts too: a service that keeps exiting loops either way).
    public private(set) var quickFailures = 0
    /// Restarts since the last stable run or manual restart: the backoff exponent.
    private var attempt = 0

    /// A supervisor whose first launch is due (state STARTING).
    public init(config: Config) {
        self.config = config
    }

    /// Applies `event`; restart delays are exact.
    public mutating func handle(_ event: ServiceEvent) -> RestartDecision {
        switch event {
        case .started(let now):
            guard state == .starting || state == .restarting else { return .none }
            if state == .restarting { restarts += 1 }
            state = .starting
            startedAtMs = now
            return .none
        case .healthy:
            if state == .starting { state = .healthy }
            return .none
        case .exited(let now, let exitCode, let signal):
            return ended(ServiceExit(atMs: now, exitCode: exitCode, signal: signal))
        case .healthCheckFailed(let now):
            return ended(ServiceExit(atMs: now, exitCode: nil, signal: nil, healthCheckFailed: true))
        case .stopRequested:
            state = .stopped
            return .none
        case .restartRequested:
            guard state != .stopped else { return .stayDown(reason: "stop requested") }
            // A person asked: start over as if the service had never failed.
            quickFailures = 0
            attempt = 0
            state = .restarting
            return .restart(afterMs: 0)
        }
    }

    /// Applies `event`; a restart delay `d` becomes a random delay in [d/2, d], so services that
    /// failed together (say, on a shared dependency) do not restart in lockstep.
    public mutating func handle(_ event: ServiceEvent, using rng: inout some RandomNumberGenerator) -> RestartDecision {
        let decision = handle(event)
        guard case .restart(let d) = decision, d > 0 else { return decision }
        return .restart(afterMs: d / 2 + Int64.random(in: 0...(d - d / 2), using: &rng))
    }

    private mutating func ended(_ exit: ServiceExit) -> RestartDecision {
        switch state {
        case .starting, .healthy:
            break
        case .stopped:
            // The process the stop killed: worth keeping how it ended, never a restart.
            if !exit.healthCheckFailed { lastExit = exit }
            return .stayDown(reason: "stop requested")
        case .restarting, .crashLoop, .exited:
            // No process of ours runs: this is the one the caller killed after a failed health
            // check or for a manual restart, already accounted for.
            return .none
        }
        lastExit = exit
        guard config.mode.restarts(after: exit) else {
            state = .exited
            return .stayDown(reason: exit.description)
        }
        let ranMs = startedAtMs.map { exit.atMs - $0 } ?? 0
        if ranMs >= config.stableAfterMs {
            quickFailures = 0
            attempt = 0
        } else {
            quickFailures += 1
            if quickFailures >= config.crashLoopFailures {
                state = .crashLoop
                return .crashLoop(lastExit: exit)
            }
        }
        let delay = config.backoffMs(attempt: attempt)
        attempt += 1
        state = .restarting
        return .restart(afterMs: delay)
    }
}
