import Foundation
import ZIPFoundation

/// Zipping a project folder (client side) and extracting an archive safely (worker side).
public enum ProjectArchive {
    /// Names skipped wherever they appear when zipping a project: version control, caches and
    /// build output, which jobs do not need and which can be large.
    public static let defaultExclusions: Set<String> = [".git", ".hg", ".svn", "__pycache__", ".build", ".DS_Store"]

    /// Limits on what an archive may expand to.
    public struct Limits: Sendable {
        public var maxEntries = 200_000
        public var maxTotalBytes: UInt64 = 16 << 30

        public init() {}
    }

    /// Zips the contents of `directory` (not the directory itself) into a new file at
    /// `archivePath`, deflated, in sorted order. File modes (the executable bit) are kept.
    /// Symlinks are stored as symlinks, never followed; one that leads outside the folder (alone
    /// or through others) is refused, as is anything but files, directories and symlinks (a FIFO
    /// would hang the read). Returns the number of entries.
    @discardableResult
    public static func zip(directory: String, to archivePath: String,
                           excluding: Set<String> = defaultExclusions) throws(ArtifactError) -> Int {
        let base = URL(fileURLWithPath: directory, isDirectory: true)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ArtifactError(.invalid, "'\(directory)' is not a directory")
        }
        var paths: [String] = []
        var links: [Symlink] = []
        try list(directory, relative: [], excluding: excluding, into: &paths, links: &links)
        do {
            try checkSymlinks(links, in: directory, tree: "the folder")
        } catch {
            throw ArtifactError(.invalid, error.message + "; symlinks are zipped as symlinks, not what they point to: copy the target into the folder, or remove the link")
        }
        paths.sort()
        FileIO.remove(archivePath)
        do {
            let archive = try Archive(url: URL(fileURLWithPath: archivePath), accessMode: .create)
            for relative in paths {
                try archive.addEntry(with: relative, relativeTo: base, compressionMethod: .deflate)
            }
        } catch {
            FileIO.remove(archivePath)
            throw ArtifactError(.io, "cannot zip '\(directory)': \(error)")
        }
        return paths.count
    }

    /// The entries below `relative` in `root`, depth first, by `lstat`: a symlink to a
    /// directory is an entry, not a directory to descend into.
    private static func list(_ root: String, relative: [String], excluding: Set<String>,
                             into paths: inout [String], links: inout [Symlink]) throws(ArtifactError) {
        let directory = relative.isEmpty ? root : root + "/" + relative.joined(separator: "/")
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        } catch {
            throw ArtifactError(.io, "cannot list '\(directory)': \(error.localizedDescription)")
        }
        for name in names where !excluding.contains(name) {
            let parts = relative + [name]
            let shown = parts.joined(separator: "/")
            let full = directory + "/" + name
            var info = stat()
            guard lstat(full, &info) == 0 else {
                throw ArtifactError(.io, "cannot read '\(full)': \(String(cString: strerror(errno)))")
            }
            switch info.st_mode & S_IFMT {
            case S_IFDIR:
                paths.append(shown)
                try list(root, relative: parts, excluding: excluding, into: &paths, links: &links)
            case S_IFREG:
                paths.append(shown)
            case S_IFLNK:
                guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: full) else {
                    throw ArtifactError(.io, "cannot read the symlink '\(full)'")
                }
                links.append(Symlink(parts: parts, target: target, shown: shown))
                paths.append(shown)
            default:
                throw ArtifactError(.invalid, "'\(full)' is not a file, a directory or a symlink (a FIFO, socket or device cannot be zipped)")
            }
        }
    }

    /// An archive read and checked whole, ready to be written.
    private struct Plan {
        var archive: Archive
        var entries: [(entry: Entry, parts: [String])]
        /// Symlink targets, by entry path (components joined).
        var targets: [String: String]
    }

    /// Extracts `archivePath` into `directory` (created if needed). Every entry is checked before
    /// anything is written: an absolute path, a `..` that leaves the directory, a symlink leading
    /// outside it (alone or through the archive's other symlinks), an entry below one of the
    /// archive's symlinks, a symlink already in the directory on an entry's way, or an archive
    /// past the limits rejects the whole archive with an error naming the entry. Then every
    /// write goes through ``BeneathRoot``: no symlink is ever followed (one planted meanwhile
    /// fails the extraction there), and existing files are replaced atomically.
    public static func extract(_ archivePath: String, into directory: String, limits: Limits = Limits()) throws(ArtifactError) {
        let plan = try plan(archivePath, limits: limits)
        try write(plan, from: archivePath, beneath: try BeneathRoot(opening: directory), at: [])
    }

    /// Extracts `archivePath` into the directory `destination` (components, created if needed)
    /// beneath `root`, as ``extract(_:into:limits:)`` does.
    public static func extract(_ archivePath: String, beneath root: BeneathRoot, at destination: [String],
                               limits: Limits = Limits()) throws(ArtifactError) {
        let plan = try plan(archivePath, limits: limits)
        try write(plan, from: archivePath, beneath: root, at: destination)
    }

    /// Reads the entry list and every symlink target, and checks them all.
    private static func plan(_ archivePath: String, limits: Limits) throws(ArtifactError) -> Plan {
        let archive: Archive
        do {
            archive = try Archive(url: URL(fileURLWithPath: archivePath), accessMode: .read)
        } catch {
            throw ArtifactError(.corrupt, "'\(archivePath)' is not a readable zip archive: \(error)")
        }
        var entries: [(entry: Entry, parts: [String])] = []
        var links: [Symlink] = []
        var total: UInt64 = 0
        for entry in archive {
            let parts = try safeComponents(of: entry.path, in: archivePath)
            if entry.type == .symlink {
                try checkSymlinkSize(entry, in: archivePath)
                var target = Data()
                do {
                    _ = try archive.extract(entry) { target.append($0) }
                } catch {
                    throw ArtifactError(.corrupt, "'\(archivePath)': cannot read symlink entry '\(entry.path)': \(error)")
                }
                guard let text = String(data: target, encoding: .utf8), !text.isEmpty, !text.utf8.contains(0) else {
                    throw ArtifactError(.invalid, "'\(archivePath)': symlink entry '\(entry.path)' has an empty target, or one that is not UTF-8")
                }
                if parts.isEmpty {
                    throw ArtifactError(.invalid, "'\(archivePath)': symlink entry '\(entry.path)' would replace the destination itself")
                }
                links.append(Symlink(parts: parts, target: text, shown: entry.path))
            }
            total += entry.uncompressedSize
            entries.append((entry, parts))
            guard entries.count <= limits.maxEntries else {
                throw ArtifactError(.invalid, "'\(archivePath)' has more than \(limits.maxEntries) entries")
            }
            guard total <= limits.maxTotalBytes else {
                throw ArtifactError(.invalid, "'\(archivePath)' expands to more than \(limits.maxTotalBytes) bytes")
            }
        }
        try checkSymlinks(links, in: archivePath)
        try refuseEntriesBelowSymlinks(entries.map { ($0.parts, $0.entry.path) }, links: links, in: archivePath)
        try refuseEntriesBelowFiles(entries.map { ($0.parts, $0.entry.path, $0.entry.type == .directory) }, in: archivePath)
        var targets: [String: String] = [:]
        for link in links { targets[link.parts.joined(separator: "/")] = link.target }
        return Plan(archive: archive, entries: entries, targets: targets)
    }

    private static func write(_ plan: Plan, from archivePath: String, beneath root: BeneathRoot,
                              at destination: [String]) throws(ArtifactError) {
        try refusePlantedSymlinks(plan, from: archivePath, beneath: root, at: destination)
        let target: BeneathRoot
        do {
            target = try root.directory(destination, entry: destination.joined(separator: "/"))
        } catch {
            throw ArtifactError(error.kind, "'\(archivePath)': the destination \(error.message)")
        }
        // Entries come grouped by directory: the parent of the last one is kept open.
        var parentParts: ArraySlice<String> = []
        var parent = target
        for (entry, parts) in plan.entries where !parts.isEmpty {
            do throws(ArtifactError) {
                if entry.type == .directory {
                    _ = try target.directory(parts, entry: entry.path)
                    continue
                }
                if parts.dropLast() != parentParts {
                    parent = try target.directory(parts.dropLast(), entry: entry.path)
                    parentParts = parts.dropLast()
                }
                let name = [parts[parts.count - 1]]
                if entry.type == .symlink {
                    try parent.makeSymlink(name, target: plan.targets[parts.joined(separator: "/")] ?? "", entry: entry.path)
                } else {
                    try parent.writeFile(name, entry: entry.path, mode: permissions(of: entry)) { (sink) throws(ArtifactError) in
                        try copy(entry, of: plan.archive, from: archivePath, to: &sink)
                    }
                }
            } catch {
                throw ArtifactError(error.kind, "'\(archivePath)': entry \(error.message)")
            }
        }
    }

    /// An entry's content into `sink`: no more than the size it declares, and matching its CRC.
    private static func copy(_ entry: Entry, of archive: Archive, from archivePath: String,
                             to sink: inout BeneathRoot.FileSink) throws(ArtifactError) {
        let declared = entry.uncompressedSize
        let checksum: CRC32
        do {
            checksum = try archive.extract(entry) { data in
                guard sink.count + UInt64(data.count) <= declared else {
                    throw ArtifactError(.corrupt, "'\(entry.path)' expands past the \(declared) bytes it declares")
                }
                try sink.write(data)
            }
        } catch let error as ArtifactError {
            throw error
        } catch {
            throw ArtifactError(.corrupt, "'\(entry.path)' cannot be read: \(error)")
        }
        guard checksum == entry.checksum, sink.count == declared else {
            throw ArtifactError(.corrupt, "'\(entry.path)' does not match its size or CRC-32")
        }
    }

    /// Permission bits kept from the archive (no setuid, setgid or sticky bit).
    private static func permissions(of entry: Entry) -> mode_t {
        guard let mode = entry.fileAttributes[.posixPermissions] as? NSNumber else { return 0o644 }
        let bits = mode_t(mode.uint16Value) & 0o777
        return bits == 0 ? 0o644 : bits
    }

    /// Refuses, before anything is written, an archive whose entries would go through a symlink
    /// already in the destination (a job could have left one pointing anywhere). The writes
    /// check again; this makes the common case a whole refusal rather than a partial write.
    private static func refusePlantedSymlinks(_ plan: Plan, from archivePath: String, beneath root: BeneathRoot,
                                              at destination: [String]) throws(ArtifactError) {
        var seen = Set<String>()
        for (entry, parts) in plan.entries {
            let directory = destination + (entry.type == .directory ? parts : Array(parts.dropLast()))
            guard seen.insert(directory.joined(separator: "/")).inserted else { continue }
            if let link = root.firstSymlink(along: directory) {
                throw ArtifactError(.invalid, "'\(archivePath)': entry '\(entry.path)' would be written through the symlink '\(link)' in '\(root.path)'; nothing is written through a symlink")
            }
        }
    }

    /// ZIPFoundation reads a symlink's target in one allocation the size its local header gives,
    /// which need not agree with the central directory: a 400-byte archive claiming 4 GiB there
    /// made the worker allocate 4 GiB (or die where that fails). That header is not public API,
    /// so its size is read by reflection; if it cannot be (ZIPFoundation changed), symlinks are
    /// refused rather than read blind.
    static func checkSymlinkSize(_ entry: Entry, in archive: String) throws(ArtifactError) {
        let header = Mirror(reflecting: entry).descendant("localFileHeader")
        guard let header, let local = Mirror(reflecting: header).descendant("compressedSize") as? UInt32 else {
            throw ArtifactError(.invalid, "'\(archive)': cannot check the size of symlink '\(entry.path)'")
        }
        guard UInt64(local) <= UInt64(maxSymlinkTarget), entry.compressedSize <= UInt64(maxSymlinkTarget), entry.uncompressedSize <= UInt64(maxSymlinkTarget) else {
            throw ArtifactError(.invalid, "'\(archive)': symlink '\(entry.path)' claims a target of "
                                + "\(max(UInt64(local), entry.compressedSize)) bytes (at most \(maxSymlinkTarget))")
        }
    }
}
