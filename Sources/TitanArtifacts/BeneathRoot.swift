import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// write(2), out of reach of ``BeneathRoot/FileSink/write(_:)``'s name.
private func systemWrite(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
    Glibc.write(fd, bytes, count)
    #else
    Darwin.write(fd, bytes, count)
    #endif
}

/// A directory opened once, beneath which paths are resolved by the kernel one component at a
/// time (`openat` with `O_DIRECTORY | O_NOFOLLOW` from the previous descriptor), so that nothing
/// is ever written through a symlink, wherever it came from: an archive entry, a job that ran
/// earlier in the same directory, a race. Textual checks on paths give early, friendly errors;
/// this walk is what guarantees that a write stays beneath its root.
///
/// Rules: components must be non-empty and neither `.`, `..`, contain `/` nor NUL; missing
/// directories are created (`mkdirat`); a file is written to a temporary name in its resolved
/// parent and renamed over its final name (`renameat`), so readers see the old file or the new
/// one, never a half-written one, and an existing symlink at that name is replaced, not
/// followed. Symlinks are created (`symlinkat`) but never traversed.
///
/// The root path itself is trusted (the worker chose it); symlinks above the root are followed.
/// Blocking; not thread-safe (one caller at a time), but several instances may work in the same
/// tree at once.
public final class BeneathRoot {
    /// The root, for messages.
    public let path: String
    /// Open on the root directory (`O_DIRECTORY | O_CLOEXEC`); closed on deinit.
    private let fd: Int32

    /// Opens the directory at `path`, creating it (and its parents) first when `create` is set.
    public convenience init(opening path: String, create: Bool = true) throws(ArtifactError) {
        if create { try FileIO.createDirectory(path) }
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else {
            throw ArtifactError(.io, "cannot open the directory '\(path)': \(Self.describe(errno))")
        }
        self.init(fd: fd, path: path)
    }

    private init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    deinit { close(fd) }

    // MARK: Components

    /// The components of a relative path as archives and artifact references write them:
    /// empty and `.` components are dropped (`./a//b` is `a/b`); an absolute path, a `..` or a
    /// NUL byte is refused. `entry` names the path in errors.
    public static func components(of relative: String, entry: String) throws(ArtifactError) -> [String] {
        if relative.unicodeScalars.first == "/" { throw ArtifactError(.invalid, "'\(entry)' is an absolute path") }
        if relative.utf8.contains(0) { throw ArtifactError(.invalid, "'\(entry)' contains a NUL byte") }
        var parts: [String] = []
        for part in split(relative) where part != "." {
            if part == ".." { throw ArtifactError(.invalid, "'\(entry)' leaves its directory ('..')") }
            parts.append(String(part))
        }
        return parts
    }

    /// `path` split on every `/` (and, with `backslash`, `\\`) as the file system sees them: by
    /// Unicode scalar, since a `/` followed by a combining mark is one Swift `Character` that a
    /// split on Characters would not cut. Empty parts are dropped.
    static func split(_ path: String, backslash: Bool = false) -> [String] {
        path.unicodeScalars.split(whereSeparator: { $0 == "/" || (backslash && $0 == "\\") }).map { String(String.UnicodeScalarView($0)) }
    }

    /// Refuses a component that could name anything but one entry of the directory it is
    /// looked up in.
    private func check(_ component: String, entry: String) throws(ArtifactError) {
        let problem: String? = switch component {
        case "": "an empty path component"
        case ".", "..": "the component '\(component)', which does not name an entry of its directory"
        case _ where component.utf8.contains(0x2F): "the component '\(component)', which contains '/' (absolute or nested)"
        case _ where component.utf8.contains(0): "a component with a NUL byte"
        default: nil
        }
        if let problem { throw ArtifactError(.invalid, "'\(entry)' has \(problem) (in '\(path)')") }
    }

    // MARK: Directories

    /// The directory at `components` beneath this one, opened as a new root; missing ones are
    /// created (mode 0755, less the umask) when `create` is set. Throws when a component is a
    /// symlink, not a directory, or missing (without `create`).
    public func directory(_ components: some Collection<String>, entry: String,
                          create: Bool = true) throws(ArtifactError) -> BeneathRoot {
        for component in components { try check(component, entry: entry) }  // before creating anything
        var current = fd
        var walked: [String] = []
        defer { if current != fd { close(current) } }
        for component in components {
            walked.append(component)
            let next = try openStep(current, component, walked: walked, entry: entry, create: create)
            if current != fd { close(current) }
            current = next
        }
        let opened = current == fd ? dup(fd) : current
        guard opened >= 0 else { throw ArtifactError(.io, "cannot open '\(path)': \(Self.describe(errno))") }
        current = fd  // handed over: the defer must not close it
        return BeneathRoot(fd: opened, path: walked.isEmpty ? path : path + "/" + walked.joined(separator: "/"))
    }

    /// One step of the walk: `component` in the directory `parent`, never following a symlink.
    private func openStep(_ parent: Int32, _ component: String, walked: [String], entry: String,
                          create: Bool) throws(ArtifactError) -> Int32 {
        let flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC
        // Twice at most: a missing directory is created, then opened (another writer may have
        // created it meanwhile: EEXIST is fine).
        for attempt in 0 ..< 2 {
            let next = openat(parent, component, flags)
            if next >= 0 { return next }
            let error = errno
            if error == ENOENT, create, attempt == 0 {
                if mkdirat(parent, component, 0o755) == 0 || errno == EEXIST { continue }
                throw ArtifactError(.io, "cannot create the directory '\(walked.joined(separator: "/"))' in '\(path)' for '\(entry)': \(Self.describe(errno))")
            }
            throw refusal(parent, component, walked: walked, entry: entry, error: error)
        }
        throw ArtifactError(.io, "cannot open the directory '\(walked.joined(separator: "/"))' in '\(path)' for '\(entry)'")
    }

    /// Why `component` of `parent` could not be opened as a directory, in words.
    private func refusal(_ parent: Int32, _ component: String, walked: [String], entry: String,
                         error: Int32) -> ArtifactError {
        let shown = walked.joined(separator: "/")
        var info = stat()
        if fstatat(parent, component, &info, AT_SYMLINK_NOFOLLOW) == 0 {
            switch info.st_mode & S_IFMT {
            case S_IFLNK:
                return ArtifactError(.invalid, "'\(entry)' would be written through the symlink '\(shown)' in '\(path)'; nothing is written through a symlink")
            case S_IFDIR:
                break
            default:
                return ArtifactError(.invalid, "'\(entry)' needs '\(shown)' in '\(path)' to be a directory, but it is not one")
            }
        }
        return ArtifactError(.io, "cannot open the directory '\(shown)' in '\(path)' for '\(entry)': \(Self.describe(error))")
    }

    /// The first of `components` (walked from this root, creating nothing) that is a symlink,
    /// as a relative path; nil when none is, or the walk reaches a missing entry first. An
    /// early check; the writes check again.
    public func firstSymlink(along components: some Collection<String>) -> String? {
        var current = fd
        defer { if current != fd { close(current) } }
        var walked: [String] = []
        for component in components {
            walked.append(component)
            var info = stat()
            guard fstatat(current, component, &info, AT_SYMLINK_NOFOLLOW) == 0 else { return nil }
            if info.st_mode & S_IFMT == S_IFLNK { return walked.joined(separator: "/") }
            guard info.st_mode & S_IFMT == S_IFDIR else { return nil }
            let next = openat(current, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard next >= 0 else { return nil }
            if current != fd { close(current) }
            current = next
        }
        return nil
    }

    // MARK: Files

    /// Where a file's bytes go while it is written under its temporary name.
    public struct FileSink {
        fileprivate let fd: Int32
        fileprivate let shown: String
        /// Bytes written so far.
        public private(set) var count: UInt64 = 0

        /// Writes all of `bytes` (retrying short writes and interruptions).
        public mutating func write(_ bytes: some ContiguousBytes) throws(ArtifactError) {
            let failure: Int32? = bytes.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let written = systemWrite(fd, raw.baseAddress! + offset, raw.count - offset)
                    if written < 0 {
                        if errno == EINTR { continue }
                        return errno
                    }
                    offset += written
                }
                return nil
            }
            if let failure { throw ArtifactError(.io, "cannot write '\(shown)': \(BeneathRoot.describe(failure))") }
            count += UInt64(bytes.withUnsafeBytes(\.count))
        }
    }

    /// Writes the file at `components` (parents created): `body` writes its content to a new
    /// temporary file in the resolved parent, which then gets `mode` (permission bits only) and
    /// is renamed over the final name. If `body` throws, the temporary file is removed and what
    /// was there before is left as it was.
    public func writeFile(_ components: [String], entry: String, mode: mode_t,
                          body: (inout FileSink) throws(ArtifactError) -> Void) throws(ArtifactError) {
        guard let name = components.last else { throw ArtifactError(.invalid, "'\(entry)' names no file") }
        try check(name, entry: entry)
        let parent = try components.count == 1 ? self : directory(components.dropLast(), entry: entry)
        try parent.replace(name, entry: entry) { (fd, temporary) throws(ArtifactError) in
            let file = openat(fd, temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            guard file >= 0 else { return errno }
            defer { close(file) }
            var sink = FileSink(fd: file, shown: parent.path + "/" + name)
            try body(&sink)
            guard fchmod(file, mode & 0o777) == 0 else { return errno }
            return nil
        }
    }

    /// Copies the file at `source` (a trusted path, e.g. in the artifact cache) to `components`,
    /// as ``writeFile(_:entry:mode:body:)`` does.
    public func copyFile(from source: String, to components: [String], entry: String, mode: mode_t) throws(ArtifactError) {
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw ArtifactError(.io, "cannot open '\(source)': \(Self.describe(errno))") }
        defer { close(input) }
        try writeFile(components, entry: entry, mode: mode) { (sink) throws(ArtifactError) in
            var buffer = [UInt8](repeating: 0, count: 1 << 20)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
                if count < 0 {
                    if errno == EINTR { continue }
                    throw ArtifactError(.io, "cannot read '\(source)': \(Self.describe(errno))")
                }
                if count == 0 { return }
                try sink.write(buffer[..<count])
            }
        }
    }

    /// Creates (or replaces) the symlink at `components` pointing to `target`, which is stored
    /// as given and never followed here.
    public func makeSymlink(_ components: [String], target: String, entry: String) throws(ArtifactError) {
        guard let name = components.last else { throw ArtifactError(.invalid, "'\(entry)' names no symlink") }
        guard !target.isEmpty, !target.utf8.contains(0) else {
            throw ArtifactError(.invalid, "symlink '\(entry)' has an empty target or one with a NUL byte")
        }
        try check(name, entry: entry)
        let parent = try components.count == 1 ? self : directory(components.dropLast(), entry: entry)
        try parent.replace(name, entry: entry) { fd, temporary in
            symlinkat(target, fd, temporary) == 0 ? nil : errno
        }
    }

    /// Creates something under a fresh temporary name in this directory with `make` (which
    /// returns an errno, or nil on success), then renames it over `name`; removes it on failure.
    private func replace(_ name: String, entry: String,
                         make: (Int32, String) throws(ArtifactError) -> Int32?) throws(ArtifactError) {
        var temporary = ""
        var failure: Int32? = EEXIST
        for _ in 0 ..< 8 where failure == EEXIST {
            temporary = ".titan-\(String(UInt64.random(in: 0 ... .max), radix: 36)).tmp"
            do {
                failure = try make(fd, temporary)
            } catch {
                unlinkat(fd, temporary, 0)
                throw error
            }
        }
        if let failure {
            // EEXIST: the name was someone else's (eight times running); nothing of ours to remove.
            if failure != EEXIST { unlinkat(fd, temporary, 0) }
            throw ArtifactError(.io, "cannot create '\(entry)' in '\(path)': \(Self.describe(failure))")
        }
        guard renameat(fd, temporary, fd, name) == 0 else {
            let error = errno
            unlinkat(fd, temporary, 0)
            if error == EISDIR || error == ENOTEMPTY || error == EEXIST {
                throw ArtifactError(.invalid, "'\(entry)' cannot replace the directory '\(name)' in '\(path)'")
            }
            throw ArtifactError(.io, "cannot put '\(entry)' in place in '\(path)': \(Self.describe(error))")
        }
    }

    static func describe(_ error: Int32) -> String { String(cString: strerror(error)) }
}
