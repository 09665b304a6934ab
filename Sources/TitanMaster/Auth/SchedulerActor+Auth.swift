import Dispatch
import TitanAuth
import TitanProtocol

/// The tokens the master accepts, and the connections authenticated with each (revocation
/// closes them at once). Owned by the scheduler, on the loop; the file is written off it.
final class TokenRegistry {
    let masterKey: [UInt8]
    var tokens: [String: StoredToken]
    let store: AuthStore
    /// Token id → connections authenticated with it.
    var peers: [String: [ObjectIdentifier: any Peer]] = [:]
    var tokenOfPeer: [ObjectIdentifier: String] = [:]
    private let queue = DispatchQueue(label: "titan.master.tokens", qos: .utility)

    init(masterKey: [UInt8], tokens: [StoredToken], store: AuthStore) {
        self.masterKey = masterKey
        self.tokens = Dictionary(tokens.map { ($0.id, $0) }, uniquingKeysWith: { _, last in last })
        self.store = store
    }

    /// Writes the token file off the loop; `done` runs on the queue with the error, if any.
    func save(_ done: @escaping @Sendable (MasterStartError?) -> Void) {
        let snapshot = tokens.values.sorted { $0.createdAtMs < $1.createdAtMs }
        let store = store
        queue.async {
            do throws(MasterStartError) {
                try store.save(snapshot)
                done(nil)
            } catch {
                done(error)
            }
        }
    }
}

/// Who a connection authenticated as.
struct Credential: Sendable {
    var tokenId: String
    var role: Role
    var verifier: TokenVerifier
    /// A job's token: the DAG it may grow ("" for a lone job).
    var dagScope: String
}

extension SchedulerActor {
    static let jobTokenPrefix = "job:"

    /// The credential behind `tokenId` if the master accepts it now (known, unexpired, unrevoked;
    /// a job's token only while its attempt runs).
    func credential(forTokenId tokenId: String) -> Credential? {
        guard let auth else { return nil }
        if tokenId.hasPrefix(Self.jobTokenPrefix) {
            let rest = tokenId.dropFirst(Self.jobTokenPrefix.count)
            guard let at = rest.lastIndex(of: "@"), let attempt = UInt32(rest[rest.index(after: at)...]),
                  let job = jobs[String(rest[..<at])], job.info.state == .running, job.info.attempts == attempt else {
                return nil
            }
            let secret = AuthExchange.derive(key: auth.masterKey, label: tokenId)
            return Credential(tokenId: tokenId, role: .job, verifier: TokenVerifier(secret: secret), dagScope: job.info.dagId)
        }
        guard let token = auth.tokens[tokenId], let role = Role(rawValue: token.role),
              token.expiresAtMs == 0 || token.expiresAtMs > wallClockMs() else { return nil }
        return Credential(tokenId: tokenId, role: role, verifier: token.verifier, dagScope: "")
    }

    /// The token a job's attempt is given (`TITAN_TOKEN`): derived, never stored, valid while the
    /// attempt runs.
    func jobToken(jobId: String, attempt: UInt32) -> AuthToken? {
        guard let auth else { return nil }
        let id = Self.jobTokenPrefix + jobId + "@\(attempt)"
        return AuthToken(id: id, secret: AuthExchange.derive(key: auth.masterKey, label: id))
    }

    /// A connection proved a token: it is closed if the token is revoked.
    func authenticated(_ peer: any Peer, tokenId: String) {
        guard let auth else { return }
        auth.peers[tokenId, default: [:]][ObjectIdentifier(peer)] = peer
        auth.tokenOfPeer[ObjectIdentifier(peer)] = tokenId
    }

    func forgetAuthenticated(_ peer: any Peer) {
        guard let auth, let tokenId = auth.tokenOfPeer.removeValue(forKey: ObjectIdentifier(peer)) else { return }
        auth.peers[tokenId]?[ObjectIdentifier(peer)] = nil
        if auth.peers[tokenId]?.isEmpty == true { auth.peers[tokenId] = nil }
    }

    func handleToken(_ op: TokenOperation, peer: any Peer, requestId: UInt32) {
        guard let auth else {
            return reply(to: peer, requestId, .error(.invalidRequest, "this master runs without authentication (--no-auth): it has no tokens"))
        }
        switch op {
        case .list:
            let infos = auth.tokens.values.sorted { $0.createdAtMs < $1.createdAtMs }.map(\.info)
            reply(to: peer, requestId, .tokenResult(.list(infos)))
        case .create(let roleName, let name, let ttlMs):
            guard let role = Role(rawValue: roleName), role != .job else {
                let known = Role.allCases.filter { $0 != .job }.map(\.rawValue).joined(separator: ", ")
                return reply(to: peer, requestId, .error(.invalidRequest, "field 'role': '\(Names.printable(roleName))' is not one of \(known)"))
            }
            if !name.isEmpty, let problem = Names.problem(name, kind: "token name") {
                return reply(to: peer, requestId, .error(.invalidRequest, "field 'name': \(problem)"))
            }
            guard ttlMs <= 10 * 365 * 86_400_000 else {
                return reply(to: peer, requestId, .error(.invalidRequest, "field 'ttlMs': more than ten years"))
            }
            let token = AuthToken.generate(id: AuthToken.newId())
            let now = wallClockMs()
            let stored = StoredToken(id: token.id, role: role, name: name, createdAtMs: now,
                                     expiresAtMs: ttlMs == 0 ? 0 : now + Int64(ttlMs), verifier: TokenVerifier(secret: token.secret))
            auth.tokens[token.id] = stored
            saveTokens(peer: peer, requestId: requestId, reply: .tokenResult(.created(stored.info, token: token.text)))
            logger.notice("token created", metadata: ["id": "\(token.id)", "role": "\(role.rawValue)", "name": "\(name)"])
        case .revoke(let id):
            guard auth.tokens.removeValue(forKey: id) != nil else {
                return reply(to: peer, requestId, .error(.notFound, "no token '\(Names.printable(id))'"))
            }
            // At once: every connection that authenticated with it is told and closed.
            for (_, authenticatedPeer) in auth.peers.removeValue(forKey: id) ?? [:] where authenticatedPeer !== peer {
                auth.tokenOfPeer[ObjectIdentifier(authenticatedPeer)] = nil
                authenticatedPeer.send(Envelope(requestId: 0, message: .error(.invalidRequest, "token '\(id)' was revoked")))
                authenticatedPeer.close()
            }
            saveTokens(peer: peer, requestId: requestId, reply: .ok)
            logger.notice("token revoked", metadata: ["id": "\(id)"])
        }
    }

    /// Replies once the token file is written.
    private func saveTokens(peer: any Peer, requestId: UInt32, reply message: Message) {
        let loop = eventLoop
        auth?.save { error in
            loop.execute {
                if let error {
                    peer.reply(requestId, .error(.unavailable, "the token file could not be written: \(error)"))
                } else {
                    peer.reply(requestId, message)
                }
            }
        }
    }
}
