/// What to do when a scheduled run would start while the previous run of the same schedule is still
/// active.
public enum OverlapPolicy: String, Sendable, CaseIterable {
    /// Don't start; the fire time counts as missed.
    case skip
    /// Start anyway; both runs are active.
    case allow
    /// Start, and cancel the previous run.
    case cancelPrevious = "cancel-previous"
}

/// What to do when several fire times passed unhandled (the master was down, or its timer was late
/// by more than one period).
public enum MissedRunPolicy: String, Sendable, CaseIterable {
    /// Run none of them; the next run is at the next fire time after now.
    case skip
    /// One catch-up run now stands for all of them.
    case runOnce = "run-once"
}

/// The outcome of `CronPolicy.decide`.
public struct CronDecision: Equatable, Sendable {
    /// Start a run now.
    public var start: Bool
    /// Cancel the previous, still active, run (only ever true together with `start`).
    public var cancelPrevious: Bool
    /// When to evaluate next: the first fire time after `max(nowMs, lastFireMs)`; nil when the
    /// schedule has none within its search horizon.
    public var nextFireMs: Int64?
    /// Due fire times that get no run of their own: `due − (start ? 1 : 0)`, where `due` is counted
    /// up to `CronPolicy.maxCountedFireTimes`.
    public var missedRuns: Int

    public init(start: Bool, cancelPrevious: Bool, nextFireMs: Int64?, missedRuns: Int) {
        self.start = start
        self.cancelPrevious = cancelPrevious
        self.nextFireMs = nextFireMs
        self.missedRuns = missedRuns
    }
}

/// The pure decision behind cron-scheduled jobs: the scheduler calls `decide` when its timer fires
/// (at `nextFireMs` of the previous decision) and when the master starts, then acts on the result.
public enum CronPolicy {
    /// The most due fire times `decide` counts (bounds its cost after a very long outage).
    public static let maxCountedFireTimes = 10_000

    /// Decides whether to start a run now.
    ///
    /// `lastFireMs` is the high-water mark of fire times already handled: after acting on a
    /// decision, store `nowMs` as the next call's `lastFireMs` (storing the latest due fire time
    /// gives the same results). Nil means the schedule was never evaluated (just created): nothing
    /// is due yet, the first run is at `nextFireMs`.
    ///
    /// The **due** fire times are those `t` with `lastFireMs < t ≤ nowMs`; let `n` be how many
    /// (counted up to `maxCountedFireTimes`). Then:
    ///
    /// | n    | previous run active | overlap           | missed     | start | cancelPrevious | missedRuns |
    /// |------|---------------------|-------------------|------------|-------|----------------|------------|
    /// | 0    | any                 | any               | any        | no    | no             | 0          |
    /// | 1    | no                  | any               | any        | yes   | no             | 0          |
    /// | 1    | yes                 | `skip`            | any        | no    | no             | 1          |
    /// | 1    | yes                 | `allow`           | any        | yes   | no             | 0          |
    /// | 1    | yes                 | `cancelPrevious`  | any        | yes   | yes            | 0          |
    /// | ≥ 2  | any                 | any               | `skip`     | no    | no             | n          |
    /// | ≥ 2  | no                  | any               | `runOnce`  | yes   | no             | n − 1      |
    /// | ≥ 2  | yes                 | `skip`            | `runOnce`  | no    | no             | n          |
    /// | ≥ 2  | yes                 | `allow`           | `runOnce`  | yes   | no             | n − 1      |
    /// | ≥ 2  | yes                 | `cancelPrevious`  | `runOnce`  | yes   | yes            | n − 1      |
    ///
    /// In words: a single due fire time is run even if late (so a short outage or a late timer never
    /// loses a run); two or more mean the master was down, and `missed` chooses between one
    /// catch-up run now (`runOnce`) and none (`skip`: the next run is at `nextFireMs`). A run that
    /// is wanted then meets `overlap` if the previous run is still active. `cancelPrevious` is
    /// true only when a run starts while the previous one is active under `.cancelPrevious`.
    ///
    /// `nextFireMs` is `schedule.next(after: max(nowMs, lastFireMs))`: if the clock went backwards
    /// (`nowMs < lastFireMs`) nothing is due and no fire time already handled is scheduled again.
    public static func decide(
        schedule: CronSchedule, lastFireMs: Int64?, nowMs: Int64, previousRunActive: Bool,
        overlap: OverlapPolicy, missed: MissedRunPolicy
    ) -> CronDecision {
        let nextFireMs = schedule.next(after: max(nowMs, lastFireMs ?? nowMs))
        var due = 0
        if let lastFireMs {
            var cursor = lastFireMs
            while due < maxCountedFireTimes, let t = schedule.next(after: cursor), t <= nowMs {
                due += 1
                cursor = t
            }
        }
        let wanted = due == 1 || (due >= 2 && missed == .runOnce)
        let start: Bool
        let cancelPrevious: Bool
        switch (wanted, previousRunActive, overlap) {
        case (false, _, _): (start, cancelPrevious) = (false, false)
        case (true, false, _): (start, cancelPrevious) = (true, false)
        case (true, true, .skip): (start, cancelPrevious) = (false, false)
        case (true, true, .allow): (start, cancelPrevious) = (true, false)
        case (true, true, .cancelPrevious): (start, cancelPrevious) = (true, true)
        }
        return CronDecision(
            start: start, cancelPrevious: cancelPrevious, nextFireMs: nextFireMs,
            missedRuns: due - (start ? 1 : 0))
    }
}
