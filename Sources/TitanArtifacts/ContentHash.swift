@preconcurrency import Crypto
import Foundation

/// SHA-256 of artifact content, as 64 lowercase hex digits (the name under which it is stored).
public struct ContentHasher: Sendable {
    private var sha = SHA256()
    public private(set) var count: UInt64 = 0

    public init() {}

    public mutating func update(_ bytes: some ContiguousBytes) {
        bytes.withUnsafeBytes { raw in
            sha.update(bufferPointer: raw)
            count += UInt64(raw.count)
        }
    }

    public func finalize() -> String {
        sha.finalize().map { byte in
            let digits = String(byte, radix: 16)
            return byte < 0x10 ? "0" + digits : digits
        }.joined()
    }

    /// The hash of a whole file, read in 1 MiB pieces.
    public static func hash(file path: String) throws(ArtifactError) -> (hash: String, size: UInt64) {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ArtifactError(.io, "cannot open '\(path)' for reading")
        }
        defer { try? handle.close() }
        var hasher = ContentHasher()
        do {
            while let data = try handle.read(upToCount: 1 << 20), !data.isEmpty { hasher.update(data) }
        } catch {
            throw ArtifactError(.io, "cannot read '\(path)': \(error.localizedDescription)")
        }
        return (hasher.finalize(), hasher.count)
    }
}
