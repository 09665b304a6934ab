import Foundation

/// Where a client, a worker or the CLI finds its credential, first match wins: the token given
/// explicitly, a token file given explicitly, `TITAN_TOKEN`, `TITAN_TOKEN_FILE`, then the local
/// user's file (``localTokenPath``), which a master on this host writes on its first start, so
/// that the local CLI and workers need no flag.
public enum TokenSource {
    /// `$XDG_CONFIG_HOME/titan/token`, else `~/.config/titan/token`.
    public static func localTokenPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let config = environment["XDG_CONFIG_HOME"], !config.isEmpty { return config + "/titan/token" }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return home + "/.config/titan/token"
    }

    /// The credential to use, or nil when there is none (the master may not require one).
    public static func find(token: String? = nil, tokenFile: String? = nil,
                            environment: [String: String] = ProcessInfo.processInfo.environment) throws(AuthError) -> AuthToken? {
        if let token, !token.isEmpty { return try AuthToken(parsing: token) }
        if let tokenFile, !tokenFile.isEmpty { return try read(tokenFile) }
        if let token = environment["TITAN_TOKEN"], !token.isEmpty { return try AuthToken(parsing: token) }
        if let file = environment["TITAN_TOKEN_FILE"], !file.isEmpty { return try read(file) }
        let local = localTokenPath(environment: environment)
        guard FileManager.default.fileExists(atPath: local) else { return nil }
        return try read(local)
    }

    /// Reads a token file.
    public static func read(_ path: String) throws(AuthError) -> AuthToken {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw .unreadable(path: path, problem: error.localizedDescription)
        }
        do {
            return try AuthToken(parsing: text)
        } catch {
            throw .unreadable(path: path, problem: "\(error)")
        }
    }

    /// Writes `token` to `path` readable by its owner only (0600), creating the directory (0700).
    public static func write(_ token: AuthToken, to path: String) throws(AuthError) {
        let directory = (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
            let temporary = path + ".tmp-\(getpid())"
            guard FileManager.default.createFile(atPath: temporary, contents: Data((token.text + "\n").utf8),
                                                 attributes: [.posixPermissions: 0o600]) else {
                throw AuthError.unreadable(path: path, problem: "cannot create the file")
            }
            guard rename(temporary, path) == 0 else {
                throw AuthError.unreadable(path: path, problem: "cannot rename into place: errno \(errno)")
            }
        } catch let error as AuthError {
            throw error
        } catch {
            throw .unreadable(path: path, problem: error.localizedDescription)
        }
    }
}
