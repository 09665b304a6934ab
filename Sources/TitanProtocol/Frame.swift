/// TITAN_PROTO framing, shared by both codecs.
///
/// Every frame is an 8-byte header followed by the payload:
///
///     offset  size  field
///     0       1     version   (1 = original Titan protocol, 2 = native)
///     1       1     opcode
///     2       1     flags
///     3       1     reserved  (written as 0, ignored when read)
///     4       4     payload length, unsigned big-endian
///     8       n     payload
public enum TitanProto {
    /// Size of the frame header in bytes.
    public static let headerSize = 8
    /// The original Titan protocol (its payloads: V1/V1Codec.swift; the mapping: docs/ARCHITECTURE.md).
    public static let v1Version: UInt8 = 1
    /// The native protocol spoken by `NativeCodec`.
    public static let nativeVersion: UInt8 = 2
    /// Default largest payload a `FrameDecoder` accepts: 16 MiB.
    public static let defaultMaxPayload = 16 << 20
}

/// One frame: header fields plus its payload bytes.
public struct Frame: Sendable, Equatable {
    public var version: UInt8
    public var opcode: UInt8
    public var flags: UInt8
    public var payload: [UInt8]

    public init(version: UInt8 = TitanProto.nativeVersion, opcode: UInt8, flags: UInt8 = 0, payload: [UInt8] = []) {
        self.version = version
        self.opcode = opcode
        self.flags = flags
        self.payload = payload
    }

    /// The complete frame: header then payload.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(TitanProto.headerSize + payload.count)
        append(to: &out)
        return out
    }

    /// Appends the complete frame (header then payload) to `buffer`.
    public func append(to buffer: inout [UInt8]) {
        reserveForAppend(&buffer, TitanProto.headerSize + payload.count)
        Frame.appendHeader(version: version, opcode: opcode, flags: flags, payloadLength: payload.count, to: &buffer)
        buffer.append(contentsOf: payload)
    }

    /// Appends an 8-byte header announcing `payloadLength` bytes of payload.
    ///
    /// - Precondition: `payloadLength` fits in a `UInt32`.
    public static func appendHeader(version: UInt8, opcode: UInt8, flags: UInt8, payloadLength: Int,
                                    to buffer: inout [UInt8]) {
        precondition(payloadLength >= 0 && payloadLength <= Int(UInt32.max), "frame payload too large to encode")
        let length = UInt32(truncatingIfNeeded: payloadLength)
        buffer.append(version)
        buffer.append(opcode)
        buffer.append(flags)
        buffer.append(0)
        buffer.append(UInt8(truncatingIfNeeded: length >> 24))
        buffer.append(UInt8(truncatingIfNeeded: length >> 16))
        buffer.append(UInt8(truncatingIfNeeded: length >> 8))
        buffer.append(UInt8(truncatingIfNeeded: length))
    }
}

/// Errors that lose the framing of a byte stream. After one, the stream cannot be resynchronised:
/// reply with an `.error` if possible, then close the connection.
public enum FrameError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The header names a protocol version this endpoint does not accept.
    case unsupportedVersion(UInt8)
    /// The header announces a payload larger than the configured limit.
    case frameTooLarge(length: UInt32, limit: Int)

    public var description: String {
        switch self {
        case .unsupportedVersion(let version):
            "unsupported protocol version \(version)"
        case .frameTooLarge(let length, let limit):
            "frame too large: payload of \(length) bytes exceeds the limit of \(limit) bytes"
        }
    }

    /// The code to send back in an `.error` reply.
    public var code: ErrorCode {
        switch self {
        case .unsupportedVersion: .unsupportedVersion
        case .frameTooLarge: .frameTooLarge
        }
    }
}

/// Makes room for `additional` more bytes, growing geometrically: `Array.reserveCapacity` allocates
/// exactly what is asked, so calling it before every append to a growing buffer would reallocate
/// (and copy) every time.
func reserveForAppend(_ buffer: inout [UInt8], _ additional: Int) {
    let needed = buffer.count + additional
    if needed > buffer.capacity {
        buffer.reserveCapacity(Swift.max(needed, buffer.capacity * 2))
    }
}
