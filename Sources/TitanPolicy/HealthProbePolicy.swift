/// How one health probe (TCP connect or HTTP GET) of a service ended.
public enum ProbeOutcome: Sendable, Equatable, CustomStringConvertible {
    case passed
    /// Refused, closed early, a non-2xx/3xx status: the text says which.
    case failed(String)
    /// No answer within the probe's timeout: a probe that hangs is a failure.
    case timedOut(afterMs: Int64)

    public var description: String {
        switch self {
        case .passed: "passed"
        case .failed(let why): why
        case .timedOut(let ms): "probe timed out after \(ms) ms"
        }
    }
}

/// What the caller does after a probe.
public enum HealthVerdict: Sendable, Equatable {
    /// First pass since the (re)start: report HEALTHY, probe again after the interval.
    case becameHealthy(probeAgainAfterMs: Int64)
    case probeAgain(afterMs: Int64)
    /// Give up on this process: kill it and restart per policy (`healthCheckFailed`).
    case unhealthy(reason: String)
}

/// Decides what health probes mean for one run of a service: a pure state machine fed with
/// probe outcomes and their times. A starting service must pass a probe within `startDeadlineMs`
/// of its launch (the first failure at or after the deadline gives up on it); a healthy one is
/// given up on after `failureThreshold` failures in a row. Every probe has `timeoutMs`.
public struct HealthProbePolicy: Sendable, Equatable {
    public struct Config: Sendable, Equatable {
        /// Between probes of a healthy service; a starting one is probed 4x as often.
        public var intervalMs: Int64
        /// A probe without an answer by then has failed.
        public var timeoutMs: Int64
        /// From launch: not healthy by then is a failure of the run.
        public var startDeadlineMs: Int64
        /// Failures in a row that end a healthy run.
        public var failureThreshold: Int

        public init(intervalMs: Int64 = 1_000, timeoutMs: Int64 = 2_000, startDeadlineMs: Int64 = 10_000,
                    failureThreshold: Int = 3) {
            precondition(intervalMs > 0 && timeoutMs > 0 && startDeadlineMs >= 0 && failureThreshold >= 1)
            self.intervalMs = intervalMs
            self.timeoutMs = timeoutMs
            self.startDeadlineMs = startDeadlineMs
            self.failureThreshold = failureThreshold
        }

        /// Probes of a starting service come this often, so it is seen healthy soon.
        public var startingIntervalMs: Int64 { max(1, intervalMs / 4) }
    }

    public let config: Config
    public let startedAtMs: Int64
    public private(set) var healthy = false
    /// Failures in a row since the last pass.
    public private(set) var failures = 0

    /// A run launched at `startedAtMs`: not healthy yet.
    public init(config: Config, startedAtMs: Int64) {
        self.config = config
        self.startedAtMs = startedAtMs
    }

    /// Delay before the first probe of the run.
    public var firstProbeAfterMs: Int64 { min(config.startingIntervalMs, config.startDeadlineMs) }

    /// Applies a probe that ended at `nowMs`.
    public mutating func record(_ outcome: ProbeOutcome, atMs nowMs: Int64) -> HealthVerdict {
        if outcome == .passed {
            failures = 0
            if healthy { return .probeAgain(afterMs: config.intervalMs) }
            healthy = true
            return .becameHealthy(probeAgainAfterMs: config.intervalMs)
        }
        failures += 1
        if healthy {
            guard failures >= config.failureThreshold else { return .probeAgain(afterMs: config.intervalMs) }
            return .unhealthy(reason: "health check failed \(failures) times in a row (last: \(outcome))")
        }
        let deadline = startedAtMs + config.startDeadlineMs
        guard nowMs < deadline else {
            return .unhealthy(reason: "health check failed: not healthy within \(config.startDeadlineMs) ms of start (last: \(outcome))")
        }
        // Probe again soon, and at the latest at the deadline so it is judged then.
        return .probeAgain(afterMs: max(0, min(config.startingIntervalMs, deadline - nowMs)))
    }
}
