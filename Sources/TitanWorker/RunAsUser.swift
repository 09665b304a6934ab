import Foundation

/// The account a worker runs jobs and services as (`titan-node --run-as USER`): its ids, its
/// groups through `initgroups`, and its home, as the password database says.
///
/// Jobs are started through util-linux `setpriv`, not by changing ids inside the spawn shim:
/// `posix_spawn` cannot change uid, and a fork-based path in the shim would make every spawn
/// pay for copying the worker's address space, or need a second code path for one case. One
/// extra `exec` per job only when `--run-as` is given keeps the plain path exactly as it was,
/// and `setpriv` does setgroups/setgid/setuid in the one right order.
public struct RunAsUser: Sendable, Equatable {
    public var name: String
    public var uid: UInt32
    public var gid: UInt32
    public var home: String
    /// The absolute path of `setpriv`, resolved once at start.
    public var setpriv: String

    /// Looks `name` up (getpwnam_r) and checks this process can become it.
    public static func resolve(_ name: String, effectiveUid: UInt32 = geteuid(),
                               path: String = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        throws(RunAsError) -> RunAsUser {
        guard !name.isEmpty else { throw .unknownUser(name) }
        var entry = passwd()
        var found: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16 * 1024)
        let rc = getpwnam_r(name, &entry, &buffer, buffer.count, &found)
        guard rc == 0, found != nil else { throw .unknownUser(name) }
        let uid = entry.pw_uid, gid = entry.pw_gid
        let home = entry.pw_dir.map { String(cString: $0) } ?? "/"
        if effectiveUid != 0 && effectiveUid != uid {
            throw .notRoot(user: name, effectiveUid: effectiveUid)
        }
        let candidates = path.split(separator: ":").map { "\($0)/setpriv" } + ["/usr/bin/setpriv", "/bin/setpriv"]
        guard let setpriv = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw .noSetpriv
        }
        return RunAsUser(name: name, uid: uid, gid: gid, home: home, setpriv: setpriv)
    }

    /// Whether jobs need a change of ids (not when the worker already is this user).
    public var changesIds: Bool { uid != geteuid() }

    /// `argv` wrapped so it runs as this user, with its groups.
    public func wrap(_ argv: [String]) -> [String] {
        guard changesIds else { return argv }
        return [setpriv, "--reuid=\(uid)", "--regid=\(gid)", "--init-groups", "--"] + argv
    }

    /// Makes `path` (and missing parents, owned by the worker) a directory owned by this user,
    /// closed to everyone else (0700).
    public func makeOwnedDirectory(_ path: String) throws(RunAsError) {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw .directory(path: path, reason: error.localizedDescription)
        }
        // lchown: never follow a link a job may have left in place of its directory.
        if changesIds && lchown(path, uid, gid) != 0 { throw .directory(path: path, reason: String(cString: strerror(errno))) }
        if chmod(path, 0o700) != 0 { throw .directory(path: path, reason: String(cString: strerror(errno))) }
    }
}

/// Why `--run-as` cannot be honoured.
public enum RunAsError: Error, Sendable, Equatable, CustomStringConvertible {
    case unknownUser(String)
    case notRoot(user: String, effectiveUid: UInt32)
    case noSetpriv
    case directory(path: String, reason: String)

    public var description: String {
        switch self {
        case .unknownUser(let name):
            return "--run-as: no user '\(name)' on this host"
        case .notRoot(let user, let uid):
            return "--run-as \(user): this worker runs as uid \(uid), not root, so it cannot run jobs as another user"
        case .noSetpriv:
            return "--run-as: setpriv (util-linux) not found in PATH; it is needed to start jobs as another user"
        case .directory(let path, let reason):
            return "--run-as: cannot prepare '\(path)' for the job's user: \(reason)"
        }
    }
}
