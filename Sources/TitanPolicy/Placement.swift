/// What placement needs to know about one worker.
public struct WorkerCapacity: Sendable, Equatable {
    public var id: String
    public var capabilities: Set<String>
    public var slots: Int
    public var running: Int
    /// False while the worker is draining, suspected dead or disconnected.
    public var accepting: Bool

    public init(id: String, capabilities: Set<String>, slots: Int, running: Int, accepting: Bool = true) {
        self.id = id
        self.capabilities = capabilities
        self.slots = slots
        self.running = running
        self.accepting = accepting
    }

    public var free: Int { max(0, slots - running) }

    /// Whether this worker has every tag in `requirements` (strict routing: GENERAL is a tag like
    /// any other and is only required when asked for).
    public func matches(_ requirements: Set<String>) -> Bool {
        requirements.isSubset(of: capabilities)
    }
}

/// Placement policy: pure functions over a snapshot of worker capacity.
public enum Placement {
    /// The least-loaded accepting worker that has every required tag and a free slot. Ties go to
    /// the worker with the fewest specialised tags the job does not need (so a CPU job leaves the
    /// GPU worker free for GPU jobs), then the most free slots, then the smallest id.
    /// A `preferred` worker (soft affinity) wins whenever it could take the job.
    public static func choose(requirements: Set<String>, among workers: some Sequence<WorkerCapacity>,
                              preferred: String? = nil) -> String? {
        var best: WorkerCapacity?
        for w in workers where w.accepting && w.free > 0 && w.matches(requirements) {
            if w.id == preferred { return w.id }
            guard let b = best else {
                best = w
                continue
            }
            if rank(w, requirements) < rank(b, requirements) { best = w }
        }
        return best?.id
    }

    /// For one copy of a service with several: the best matching worker that runs none of the
    /// other copies (`avoiding`), so one worker's loss takes down as few copies as possible; any
    /// matching worker when every one with room already runs a copy, unless `strictly` (copies
    /// on one fixed port cannot share a machine): then none.
    public static func choose(requirements: Set<String>, among workers: [WorkerCapacity], avoiding: Set<String>,
                              strictly: Bool = false) -> String? {
        guard !avoiding.isEmpty else { return choose(requirements: requirements, among: workers) }
        let apart = choose(requirements: requirements, among: workers.lazy.filter { !avoiding.contains($0.id) })
        return apart ?? (strictly ? nil : choose(requirements: requirements, among: workers))
    }

    /// Lower is better: load, then specialised tags the job does not need (GENERAL and the
    /// implicit `worker:ID` tag are not specialised), then free slots (more is better), then id.
    private static func rank(_ w: WorkerCapacity, _ requirements: Set<String>) -> (Double, Int, Int, String) {
        let spare = w.capabilities.lazy.filter { !requirements.contains($0) && $0 != general && !isPinTag($0) }.count
        return (Double(w.running) / Double(w.slots), spare, -w.free, w.id)
    }

    /// The tag of a worker with no special capability.
    public static let general = "GENERAL"

    /// Every worker implicitly has the tag `worker:ID`: a job that must run on one worker (hard
    /// affinity) requires it, and strict routing does the rest.
    public static let pinPrefix = "worker:"
    public static func pinTag(_ workerId: String) -> String { pinPrefix + workerId }
    public static func isPinTag(_ tag: String) -> Bool { tag.hasPrefix(pinPrefix) }

    /// Why a job with `requirements` cannot be placed now, in words a user can act on.
    public static func whyPending(requirements: Set<String>, among workers: some Sequence<WorkerCapacity>) -> String {
        let all = Array(workers)
        let tags = requirements.sorted().joined(separator: ",")
        if let pin = requirements.first(where: isPinTag) {
            let pinned = pin.dropFirst(pinPrefix.count)
            if !all.contains(where: { $0.id == pinned }) { return "waiting for worker \(pinned) (hard affinity)" }
        }
        if all.isEmpty { return "no workers registered" }
        let matching = all.filter { $0.matches(requirements) }
        if matching.isEmpty { return requirements.isEmpty ? "no workers registered" : "no worker with \(tags)" }
        let accepting = matching.filter(\.accepting)
        if accepting.isEmpty { return "all \(matching.count) matching worker(s) unavailable" }
        if accepting.allSatisfy({ $0.free == 0 }) {
            let what = requirements.isEmpty ? "" : "\(tags) "
            return "all \(accepting.count) \(what)worker(s) full"
        }
        return "waiting in queue"
    }
}
