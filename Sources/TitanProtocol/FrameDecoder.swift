/// Splits a byte stream into frames. Bytes may arrive in any split: feed them with `append` and
/// call `next()` until it returns nil.
///
/// The version is checked as soon as a frame's first byte is buffered and the length limit as soon
/// as its header is complete, so an oversize frame is rejected before its payload is buffered.
/// Errors are sticky: once `next()` has thrown, it throws the same error forever (the framing is
/// lost) and further input is discarded.
public struct FrameDecoder: Sendable {
    /// Largest payload accepted, in bytes.
    public let maxPayload: Int
    /// Versions accepted in the header's first byte.
    public let acceptedVersions: Set<UInt8>

    private var buffer: [UInt8] = []
    /// Start of the first unconsumed byte in `buffer`.
    private var readIndex = 0
    private var failure: FrameError?

    /// Consumed prefix size above which `append` compacts the buffer (when it is also more than half).
    private static let compactThreshold = 4096
    /// Capacity kept when the buffer drains completely; larger buffers are released.
    private static let retainedCapacity = 256 << 10

    public init(maxPayload: Int = TitanProto.defaultMaxPayload, acceptedVersions: Set<UInt8> = [1, 2]) {
        precondition(maxPayload >= 0, "maxPayload must not be negative")
        self.maxPayload = maxPayload
        self.acceptedVersions = acceptedVersions
    }

    /// Bytes received but not yet returned as frames.
    public var bufferedByteCount: Int { buffer.count - readIndex }

    /// The error `next()` throws from now on, if any.
    public var error: FrameError? { failure }

    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard failure == nil, !bytes.isEmpty else { return }
        compactIfWorthIt()
        buffer.append(contentsOf: bytes)
    }

    public mutating func append(contentsOf bytes: [UInt8]) {
        guard failure == nil, !bytes.isEmpty else { return }
        compactIfWorthIt()
        buffer.append(contentsOf: bytes)
    }

    public mutating func append(contentsOf bytes: some Collection<UInt8>) {
        guard failure == nil, !bytes.isEmpty else { return }
        compactIfWorthIt()
        buffer.append(contentsOf: bytes)
    }

    /// The next complete frame, or nil when more bytes are needed.
    public mutating func next() throws(FrameError) -> Frame? {
        if let failure { throw failure }
        let available = buffer.count - readIndex
        guard available > 0 else { return nil }
        let version = buffer[readIndex]
        guard acceptedVersions.contains(version) else {
            return try fail(.unsupportedVersion(version))
        }
        guard available >= TitanProto.headerSize else { return nil }
        let length = buffer.withUnsafeBytes { raw in
            UInt32(bigEndian: raw.loadUnaligned(fromByteOffset: readIndex + 4, as: UInt32.self))
        }
        guard UInt64(length) <= UInt64(maxPayload) else {
            return try fail(.frameTooLarge(length: length, limit: maxPayload))
        }
        let total = TitanProto.headerSize + Int(length)
        guard available >= total else { return nil }
        let payloadStart = readIndex + TitanProto.headerSize
        let frame = Frame(version: version, opcode: buffer[readIndex + 1], flags: buffer[readIndex + 2],
                          payload: Array(buffer[payloadStart ..< payloadStart + Int(length)]))
        readIndex += total
        if readIndex == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= Self.retainedCapacity)
            readIndex = 0
        }
        return frame
    }

    private mutating func fail(_ error: FrameError) throws(FrameError) -> Frame? {
        failure = error
        buffer = []
        readIndex = 0
        throw error
    }

    /// Drops the consumed prefix when it is both large and most of the buffer, so the copy of the
    /// remainder is paid for by the bytes consumed since the last compaction (amortised O(1)/byte).
    private mutating func compactIfWorthIt() {
        guard readIndex > Self.compactThreshold, readIndex * 2 > buffer.count else { return }
        buffer.removeSubrange(0 ..< readIndex)
        readIndex = 0
    }
}
