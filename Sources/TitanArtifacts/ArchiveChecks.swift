/// The checks an archive passes before anything of it is written (and a folder before it is
/// zipped): friendly, early errors naming the entry. What guarantees that nothing lands outside
/// the destination is ``BeneathRoot``, which the writes go through.
extension ProjectArchive {
    /// Longest symlink target accepted (PATH_MAX): the target is read into memory whole.
    static let maxSymlinkTarget = 4096
    /// Symlinks followed while resolving one (Linux's MAXSYMLINKS).
    static let maxSymlinkHops = 40

    /// The entry's path components with `.` and empty ones dropped; throws for an absolute path,
    /// a NUL byte or any `..`.
    static func safeComponents(of path: String, in archive: String) throws(ArtifactError) -> [String] {
        if path.unicodeScalars.first == "/" || path.unicodeScalars.first == "\\" {
            throw ArtifactError(.invalid, "'\(archive)': entry '\(path)' has an absolute path")
        }
        if path.utf8.contains(0) { throw ArtifactError(.invalid, "'\(archive)': an entry name contains a NUL byte") }
        var parts: [String] = []
        for part in BeneathRoot.split(path, backslash: true) where part != "." {
            if part == ".." { throw ArtifactError(.invalid, "'\(archive)': entry '\(path)' escapes the destination ('..')") }
            parts.append(String(part))
        }
        return parts
    }

    /// A symlink of an archive (or of a folder being zipped): where it is, and what it says.
    struct Symlink {
        var parts: [String]
        var target: String
        /// The path as the archive or folder names it, for messages.
        var shown: String
    }

    /// Where a symlink leads once the others of the same tree are followed too.
    enum Resolution: Equatable {
        case inside
        case absolute
        /// Above the destination; `via` is the last symlink followed on the way, if any.
        case outside(via: String?)
        case loop
    }

    /// Resolves `link` as the kernel would once the whole tree is on disk: components of its
    /// target in turn, `..` going up, and any prefix that is itself one of `symlinks` (keyed by
    /// path) replaced by that symlink's target. Each target may look harmless on its own while
    /// the chain leaves the tree: `a -> .`, `b -> a/..` is the destination's parent.
    static func resolve(_ link: Symlink, among symlinks: [String: Symlink]) -> Resolution {
        var resolved = Array(link.parts.dropLast())
        var pending = Array(BeneathRoot.split(link.target).reversed())
        if link.target.unicodeScalars.first == "/" { return .absolute }
        var hops = 0
        var via: String?
        while let part = pending.popLast() {
            switch part {
            case ".":
                continue
            case "..":
                if resolved.isEmpty { return .outside(via: via) }
                resolved.removeLast()
            default:
                resolved.append(String(part))
                guard let next = symlinks[resolved.joined(separator: "/")] else { continue }
                hops += 1
                if hops > maxSymlinkHops { return .loop }
                if next.target.unicodeScalars.first == "/" { return .outside(via: next.shown) }
                via = next.shown
                resolved.removeLast()
                pending += BeneathRoot.split(next.target).reversed()
            }
        }
        return .inside
    }

    /// Every symlink must resolve inside the destination (see ``resolve(_:among:)``); `tree`
    /// names it in messages.
    static func checkSymlinks(_ links: [Symlink], in archive: String, tree: String = "the destination") throws(ArtifactError) {
        guard !links.isEmpty else { return }
        var byPath: [String: Symlink] = [:]
        for link in links { byPath[link.parts.joined(separator: "/")] = link }
        for link in links {
            switch resolve(link, among: byPath) {
            case .inside:
                continue
            case .absolute:
                throw ArtifactError(.invalid, "'\(archive)': symlink '\(link.shown)' points to the absolute path '\(link.target)'")
            case .outside(let via):
                let through = via.map { ", through the symlink '\($0)'" } ?? ""
                throw ArtifactError(.invalid, "'\(archive)': symlink '\(link.shown)' points outside \(tree) ('\(link.target)'\(through))")
            case .loop:
                throw ArtifactError(.invalid, "'\(archive)': symlink '\(link.shown)' is part of a loop or a chain of more than \(maxSymlinkHops) symlinks")
            }
        }
    }

    /// No entry may lie below one of the archive's own symlinks: it would be written through it.
    static func refuseEntriesBelowSymlinks(_ paths: [(parts: [String], shown: String)], links: [Symlink],
                                           in archive: String) throws(ArtifactError) {
        guard !links.isEmpty else { return }
        let linkPaths = Set(links.map { $0.parts.joined(separator: "/") })
        for path in paths where path.parts.count > 1 {
            var prefix = ""
            for part in path.parts.dropLast() {
                prefix += prefix.isEmpty ? part : "/" + part
                if linkPaths.contains(prefix) {
                    throw ArtifactError(.invalid, "'\(archive)': entry '\(path.shown)' would be written through the archive's symlink '\(prefix)'")
                }
            }
        }
    }

    /// No entry may lie below one of the archive's own file entries, and a path may not be both a
    /// file and a directory: found half-way through the writes, either would leave a partial tree.
    static func refuseEntriesBelowFiles(_ paths: [(parts: [String], shown: String, isDirectory: Bool)],
                                        in archive: String) throws(ArtifactError) {
        var files: [String: String] = [:]
        var directories = Set<String>()
        for path in paths where !path.parts.isEmpty {
            let joined = path.parts.joined(separator: "/")
            if path.isDirectory { directories.insert(joined) } else { files[joined] = path.shown }
        }
        for path in paths where !path.parts.isEmpty {
            var prefix = ""
            for part in path.parts.dropLast() {
                prefix += prefix.isEmpty ? part : "/" + part
                if let file = files[prefix] {
                    throw ArtifactError(.invalid, "'\(archive)': entry '\(path.shown)' lies below the file entry '\(file)'")
                }
                directories.insert(prefix)
            }
        }
        for (joined, shown) in files where directories.contains(joined) {
            throw ArtifactError(.invalid, "'\(archive)': entry '\(shown)' is both a file and a directory in the archive")
        }
    }
}
