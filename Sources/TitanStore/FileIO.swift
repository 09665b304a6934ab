import Glibc

/// System calls as TitanStore needs them: errno becomes a `StoreError` naming the path,
/// EINTR is retried, short reads and writes are looped.
enum FileIO {
    static func open(_ path: String, _ flags: Int32, mode: mode_t = 0o644) throws(StoreError) -> Int32 {
        while true {
            let fd = Glibc.open(path, flags | O_CLOEXEC, mode)
            if fd >= 0 { return fd }
            if errno != EINTR { throw .io(path: path, operation: "open", errno: errno) }
        }
    }

    /// Writes every byte or throws; a short write is continued, not reported.
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws(StoreError) {
        guard var p = bytes.baseAddress else { return }
        var remaining = bytes.count
        while remaining > 0 {
            let n = Glibc.write(fd, p, remaining)
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(path: path, operation: "write", errno: errno)
            }
            // write(2) returning 0 for a non-empty buffer means no progress is possible.
            if n == 0 { throw .io(path: path, operation: "write", errno: EIO) }
            p += n
            remaining -= n
        }
    }

    /// Reads at `offset` until `buffer` is full or EOF; returns the byte count.
    static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64, path: String) throws(StoreError) -> Int {
        guard let base = buffer.baseAddress else { return 0 }
        var done = 0
        while done < buffer.count {
            let n = Glibc.pread(fd, base + done, buffer.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(path: path, operation: "read", errno: errno)
            }
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// fdatasync: enough for appended data, since a size change is metadata it must flush.
    static func dataSync(_ fd: Int32, path: String) throws(StoreError) {
        while fdatasync(fd) != 0 {
            if errno != EINTR { throw .io(path: path, operation: "fdatasync", errno: errno) }
        }
    }

    static func sync(_ fd: Int32, path: String) throws(StoreError) {
        while fsync(fd) != 0 {
            if errno != EINTR { throw .io(path: path, operation: "fsync", errno: errno) }
        }
    }

    /// Makes a create, rename or unlink inside the directory of `path` durable.
    static func syncDirectory(of path: String) throws(StoreError) {
        let directory = directoryName(of: path)
        let fd = try open(directory, O_RDONLY | O_DIRECTORY)
        defer { Glibc.close(fd) }
        try sync(fd, path: directory)
    }

    static func size(_ fd: Int32, path: String) throws(StoreError) -> Int64 {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .io(path: path, operation: "fstat", errno: errno) }
        return Int64(info.st_size)
    }

    static func truncate(_ fd: Int32, to length: Int64, path: String) throws(StoreError) {
        while ftruncate(fd, off_t(length)) != 0 {
            if errno != EINTR { throw .io(path: path, operation: "ftruncate", errno: errno) }
        }
    }

    static func rename(_ from: String, to: String) throws(StoreError) {
        guard Glibc.rename(from, to) == 0 else { throw .io(path: from, operation: "rename to \(to)", errno: errno) }
    }

    /// Removes `path`; a file that is already gone is not an error.
    static func removeIfPresent(_ path: String) throws(StoreError) {
        guard unlink(path) == 0 || errno == ENOENT else { throw .io(path: path, operation: "unlink", errno: errno) }
    }

    static func directoryName(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
