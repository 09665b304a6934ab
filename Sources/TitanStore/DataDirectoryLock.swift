import Glibc
import Synchronization

/// Keeps a second master off a data directory: an exclusive `flock` on `DIR/titan.lock`, held
/// from start to stop. Two masters appending to one file would each acknowledge work the other
/// overwrites.
///
/// The kernel drops the lock when its descriptor closes, however the process ends (SIGKILL
/// included), so a crash never leaves a stale lock. The file stays; it holds the holder's pid and
/// start time so the master that is refused can say who holds the directory.
public final class DataDirectoryLock: Sendable {
    /// The lock file's name inside the data directory.
    public static let fileName = "titan.lock"

    /// The directory this lock guards.
    public let directory: String
    private let descriptor: Mutex<Int32>

    /// The lock file's path.
    public var path: String { directory + "/" + Self.fileName }

    /// How long a held lock is retried before giving up. A lock released by this process can
    /// stay held a few milliseconds more: a child being spawned at that moment shares the
    /// descriptor from its clone until it closes it before exec (longer on a busy machine).
    static let settleMs = 500

    /// Takes the lock (never blocking: a lock still held after `settleMs` is refused). Throws
    /// `.directoryInUse` naming the directory and the holder's pid when another process (or
    /// another open of it in this one) holds it, `.io` when the lock file cannot be opened or
    /// written. Blocking call: run it off any event loop.
    public init(directory: String) throws(StoreError) {
        let path = directory + "/" + Self.fileName
        // CLOEXEC (FileIO adds it): a child must never inherit the lock and outlive us with it.
        let fd = try FileIO.open(path, O_RDWR | O_CREAT)
        var firstRefusal: timespec?
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            if code == EINTR { continue }
            if code == EWOULDBLOCK, Self.millisecondsSince(&firstRefusal) < Self.settleMs {
                usleep(2_000)
                continue
            }
            defer { Glibc.close(fd) }
            guard code == EWOULDBLOCK else { throw .io(path: path, operation: "flock", errno: code) }
            let holder = Self.holder(fd: fd, path: path)
            throw .directoryInUse(directory: directory, pid: holder.pid, since: holder.since)
        }
        let text = Array("pid \(getpid())\nstarted \(UTCTimestamp.now())\n".utf8)
        do {
            try FileIO.truncate(fd, to: 0, path: path)
            try text.withUnsafeBufferPointer { (bytes) throws(StoreError) in
                try FileIO.writeAll(fd, UnsafeRawBufferPointer(bytes), path: path)
            }
        } catch {
            Glibc.close(fd)
            throw error
        }
        self.directory = directory
        descriptor = Mutex(fd)
    }

    deinit {
        release()
    }

    /// Whether this object still holds the lock.
    public var isHeld: Bool { descriptor.withLock { $0 >= 0 } }

    /// Lets the directory go; a second call does nothing.
    public func release() {
        let fd = descriptor.withLock { fd in
            defer { fd = -1 }
            return fd
        }
        guard fd >= 0 else { return }
        // Cleared first so nobody is later named as the holder of a directory it let go.
        _ = ftruncate(fd, 0)
        Glibc.close(fd)  // drops the flock
    }

    /// Milliseconds since `start`, which the first call sets to now.
    private static func millisecondsSince(_ start: inout timespec?) -> Int {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        guard let start else {
            start = now
            return 0
        }
        return (now.tv_sec - start.tv_sec) * 1_000 + (now.tv_nsec - start.tv_nsec) / 1_000_000
    }

    /// What the holder wrote: `pid N` and `started TIME` lines. Bounded: the file is only read
    /// for a message, whatever it holds.
    private static func holder(fd: Int32, path: String) -> (pid: Int32?, since: String?) {
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = (try? buffer.withUnsafeMutableBufferPointer { (bytes) throws(StoreError) in
            try FileIO.read(fd, into: UnsafeMutableRawBufferPointer(bytes), at: 0, path: path)
        }) ?? 0
        var pid: Int32?
        var since: String?
        for line in String(decoding: buffer[0..<count], as: UTF8.self).split(separator: "\n") {
            if line.hasPrefix("pid ") { pid = Int32(line.dropFirst(4)) }
            if line.hasPrefix("started ") { since = String(line.dropFirst(8).prefix(40)) }
        }
        return (pid, since)
    }
}
