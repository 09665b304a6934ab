/// A token as the master lists it (never its secret).
public struct TokenInfo: Sendable, Equatable, Encodable {
    public var id: String
    public var role: String
    public var name: String
    public var createdAtMs: Int64
    /// 0: never expires.
    public var expiresAtMs: Int64

    public init(id: String, role: String, name: String, createdAtMs: Int64, expiresAtMs: Int64) {
        self.id = id
        self.role = role
        self.name = name
        self.createdAtMs = createdAtMs
        self.expiresAtMs = expiresAtMs
    }
}

/// Token administration (admin role).
public enum TokenOperation: Sendable, Equatable {
    /// Replied with `.created` holding the token's text, shown this once.
    case create(role: String, name: String, ttlMs: UInt64)
    case list
    /// Takes effect at once: connections authenticated with it are closed. Replied with `.ok`.
    case revoke(id: String)

    enum Tag: UInt8 { case create = 1, list, revoke }
}

public enum TokenResult: Sendable, Equatable {
    case created(TokenInfo, token: String)
    case list([TokenInfo])

    enum Tag: UInt8 { case created = 1, list }
}

extension BinaryWriter {
    public mutating func write(_ info: TokenInfo) {
        writeString(info.id)
        writeString(info.role)
        writeString(info.name)
        writeI64(info.createdAtMs)
        writeI64(info.expiresAtMs)
    }

    public mutating func write(_ op: TokenOperation) {
        switch op {
        case .create(let role, let name, let ttlMs):
            writeU8(TokenOperation.Tag.create.rawValue)
            writeString(role)
            writeString(name)
            writeU64(ttlMs)
        case .list:
            writeU8(TokenOperation.Tag.list.rawValue)
        case .revoke(let id):
            writeU8(TokenOperation.Tag.revoke.rawValue)
            writeString(id)
        }
    }

    public mutating func write(_ result: TokenResult) {
        switch result {
        case .created(let info, let token):
            writeU8(TokenResult.Tag.created.rawValue)
            write(info)
            writeString(token)
        case .list(let infos):
            writeU8(TokenResult.Tag.list.rawValue)
            writeArray(infos) { $0.write($1) }
        }
    }
}

extension BinaryReader {
    public mutating func readTokenInfo(_ prefix: () -> String = { "" }) throws(ProtocolError) -> TokenInfo {
        TokenInfo(id: try readString(prefix() + "id"), role: try readString(prefix() + "role"),
                  name: try readString(prefix() + "name"), createdAtMs: try readI64(prefix() + "createdAtMs"),
                  expiresAtMs: try readI64(prefix() + "expiresAtMs"))
    }

    public mutating func readTokenOperation() throws(ProtocolError) -> TokenOperation {
        let raw = try readU8("op")
        guard let tag = TokenOperation.Tag(rawValue: raw) else { throw malformed(field: "op", "unknown token operation \(raw)") }
        switch tag {
        case .create:
            let role = try readString("role")
            let name = try readString("name")
            return .create(role: role, name: name, ttlMs: try readU64("ttlMs"))
        case .list:
            return .list
        case .revoke:
            return .revoke(id: try readString("id"))
        }
    }

    public mutating func readTokenResult() throws(ProtocolError) -> TokenResult {
        let raw = try readU8("kind")
        guard let tag = TokenResult.Tag(rawValue: raw) else { throw malformed(field: "kind", "unknown token result \(raw)") }
        switch tag {
        case .created:
            let info = try readTokenInfo()
            return .created(info, token: try readString("token"))
        case .list:
            return .list(try readArray("tokens", minElementSize: 28) {
                (r: inout BinaryReader, i: Int) throws(ProtocolError) in try r.readTokenInfo { "tokens[\(i)]." }
            })
        }
    }
}
