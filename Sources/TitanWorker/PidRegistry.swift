import Foundation
import Logging

/// The process groups a worker's jobs run in, kept on disk so that a worker started after a crash
/// (of the worker, not its jobs) kills the leftovers of the one before.
///
/// Each entry is a pid with its start time (`/proc/PID/stat` field 22, clock ticks since boot):
/// a pid reused by an unrelated process has another start time and is never signalled. The file
/// is rewritten whole (write to a temporary file, rename) off the loop thread, by one task fed
/// through an `AsyncStream` that keeps only the newest state, at most every 50 ms: the loop never
/// waits on the disk, and a burst of spawns costs a few writes, not one each. (A worker that
/// crashes within 50 ms of a spawn can leave that one job behind.)
///
/// The file's first line names its owner (`owner PID START`, the worker process): a worker
/// starting on a directory whose owner is alive (a second worker given the same id and directory)
/// leaves that worker's jobs alone. Files without the line (older workers) are read as before.
final class PidRegistry: Sendable {
    private let path: String
    private let updates: AsyncStream<[Int32: UInt64]>.Continuation

    init(path: String) {
        self.path = path
        let (stream, continuation) = AsyncStream<[Int32: UInt64]>.makeStream(bufferingPolicy: .bufferingNewest(1))
        updates = continuation
        let me = getpid()
        let owner = Self.startTime(of: me).map { "owner \(me) \($0)\n" } ?? ""
        Task.detached(priority: .utility) {
            // Only the newest state matters: older ones still queued are dropped.
            for await entries in stream {
                Self.write(entries, owner: owner, to: path)
                try? await Task.sleep(for: .milliseconds(50))
            }
        }
    }

    /// Records the current set of process groups (pid → start time).
    func record(_ entries: [Int32: UInt64]) {
        updates.yield(entries)
    }

    func stop() {
        updates.finish()
    }

    /// The start time of `pid` (clock ticks since boot), or nil if it does not exist. Called on
    /// the loop for every spawn, so it reads with plain syscalls into a stack-sized buffer.
    static func startTime(of pid: Int32) -> UInt64? {
        let fd = open("/proc/\(pid)/stat", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 1024)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0, let close = buffer[0..<n].lastIndex(of: UInt8(ascii: ")")) else { return nil }
        // Fields after the command name (which may contain spaces and parentheses): state is
        // field 3, so the start time (field 22) is the 20th after the last ")".
        var field = 0
        var value: UInt64 = 0
        var inField = false
        for byte in buffer[(close + 1)..<n] {
            if byte == UInt8(ascii: " ") {
                if inField {
                    if field == 19 { return value }
                    field += 1
                    inField = false
                }
            } else {
                inField = true
                if field == 19 {
                    guard byte >= 0x30 && byte <= 0x39 else { return nil }
                    value = value * 10 + UInt64(byte - 0x30)
                }
            }
        }
        return field == 19 && inField ? value : nil
    }

    /// Kills (SIGKILL to the process group) every recorded process still alive with the same
    /// start time, then forgets the file. Returns the pids killed. Runs once at worker start.
    static func killLeftovers(at path: String, logger: Logger) -> [Int32] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        let lines = text.split(separator: "\n")
        if let first = lines.first, case let parts = first.split(separator: " "), parts.count == 3, parts[0] == "owner",
           let owner = Int32(parts[1]), let started = UInt64(parts[2]), owner != getpid(), startTime(of: owner) == started {
            // Not a leftover: a live worker (pid `owner`) runs these jobs from the same directory.
            logger.warning("""
                another worker process (pid \(owner)) uses this work directory: its jobs are left alone; \
                give each worker its own --id or --data-dir
                """, metadata: ["path": "\(path)"])
            return []
        }
        var killed: [Int32] = []
        for line in lines {
            let parts = line.split(separator: " ")
            guard parts.count == 2, let pid = Int32(parts[0]), pid > 1, let recorded = UInt64(parts[1]) else { continue }
            guard startTime(of: pid) == recorded else { continue }  // gone, or the pid was reused
            if kill(-pid, SIGKILL) == 0 || kill(pid, SIGKILL) == 0 { killed.append(pid) }
        }
        try? FileManager.default.removeItem(atPath: path)
        if !killed.isEmpty {
            logger.warning("killed \(killed.count) job process group(s) left by a previous run of this worker",
                           metadata: ["pids": "\(killed.map(String.init).joined(separator: ","))"])
        }
        return killed
    }

    private static func write(_ entries: [Int32: UInt64], owner: String, to path: String) {
        let text = owner + entries.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)\n" }.joined()
        let temporary = path + ".tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(text.utf8)) else { return }
        _ = rename(temporary, path)
    }
}
