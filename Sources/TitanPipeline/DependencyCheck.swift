import Yams

/// Ids unique, dependencies known and listed once, no cycles: what the master checks too, but
/// here with the line at fault.
enum DependencyCheck {
    static func check(_ jobs: [ParsedJob], reader: NodeReader) throws(PipelineError) {
        var index: [String: Int] = [:]
        for job in jobs {
            if let first = index[job.job.id] {
                throw reader.error(job.idNode, "\(job.keyPath).id",
                                   "duplicate job id '\(job.job.id)': jobs[\(first)] at line \(jobs[first].idNode.line) has it too")
            }
            index[job.job.id] = job.index
        }
        let ids = jobs.map(\.job.id)

        var parents: [[Int]] = []
        parents.reserveCapacity(jobs.count)
        for job in jobs {
            var seen: [String: Node] = [:]
            var list: [Int] = []
            for dependency in job.dependencies {
                if let earlier = seen[dependency.id] {
                    let also = earlier.line == dependency.node.line ? "" : " (also at line \(earlier.line))"
                    throw reader.error(dependency.node, dependency.key,
                                       "'\(dependency.id)' is listed twice\(also)")
                }
                seen[dependency.id] = dependency.node
                guard let parent = index[dependency.id] else {
                    var message = "unknown job id '\(dependency.id)'"
                    if let suggestion = KeySuggestion.closest(to: dependency.id, among: ids) {
                        message += "; did you mean '\(suggestion)'?"
                    }
                    throw reader.error(dependency.node, dependency.key, message)
                }
                list.append(parent)
            }
            parents.append(list)
        }

        if let cycle = findCycle(parents) {
            try reportCycle(cycle, jobs: jobs, reader: reader)
        }
    }

    /// A cycle as job indices, each depending on the next (and the last on the first), or nil.
    /// Iterative depth-first search, so long chains cannot overflow the stack.
    static func findCycle(_ parents: [[Int]]) -> [Int]? {
        enum Mark { case unvisited, onPath, done }
        var marks = [Mark](repeating: .unvisited, count: parents.count)
        for start in parents.indices where marks[start] == .unvisited {
            var path: [(job: Int, next: Int)] = [(start, 0)]
            marks[start] = .onPath
            while let top = path.last {
                guard top.next < parents[top.job].count else {
                    marks[top.job] = .done
                    path.removeLast()
                    continue
                }
                path[path.count - 1].next += 1
                let parent = parents[top.job][top.next]
                switch marks[parent] {
                case .onPath:
                    let from = path.firstIndex { $0.job == parent } ?? 0
                    return path[from...].map(\.job)
                case .unvisited:
                    marks[parent] = .onPath
                    path.append((parent, 0))
                case .done:
                    break
                }
            }
        }
        return nil
    }

    /// Names the cycle in run order (each job depends on the one before it), starting from the
    /// job that comes first in the file, and points at that job.
    private static func reportCycle(_ cycle: [Int], jobs: [ParsedJob], reader: NodeReader) throws(PipelineError) {
        var order = Array(cycle.reversed())
        if let first = order.indices.min(by: { order[$0] < order[$1] }) {
            order = Array(order[first...] + order[..<first])
        }
        let names = (order + [order[0]]).map { jobs[$0].job.id }
        let job = jobs[order[0]]
        let message = order.count == 1
            ? "job '\(job.job.id)' depends on itself: \(names.joined(separator: " -> "))"
            : "dependency cycle: \(names.joined(separator: " -> ")) (each job depends on the one before it)"
        throw reader.error(job.node, "\(job.keyPath).depends_on", message)
    }
}
