import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writing and reading certificate and key files, the careful way: the key is 0600 from the
/// moment it exists, nothing is written through a symbolic link, nothing existing is replaced
/// unless asked, and a replacement appears whole (a temporary file renamed over the old one).
public enum CertificateFiles {
    /// Largest certificate or key file read (a real one is a few KiB).
    public static let maxFileSize = 1 << 20

    /// Writes a certificate (mode 0644) and its key (0600). The parent directories are created
    /// (0700) where missing. Without `overwrite`, an existing file (or symbolic link) at either path
    /// stops it before anything is written; with it, each file is replaced atomically. A symbolic
    /// link at either path is refused either way. If the second file cannot be written, the
    /// first one it created is removed again.
    public static func write(certificatePEM: String, privateKeyPEM: String, certificatePath: String, keyPath: String,
                             overwrite: Bool = false) throws(CertificateError) {
        for path in [certificatePath, keyPath] {
            try makeParentDirectory(of: path)
            try checkTarget(path, overwrite: overwrite)
        }
        if overwrite {
            try replace(path: keyPath, contents: privateKeyPEM, mode: 0o600)
            try replace(path: certificatePath, contents: certificatePEM, mode: 0o644)
        } else {
            try create(path: keyPath, contents: privateKeyPEM, mode: 0o600)
            do throws(CertificateError) {
                try create(path: certificatePath, contents: certificatePEM, mode: 0o644)
            } catch {
                unlink(keyPath)
                throw error
            }
        }
    }

    /// The text of a certificate or key file (a regular file of at most ``maxFileSize`` bytes;
    /// symbolic links are followed: reading through one is harmless).
    public static func read(_ path: String) throws(CertificateError) -> String {
        // O_NONBLOCK: opening a FIFO must not hang; it is refused below as not a regular file.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw .io(path: path, operation: "open it", errno: errno) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .io(path: path, operation: "stat it", errno: errno) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw .notARegularFile(path: path) }
        guard Int(info.st_size) <= maxFileSize else { throw .fileTooLarge(path: path, limit: maxFileSize) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { posixRead(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(path: path, operation: "read it", errno: errno)
            }
            if n == 0 { break }
            bytes += chunk[..<n]
            // The file grew after fstat: still bounded.
            if bytes.count > maxFileSize { throw .fileTooLarge(path: path, limit: maxFileSize) }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    // MARK: - Pieces

    /// Creates the missing directories above `path`, each 0700 (existing ones are left as they are).
    static func makeParentDirectory(of path: String) throws(CertificateError) {
        let parent = (path as NSString).deletingLastPathComponent
        if parent.isEmpty || parent == "/" || parent == "." { return }
        var info = stat()
        if stat(parent, &info) == 0 {
            if (info.st_mode & S_IFMT) != S_IFDIR { throw .io(path: parent, operation: "use it as a directory", errno: ENOTDIR) }
            return
        }
        try makeParentDirectory(of: parent)
        if mkdir(parent, 0o700) != 0 && errno != EEXIST {
            throw .io(path: parent, operation: "create the directory", errno: errno)
        }
    }

    /// Refuses a symbolic link or something not a regular file at `path`, and (without
    /// `overwrite`) anything at all.
    static func checkTarget(_ path: String, overwrite: Bool) throws(CertificateError) {
        var info = stat()
        if lstat(path, &info) != 0 {
            if errno == ENOENT { return }
            throw .io(path: path, operation: "stat it", errno: errno)
        }
        let type = info.st_mode & S_IFMT
        if type == S_IFLNK { throw .symbolicLink(path: path) }
        if !overwrite { throw .fileExists(path: path) }
        if type != S_IFREG { throw .notARegularFile(path: path) }
    }

    /// Creates `path` (never there before, never through a link) with exactly `mode`, writes it
    /// and flushes it to disk. On failure nothing is left behind.
    static func create(path: String, contents: String, mode: mode_t) throws(CertificateError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        guard fd >= 0 else {
            let code = errno
            if code == EEXIST {
                var info = stat()
                if lstat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFLNK { throw .symbolicLink(path: path) }
                throw .fileExists(path: path)
            }
            throw .io(path: path, operation: "create it", errno: code)
        }
        do throws(CertificateError) {
            // open() applied the umask; the mode is exact whatever it is.
            guard fchmod(fd, mode) == 0 else { throw .io(path: path, operation: "set its mode", errno: errno) }
            try writeAll(fd: fd, contents: contents, path: path)
            guard fsync(fd) == 0 else { throw .io(path: path, operation: "flush it", errno: errno) }
        } catch {
            close(fd)
            unlink(path)
            throw error
        }
        guard close(fd) == 0 else {
            let code = errno
            unlink(path)
            throw .io(path: path, operation: "close it", errno: code)
        }
    }

    /// Writes a temporary file beside `path` and renames it over `path` (rename replaces the
    /// name itself, never what a link points to).
    static func replace(path: String, contents: String, mode: mode_t) throws(CertificateError) {
        let directory = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        let temporary = (directory.isEmpty ? "" : directory + "/") + ".\(name).tmp-\(UInt32.random(in: 0...UInt32.max))"
        try create(path: temporary, contents: contents, mode: mode)
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw .io(path: path, operation: "replace it", errno: code)
        }
        // Make the rename itself durable.
        let dirFd = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dirFd >= 0 {
            _ = fsync(dirFd)
            close(dirFd)
        }
    }

    private static func writeAll(fd: Int32, contents: String, path: String) throws(CertificateError) {
        let bytes = Array(contents.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { posixWrite(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(path: path, operation: "write it", errno: errno)
            }
            offset += n
        }
    }
}

// The enum's own `read` and `write` hide the system calls inside it.
private func posixRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int { read(fd, buffer, count) }
private func posixWrite(_ fd: Int32, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int { write(fd, buffer, count) }
