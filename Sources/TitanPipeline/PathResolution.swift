import Foundation

/// Absolute, normalised paths, and what a `file:` script runs as.
enum PathResolution {
    /// `path` made absolute against `base` (itself made absolute against the current directory),
    /// with `.` and `..` components and repeated slashes removed. Symlinks are left alone.
    static func absolute(_ path: String, relativeTo base: String) -> String {
        let joined: String
        if path.hasPrefix("/") {
            joined = path
        } else {
            let absoluteBase = base.hasPrefix("/") ? base : currentDirectory() + "/" + base
            joined = absoluteBase + "/" + path
        }
        return normalized(joined)
    }

    /// The directory holding `path` (which is absolute and normalised).
    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    static func currentDirectory() -> String {
        normalized(FileManager.default.currentDirectoryPath)
    }

    private static func normalized(_ path: String) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            switch part {
            case ".": continue
            case "..": if !parts.isEmpty { parts.removeLast() }
            default: parts.append(part)
            }
        }
        return "/" + parts.joined(separator: "/")
    }

    /// What kind of thing is at `path` (symlinks followed).
    enum FileKind {
        case missing, regular, directory, other
    }

    static func kind(of path: String) -> FileKind {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return .missing }
        if isDirectory.boolValue { return .directory }
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: resolvingSymlinks(path)),
              let type = attributes[.type] as? FileAttributeType else { return .other }
        return type == .typeRegular ? .regular : .other
    }

    private static func resolvingSymlinks(_ path: String) -> String {
        URL(fileURLWithPath: path).resolvingSymlinksInPath().path
    }

    /// `path` with every symlink resolved by the system (realpath(3)), or nil when it does not
    /// exist.
    static func real(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// True when `path` really lies inside `directory` (or is it): both resolved by realpath(3),
    /// so a symlink inside pointing outside is outside. A directory that does not exist is
    /// compared as written.
    static func isReallyInside(_ path: String, _ directory: String) -> Bool {
        guard let resolvedPath = real(path) else { return false }
        let resolvedDirectory = real(directory) ?? directory
        return resolvedPath == resolvedDirectory || relative(resolvedPath, to: resolvedDirectory) != nil
    }

    /// `path` relative to `directory` (both absolute and normalised), or nil when it is not inside.
    static func relative(_ path: String, to directory: String) -> String? {
        let prefix = directory == "/" ? "/" : directory + "/"
        guard path.hasPrefix(prefix), path.count > prefix.count else { return nil }
        return String(path.dropFirst(prefix.count))
    }
}
