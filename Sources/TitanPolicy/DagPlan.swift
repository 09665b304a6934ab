/// Validates a DAG's shape before anything runs, and gives a topological order. Pure.
public enum DagPlan {
    /// What is wrong with a DAG, naming the jobs involved.
    public enum Problem: Error, Sendable, Equatable, CustomStringConvertible {
        case empty
        case invalidId(index: Int, id: String)
        case duplicateId(id: String, first: Int, second: Int)
        case unknownParent(job: String, parent: String)
        case duplicateParent(job: String, parent: String)
        case cycle([String])

        public var description: String {
            switch self {
            case .empty:
                "a DAG needs at least one job"
            case .invalidId(let index, let id):
                "jobs[\(index)]: invalid id '\(id)': use 1 to 128 letters, digits, '-', '_' or '.'"
            case .duplicateId(let id, let first, let second):
                "duplicate job id '\(id)' (jobs[\(first)] and jobs[\(second)])"
            case .unknownParent(let job, let parent):
                "job '\(job)' depends on unknown job '\(parent)'"
            case .duplicateParent(let job, let parent):
                "job '\(job)' lists '\(parent)' twice in depends_on"
            case .cycle(let path):
                "cycle: \(path.joined(separator: " -> "))"
            }
        }
    }

    /// Whether `id` is a valid job id within a DAG.
    public static func isValidId(_ id: String) -> Bool {
        guard !id.isEmpty, id.utf8.count <= 128 else { return false }
        return id.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
                || c == 0x2D || c == 0x5F || c == 0x2E
        }
    }

    /// Checks ids, parents and acyclicity of `jobs` (id, parent ids); returns the job indices in
    /// a topological order (parents before children, submission order among peers).
    public static func order(_ jobs: [(id: String, dependsOn: [String])]) -> Result<[Int], Problem> {
        guard !jobs.isEmpty else { return .failure(.empty) }
        var index: [String: Int] = [:]
        for (i, job) in jobs.enumerated() {
            guard isValidId(job.id) else { return .failure(.invalidId(index: i, id: job.id)) }
            if let first = index[job.id] { return .failure(.duplicateId(id: job.id, first: first, second: i)) }
            index[job.id] = i
        }
        var children = Array(repeating: [Int](), count: jobs.count)
        var indegree = Array(repeating: 0, count: jobs.count)
        for (i, job) in jobs.enumerated() {
            var seen: Set<String> = []
            for parent in job.dependsOn {
                guard let p = index[parent] else { return .failure(.unknownParent(job: job.id, parent: parent)) }
                guard seen.insert(parent).inserted else { return .failure(.duplicateParent(job: job.id, parent: parent)) }
                children[p].append(i)
                indegree[i] += 1
            }
        }
        // Kahn's algorithm, FIFO so peers keep their submission order.
        var order: [Int] = []
        order.reserveCapacity(jobs.count)
        var ready = (0..<jobs.count).filter { indegree[$0] == 0 }
        var head = 0
        while head < ready.count {
            let n = ready[head]
            head += 1
            order.append(n)
            for c in children[n] {
                indegree[c] -= 1
                if indegree[c] == 0 { ready.append(c) }
            }
        }
        if order.count == jobs.count { return .success(order) }
        return .failure(.cycle(findCycle(jobs, index: index, remaining: Set((0..<jobs.count).filter { indegree[$0] > 0 }))))
    }

    /// A cycle among the jobs Kahn's algorithm could not order: walk parent links from one of
    /// them until a job repeats (every such job has a parent that is also left over).
    private static func findCycle(_ jobs: [(id: String, dependsOn: [String])], index: [String: Int],
                                  remaining: Set<Int>) -> [String] {
        guard var node = remaining.min() else { return [] }
        var position: [Int: Int] = [:]
        var path: [Int] = []
        while position[node] == nil {
            position[node] = path.count
            path.append(node)
            guard let next = jobs[node].dependsOn.lazy.compactMap({ index[$0] }).first(where: { remaining.contains($0) })
            else { break }
            node = next
        }
        // path walks child → parent; the cycle is from the first repeat; show it parent → child.
        let start = position[node] ?? 0
        var cycle = path[start...].map { jobs[$0].id }.reversed().map { $0 }
        if let first = cycle.first { cycle.append(first) }
        return cycle
    }
}
