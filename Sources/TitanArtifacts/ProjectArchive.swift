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
    /// Returns the number of entries.
    @discardableResult
    public static func zip(directory: String, to archivePath: String,
                           excluding: Set<String> = defaultExclusions) throws(ArtifactError) -> Int {
        let base = URL(fileURLWithPath: directory, isDirectory: true)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ArtifactError(.invalid, "'\(directory)' is not a directory")
        }
        guard let enumerator = FileManager.default.enumerator(atPath: directory) else {
            throw ArtifactError(.io, "cannot list '\(directory)'")
        }
        var paths: [String] = []
        while let relative = enumerator.nextObject() as? String {
            let name = relative.split(separator: "/").last.map(String.init) ?? relative
            if excluding.contains(name) {
                enumerator.skipDescendants()
                continue
            }
            paths.append(relative)
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

    /// Extracts `archivePath` into `directory` (created if needed). Every entry is checked before
    /// anything is written: an absolute path, a `..` that leaves the directory, a symlink pointing
    /// above its own directory, or an archive past the limits rejects the whole archive with an
    /// error naming the entry. Existing files are replaced; a path that would be written through
    /// a symlink already in the directory is rejected.
    public static func extract(_ archivePath: String, into directory: String, limits: Limits = Limits()) throws(ArtifactError) {
        let archive: Archive
        do {
            archive = try Archive(url: URL(fileURLWithPath: archivePath), accessMode: .read)
        } catch {
            throw ArtifactError(.corrupt, "'\(archivePath)' is not a readable zip archive: \(error)")
        }
        var entries: [(Entry, [Substring])] = []
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
                guard let text = String(validating: target, as: UTF8.self) else {
                    throw ArtifactError(.invalid, "'\(archivePath)': symlink '\(entry.path)' has a target that is not UTF-8")
                }
                try checkSymlink(text, entry: entry.path, in: archivePath)
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
        try FileIO.createDirectory(directory)
        let base = URL(fileURLWithPath: directory, isDirectory: true)
        for (entry, parts) in entries where !parts.isEmpty {
            let relative = parts.joined(separator: "/")
            try refuseSymlinkAncestors(of: parts, in: directory, entry: entry.path)
            let target = base.appendingPathComponent(relative)
            do {
                switch entry.type {
                case .directory:
                    try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
                case .file, .symlink:
                    if isSymlinkOrExists(target.path) { try FileManager.default.removeItem(at: target) }
                    _ = try archive.extract(entry, to: target, allowUncontainedSymlinks: false)
                }
            } catch {
                throw ArtifactError(.io, "cannot extract '\(entry.path)' from '\(archivePath)' into '\(directory)': \(error)")
            }
        }
    }

    /// The entry's path components with `.` and empty ones dropped; throws for an absolute path
    /// or any `..`. Split on Unicode scalars, as the file system does: a `/` followed by a
    /// combining mark is one Swift `Character`, which a split on Characters would not see.
    static func safeComponents(of path: String, in archive: String) throws(ArtifactError) -> [Substring] {
        let scalars = path.unicodeScalars
        if scalars.first == "/" || scalars.first == "\\" {
            throw ArtifactError(.invalid, "'\(archive)': entry '\(path)' has an absolute path")
        }
        if path.utf8.contains(0) { throw ArtifactError(.invalid, "'\(archive)': an entry name contains a NUL byte") }
        var parts: [Substring] = []
        for part in scalars.split(whereSeparator: { $0 == "/" || $0 == "\\" }) where !part.elementsEqual(".".unicodeScalars) {
            if part.elementsEqual("..".unicodeScalars) {
                throw ArtifactError(.invalid, "'\(archive)': entry '\(path)' escapes the destination ('..')")
            }
            parts.append(Substring(part))
        }
        return parts
    }

    /// Longest symlink target accepted (Linux's PATH_MAX).
    static let maxSymlinkTarget: UInt64 = 4096

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
        guard UInt64(local) <= maxSymlinkTarget, entry.compressedSize <= maxSymlinkTarget else {
            throw ArtifactError(.invalid, "'\(archive)': symlink '\(entry.path)' claims a target of "
                                + "\(max(UInt64(local), entry.compressedSize)) bytes (at most \(maxSymlinkTarget))")
        }
    }

    /// A symlink entry may point only below its own directory (relative, never above it): what
    /// ZIPFoundation enforces when it writes the link, checked here first so that such an archive
    /// is refused whole rather than half-extracted. Below its directory, every link points down,
    /// so no chain of links leaves the destination either.
    static func checkSymlink(_ target: String, entry: String, in archive: String) throws(ArtifactError) {
        let scalars = target.unicodeScalars
        if scalars.first == "/" {
            throw ArtifactError(.invalid, "'\(archive)': symlink '\(entry)' points to the absolute path '\(target)'")
        }
        var depth = 0
        for part in scalars.split(separator: "/") where !part.elementsEqual(".".unicodeScalars) {
            depth += part.elementsEqual("..".unicodeScalars) ? -1 : 1
            if depth < 0 { break }
        }
        if depth <= 0 {
            throw ArtifactError(.invalid, "'\(archive)': symlink '\(entry)' points outside its directory ('\(target)')")
        }
    }

    /// Refuses to write below a symlink that already exists in the destination (a job could have
    /// planted one pointing anywhere).
    private static func refuseSymlinkAncestors(of parts: [Substring], in directory: String, entry: String) throws(ArtifactError) {
        var path = directory
        for part in parts.dropLast() {
            path += "/" + part
            var info = stat()
            if lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFLNK {
                throw ArtifactError(.invalid, "entry '\(entry)' would be written through the symlink '\(path)'")
            }
        }
    }

    private static func isSymlinkOrExists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }
}
