import Foundation
import Logging

/// Retention of the per-DAG directories under a worker's work directory: a DAG's files are its
/// data bus while it runs, garbage long after.
enum DagDirectories {
    /// Removes the entries of `directory` not modified for `olderThanSeconds`; returns their names.
    @discardableResult
    static func removeStale(in directory: String, olderThanSeconds: Double, logger: Logger,
                            now: Date = Date()) -> [String] {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: directory) else { return [] }
        var removed: [String] = []
        for name in names {
            let path = directory + "/" + name
            guard let modified = (try? fm.attributesOfItem(atPath: path))?[.modificationDate] as? Date,
                  now.timeIntervalSince(modified) > olderThanSeconds else { continue }
            if (try? fm.removeItem(atPath: path)) != nil { removed.append(name) }
        }
        if !removed.isEmpty {
            logger.info("removed \(removed.count) stale DAG director(ies)", metadata: ["directory": "\(directory)"])
        }
        return removed.sorted()
    }
}
