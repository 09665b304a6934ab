import Foundation
import TitanProtocol

/// A worker's artifacts, downloaded once per content hash and verified:
///
///     DIR/HASH           complete, verified content (read-only)
///     DIR/HASH.part      a download in progress (removed at start)
///
/// Blocking: the worker calls it off the loop.
public final class ArtifactCache: Sendable {
    public let directory: String

    public init(directory: String) throws(ArtifactError) {
        self.directory = directory
        try FileIO.createDirectory(directory)
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where name.hasSuffix(".part") {
            FileIO.remove(directory + "/" + name)
        }
    }

    public func path(ofHash hash: String) -> String { directory + "/" + hash }

    public func contains(hash: String) -> Bool { FileIO.exists(path(ofHash: hash)) }

    /// A download in progress: chunks in order, then ``finish()``.
    public struct Download: Sendable {
        public let hash: String
        let path: String
        let handle: FileHandle
        var hasher = ContentHasher()
        /// Bytes received so far: the offset of the next chunk.
        public var received: UInt64 { hasher.count }

        public mutating func append(_ bytes: [UInt8]) throws(ArtifactError) {
            try FileIO.write(bytes, to: handle, path: path)
            hasher.update(bytes)
        }
    }

    public func beginDownload(hash: String) throws(ArtifactError) -> Download {
        let part = path(ofHash: hash) + ".part"
        return Download(hash: hash, path: part, handle: try FileIO.openForWriting(part))
    }

    /// Verifies the content against its hash and size and moves it into the cache.
    public func finish(_ download: Download, expectedSize: UInt64) throws(ArtifactError) {
        try? download.handle.close()
        let hash = download.hasher.finalize()
        guard hash == download.hash, download.received == expectedSize else {
            FileIO.remove(download.path)
            throw ArtifactError(.corrupt, "artifact \(download.hash): received \(download.received) bytes hashing to \(hash), expected \(expectedSize) bytes")
        }
        chmod(download.path, 0o444)
        try FileIO.rename(download.path, to: path(ofHash: hash))
    }

    public func abandon(_ download: Download) {
        try? download.handle.close()
        FileIO.remove(download.path)
    }

    /// Puts a cached artifact in place below `directory`: a file copied to its destination
    /// (replacing what is there atomically), an archive extracted into it. The destination is
    /// resolved beneath `directory` with ``BeneathRoot``: no symlink on the way is followed, so
    /// one left in a shared DAG directory by an earlier job cannot send the write elsewhere.
    public func materialize(_ ref: ArtifactRef, into directory: String) throws(ArtifactError) {
        if let problem = ref.problem { throw ArtifactError(.invalid, "artifact \(ref.hash): \(problem)") }
        let source = path(ofHash: ref.hash)
        let root = try BeneathRoot(opening: directory)
        do throws(ArtifactError) {
            let destination = try BeneathRoot.components(of: ref.destination, entry: ref.destination)
            switch ref.kind {
            case .archive:
                try ProjectArchive.extract(source, beneath: root, at: destination)
            case .file:
                try root.copyFile(from: source, to: destination, entry: ref.destination,
                                  mode: ref.executable ? 0o755 : 0o644)
            }
        } catch {
            throw ArtifactError(error.kind, "artifact \(ref.hash) into '\(directory)': \(error.message)")
        }
    }
}
