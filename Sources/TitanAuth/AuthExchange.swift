import Crypto

/// What the master stores for a token: enough to check a proof and to prove itself, not enough
/// to authenticate as the token's holder (SCRAM's StoredKey and ServerKey, RFC 5802; the secret is
/// 256 random bits, so no salt or iterations are needed).
public struct TokenVerifier: Sendable, Equatable {
    /// SHA-256 of the client key.
    public var storedKey: [UInt8]
    public var serverKey: [UInt8]

    public init(storedKey: [UInt8], serverKey: [UInt8]) {
        self.storedKey = storedKey
        self.serverKey = serverKey
    }

    public init(secret: [UInt8]) {
        let clientKey = AuthExchange.hmac(secret, "Client Key")
        storedKey = Array(SHA256.hash(data: clientKey))
        serverKey = AuthExchange.hmac(secret, "Server Key")
    }
}

/// The challenge-response both ends run when a connection opens (SCRAM-SHA-256's proofs):
///
///     client → master   authHello   token id, client nonce (32 random bytes)
///     master → client   authChallenge  server nonce (32 random bytes)
///     client → master   authProof   ClientKey XOR HMAC(StoredKey, transcript)
///     master → client   authOk      role, HMAC(ServerKey, transcript)
///
/// The transcript binds both nonces and the token id, so a proof is good for one connection
/// only; the master's signature shows the client it talks to the master that issued the token.
/// The secret itself never crosses the wire.
public enum AuthExchange {
    public static let nonceSize = 32

    public static func nonce() -> [UInt8] {
        var rng = SystemRandomNumberGenerator()
        return (0..<nonceSize).map { _ in UInt8.random(in: 0...255, using: &rng) }
    }

    static func transcript(tokenId: String, clientNonce: [UInt8], serverNonce: [UInt8]) -> [UInt8] {
        Array("titan-auth-v1\u{0}\(tokenId)\u{0}".utf8) + clientNonce + serverNonce
    }

    /// The client's proof that it holds `token`'s secret.
    public static func clientProof(token: AuthToken, clientNonce: [UInt8], serverNonce: [UInt8]) -> [UInt8] {
        let clientKey = hmac(token.secret, "Client Key")
        let storedKey = Array(SHA256.hash(data: clientKey))
        let signature = hmac(storedKey, transcript(tokenId: token.id, clientNonce: clientNonce, serverNonce: serverNonce))
        return zip(clientKey, signature).map { $0 ^ $1 }
    }

    /// True when `proof` shows knowledge of the secret behind `verifier` (constant time).
    public static func verify(proof: [UInt8], verifier: TokenVerifier, tokenId: String,
                              clientNonce: [UInt8], serverNonce: [UInt8]) -> Bool {
        guard proof.count == 32 else { return false }
        let signature = hmac(verifier.storedKey, transcript(tokenId: tokenId, clientNonce: clientNonce, serverNonce: serverNonce))
        let clientKey = zip(proof, signature).map { $0 ^ $1 }
        return constantTimeEqual(Array(SHA256.hash(data: clientKey)), verifier.storedKey)
    }

    /// The master's proof that it knows the token's verifier.
    public static func serverSignature(verifier: TokenVerifier, tokenId: String, clientNonce: [UInt8],
                                       serverNonce: [UInt8]) -> [UInt8] {
        hmac(verifier.serverKey, transcript(tokenId: tokenId, clientNonce: clientNonce, serverNonce: serverNonce))
    }

    /// The client's check of the master's signature.
    public static func verifyServer(signature: [UInt8], token: AuthToken, clientNonce: [UInt8], serverNonce: [UInt8]) -> Bool {
        let expected = serverSignature(verifier: TokenVerifier(secret: token.secret), tokenId: token.id,
                                       clientNonce: clientNonce, serverNonce: serverNonce)
        return constantTimeEqual(signature, expected)
    }

    /// A secret derived from `key` for `label` (job tokens: no storage, nothing to revoke but the attempt).
    public static func derive(key: [UInt8], label: String) -> [UInt8] {
        hmac(key, label)
    }

    static func hmac(_ key: [UInt8], _ text: String) -> [UInt8] {
        hmac(key, Array(text.utf8))
    }

    static func hmac(_ key: [UInt8], _ data: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: data, using: SymmetricKey(data: key)))
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for i in a.indices { diff |= a[i] ^ b[i] }
        return diff == 0
    }
}
