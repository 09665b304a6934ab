import Foundation
import Logging
import TitanAuth
import TitanProtocol

/// How the master authenticates connections.
public struct AuthConfig: Sendable {
    /// Off only by an explicit choice (`titan-node --no-auth`), which a master bound beyond
    /// loopback refuses.
    public var enabled = true
    /// The original protocol (v1) cannot authenticate: it is served to loopback peers only unless
    /// this is set.
    public var allowV1FromRemote = false
    /// Where the local user's admin credential lives (read by the CLI and SDKs on this host): the
    /// master registers the token found there, or creates one there on its first start. Nil: none.
    public var localTokenPath: String? = TokenSource.localTokenPath()

    public init() {}
}

/// A token the master knows: what it may do and how to check it (never its secret).
struct StoredToken: Codable, Sendable, Equatable {
    var id: String
    var role: String
    var name: String
    var createdAtMs: Int64
    var expiresAtMs: Int64
    var storedKey: String
    var serverKey: String

    var info: TokenInfo { TokenInfo(id: id, role: role, name: name, createdAtMs: createdAtMs, expiresAtMs: expiresAtMs) }

    /// Keys that do not decode (a damaged file) give an empty verifier, which no proof matches.
    var verifier: TokenVerifier {
        TokenVerifier(storedKey: AuthToken.decodeHex(Array(storedKey.utf8)) ?? [],
                      serverKey: AuthToken.decodeHex(Array(serverKey.utf8)) ?? [])
    }

    init(id: String, role: Role, name: String, createdAtMs: Int64, expiresAtMs: Int64, verifier: TokenVerifier) {
        self.id = id
        self.role = role.rawValue
        self.name = name
        self.createdAtMs = createdAtMs
        self.expiresAtMs = expiresAtMs
        storedKey = AuthToken.hex(verifier.storedKey)
        serverKey = AuthToken.hex(verifier.serverKey)
    }
}

/// The master's credentials on disk, in `DATA_DIR/auth/` (0700): `master.key` (the key job tokens
/// are derived from) and `tokens.json` (verifiers only), both 0600. Blocking: called at start and
/// from a queue, never on the loop.
struct AuthStore: Sendable {
    let directory: String?

    struct Loaded: Sendable {
        var masterKey: [UInt8]
        var tokens: [StoredToken]
    }

    private struct TokenFile: Codable {
        var version: Int
        var tokens: [StoredToken]
    }

    static let formatVersion = 1

    /// Reads (or, the first time, creates) the key and tokens. Without a directory: a fresh key and
    /// no tokens, in memory only.
    func load() throws(MasterStartError) -> Loaded {
        guard let directory else { return Loaded(masterKey: AuthToken.generate(id: "key").secret, tokens: []) }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw .dataDirectory("cannot create '\(directory)': \(error.localizedDescription)")
        }
        let keyPath = directory + "/master.key"
        var key: [UInt8]
        if let text = try? String(contentsOfFile: keyPath, encoding: .utf8) {
            guard let bytes = AuthToken.decodeHex(Array(text.trimmingCharacters(in: .whitespacesAndNewlines).utf8)), bytes.count == 32 else {
                throw .dataDirectory("'\(keyPath)' is damaged: expected 64 hex digits")
            }
            key = bytes
        } else {
            key = AuthToken.generate(id: "key").secret
            try write(AuthToken.hex(key) + "\n", to: keyPath)
        }
        let tokensPath = directory + "/tokens.json"
        var tokens: [StoredToken] = []
        if let data = FileManager.default.contents(atPath: tokensPath) {
            let file: TokenFile
            do {
                file = try JSONDecoder().decode(TokenFile.self, from: data)
            } catch {
                throw .dataDirectory("'\(tokensPath)' cannot be read: \(error)")
            }
            guard file.version <= Self.formatVersion else {
                throw .dataDirectory("'\(tokensPath)' was written by a newer Titan (format \(file.version)); this master reads up to \(Self.formatVersion)")
            }
            tokens = file.tokens
        }
        return Loaded(masterKey: key, tokens: tokens)
    }

    /// Replaces the token file (temp file, fsync, rename).
    func save(_ tokens: [StoredToken]) throws(MasterStartError) {
        guard let directory else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        guard let data = try? encoder.encode(TokenFile(version: Self.formatVersion, tokens: tokens)),
              let text = String(data: data, encoding: .utf8) else {
            throw .dataDirectory("cannot encode the token file")
        }
        try write(text, to: directory + "/tokens.json")
    }

    private func write(_ text: String, to path: String) throws(MasterStartError) {
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .dataDirectory("cannot write '\(temporary)': errno \(errno)") }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd) == 0
        close(fd)
        guard written == bytes.count, synced, rename(temporary, path) == 0 else {
            throw .dataDirectory("cannot write '\(path)': errno \(errno)")
        }
    }

    /// The local user's admin credential: the token in `path` if there is one (so every local
    /// master accepts the same local credential), else a new one written there, created only if
    /// absent (two masters starting at once agree on one). Returns the token and whether it is new.
    static func localCredential(at path: String) throws(MasterStartError) -> (token: AuthToken, created: Bool) {
        if FileManager.default.fileExists(atPath: path) {
            do {
                return (try TokenSource.read(path), false)
            } catch {
                throw .dataDirectory("the local credential \(error); remove it to have a new one made")
            }
        }
        let token = AuthToken.generate(id: "local-" + AuthToken.newId())
        let directory = (path as NSString).deletingLastPathComponent
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                 attributes: [.posixPermissions: 0o700])
        let temporary = path + ".new-\(getpid())-\(AuthToken.newId())"
        guard FileManager.default.createFile(atPath: temporary, contents: Data((token.text + "\n").utf8),
                                             attributes: [.posixPermissions: 0o600]) else {
            throw .dataDirectory("cannot write the local credential '\(path)'")
        }
        defer { unlink(temporary) }
        // link() fails if the file appeared meanwhile: then that one is the credential.
        if link(temporary, path) != 0 {
            guard errno == EEXIST else { throw .dataDirectory("cannot write the local credential '\(path)': errno \(errno)") }
            do {
                return (try TokenSource.read(path), false)
            } catch {
                throw .dataDirectory("the local credential \(error)")
            }
        }
        return (token, true)
    }
}
