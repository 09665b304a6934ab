import Foundation
import Synchronization
import TitanProtocol

/// The master's artifacts on disk, stored once per content hash:
///
///     DIR/sha256/HASH      content (read-only once complete)
///     DIR/names/NAME       "HASH KIND SIZE": the artifact last uploaded under NAME
///     DIR/uploads/*.part   uploads in progress (removed at start: a crash abandons them)
///
/// Every method blocks on the disk: the master calls them from its artifact queue, never from
/// the loop. Thread-safe; chunks of one upload must arrive in order.
public final class ArtifactStore: Sendable {
    /// Identifies an upload: the connection it came on, and the client's id for it.
    public struct UploadKey: Hashable, Sendable {
        public var peer: UInt64
        public var uploadId: UInt32

        public init(peer: UInt64, uploadId: UInt32) {
            self.peer = peer
            self.uploadId = uploadId
        }
    }

    private struct Upload {
        var name: String
        var kind: ArtifactKind
        var path: String
        var handle: FileHandle
        var hasher = ContentHasher()
    }

    private struct State {
        var names: [String: ArtifactInfo] = [:]
        var hashes: Set<String> = []
        var uploads: [UploadKey: Upload] = [:]
        var nextUpload: UInt64 = 0
    }

    public let directory: String
    /// Largest artifact accepted.
    public let maxSize: UInt64
    /// Uploads one connection may have open at once.
    public let maxUploadsPerPeer = 16
    private let state = Mutex(State())

    /// Opens (creating if needed) the store in `directory` and loads its index.
    public init(directory: String, maxSize: UInt64 = 8 << 30) throws(ArtifactError) {
        self.directory = directory
        self.maxSize = maxSize
        for sub in ["sha256", "names", "uploads"] { try FileIO.createDirectory(directory + "/" + sub) }
        guard access(directory + "/sha256", W_OK) == 0 else {
            throw ArtifactError(.io, "the artifact directory '\(directory)' is not writable")
        }
        let fm = FileManager.default
        for stale in (try? fm.contentsOfDirectory(atPath: directory + "/uploads")) ?? [] {
            FileIO.remove(directory + "/uploads/" + stale)
        }
        var loaded = State()
        for hash in (try? fm.contentsOfDirectory(atPath: directory + "/sha256")) ?? [] { loaded.hashes.insert(hash) }
        for name in (try? fm.contentsOfDirectory(atPath: directory + "/names")) ?? [] {
            guard let text = try? String(contentsOfFile: directory + "/names/" + name, encoding: .utf8) else { continue }
            let fields = text.split(separator: " ")
            guard fields.count == 3, let raw = UInt8(fields[1]), let kind = ArtifactKind(rawValue: raw),
                  let size = UInt64(fields[2].trimmingCharacters(in: .whitespacesAndNewlines)),
                  loaded.hashes.contains(String(fields[0])) else { continue }
            loaded.names[name] = ArtifactInfo(name: name, hash: String(fields[0]), size: size, kind: kind)
        }
        state.withLock { $0 = loaded }
    }

    /// The path of stored content.
    public func path(ofHash hash: String) -> String { directory + "/sha256/" + hash }

    /// True when content with this hash is stored. Memory only: cheap enough for the loop.
    public func contains(hash: String) -> Bool { state.withLock { $0.hashes.contains(hash) } }

    /// The artifact last stored under `name`. Memory only.
    public func info(named name: String) -> ArtifactInfo? { state.withLock { $0.names[name] } }

    /// Takes one chunk of an upload. Returns the stored artifact after the last chunk, nil before.
    /// On any error the upload is abandoned (its partial file removed).
    public func receive(_ chunk: UploadChunk, key: UploadKey) throws(ArtifactError) -> ArtifactInfo? {
        var upload: Upload
        do {
            upload = try takeOrBegin(chunk, key: key)
        } catch {
            abandon(key)
            throw error
        }
        do throws(ArtifactError) {
            guard chunk.offset == upload.hasher.count else {
                throw ArtifactError(.invalid, "upload of '\(upload.name)': chunk at offset \(chunk.offset), expected \(upload.hasher.count)")
            }
            guard upload.hasher.count + UInt64(chunk.bytes.count) <= maxSize else {
                throw ArtifactError(.invalid, "upload of '\(upload.name)' is larger than the limit of \(maxSize) bytes")
            }
            try FileIO.write(chunk.bytes, to: upload.handle, path: upload.path)
            upload.hasher.update(chunk.bytes)
        } catch {
            try? upload.handle.close()
            FileIO.remove(upload.path)
            throw error
        }
        guard chunk.last else {
            state.withLock { $0.uploads[key] = upload }
            return nil
        }
        return try complete(upload)
    }

    private func takeOrBegin(_ chunk: UploadChunk, key: UploadKey) throws(ArtifactError) -> Upload {
        let existing = state.withLock { s -> (Upload?, Int) in
            (s.uploads.removeValue(forKey: key), s.uploads.keys.filter { $0.peer == key.peer }.count)
        }
        if let upload = existing.0 { return upload }
        if let problem = ArtifactInfo.problem(withName: chunk.name) { throw ArtifactError(.invalid, problem) }
        guard chunk.offset == 0 else {
            throw ArtifactError(.invalid, "upload \(chunk.uploadId) of '\(chunk.name)' starts at offset \(chunk.offset), not 0 (unknown or abandoned upload)")
        }
        guard existing.1 < maxUploadsPerPeer else {
            throw ArtifactError(.invalid, "more than \(maxUploadsPerPeer) uploads in progress on one connection")
        }
        let number = state.withLock { s in
            s.nextUpload += 1
            return s.nextUpload
        }
        let path = "\(directory)/uploads/\(getpid())-\(number).part"
        return Upload(name: chunk.name, kind: chunk.kind, path: path, handle: try FileIO.openForWriting(path))
    }

    private func complete(_ upload: Upload) throws(ArtifactError) -> ArtifactInfo {
        defer { FileIO.remove(upload.path) }
        do {
            try upload.handle.synchronize()
            try upload.handle.close()
        } catch {
            throw ArtifactError(.io, "cannot write '\(upload.path)': \(error.localizedDescription)")
        }
        let hash = upload.hasher.finalize()
        let info = ArtifactInfo(name: upload.name, hash: hash, size: upload.hasher.count, kind: upload.kind)
        let target = path(ofHash: hash)
        if !FileIO.exists(target) {
            chmod(upload.path, 0o444)
            try FileIO.rename(upload.path, to: target)
        }
        try FileIO.writeAtomically(Array("\(hash) \(upload.kind.rawValue) \(info.size)\n".utf8),
                                   to: directory + "/names/" + upload.name)
        state.withLock { s in
            s.hashes.insert(hash)
            s.names[upload.name] = info
        }
        return info
    }

    /// Stores content given whole (small files: the v1 protocol's inline base64 scripts), under
    /// `name` when given.
    @discardableResult
    public func store(_ bytes: [UInt8], name: String?, kind: ArtifactKind) throws(ArtifactError) -> ArtifactInfo {
        if let name, let problem = ArtifactInfo.problem(withName: name) { throw ArtifactError(.invalid, problem) }
        guard UInt64(bytes.count) <= maxSize else {
            throw ArtifactError(.invalid, "'\(name ?? "content")' is larger than the limit of \(maxSize) bytes")
        }
        var hasher = ContentHasher()
        hasher.update(bytes)
        let hash = hasher.finalize()
        let info = ArtifactInfo(name: name ?? "", hash: hash, size: UInt64(bytes.count), kind: kind)
        if !contains(hash: hash) {
            let number = state.withLock { s in
                s.nextUpload += 1
                return s.nextUpload
            }
            let part = "\(directory)/uploads/\(getpid())-\(number).part"
            try FileIO.writeAtomically(bytes, to: part)
            chmod(part, 0o444)
            try FileIO.rename(part, to: path(ofHash: hash))
        }
        if let name {
            try FileIO.writeAtomically(Array("\(hash) \(kind.rawValue) \(info.size)\n".utf8), to: directory + "/names/" + name)
        }
        state.withLock { s in
            s.hashes.insert(hash)
            if let name { s.names[name] = info }
        }
        return info
    }

    /// Reads stored content whole (the v1 protocol's FETCH_ASSET).
    public func readAll(named name: String) throws(ArtifactError) -> [UInt8] {
        guard let info = info(named: name) else { throw ArtifactError(.notFound, "no artifact named '\(name)'") }
        guard let data = FileManager.default.contents(atPath: path(ofHash: info.hash)) else {
            throw ArtifactError(.io, "cannot read artifact '\(name)'")
        }
        return [UInt8](data)
    }

    /// Drops an upload in progress (its connection went away, or it failed).
    public func abandon(_ key: UploadKey) {
        guard let upload = state.withLock({ $0.uploads.removeValue(forKey: key) }) else { return }
        try? upload.handle.close()
        FileIO.remove(upload.path)
    }

    /// Drops every upload in progress on a connection.
    public func abandonUploads(peer: UInt64) {
        let keys = state.withLock { s in s.uploads.keys.filter { $0.peer == peer } }
        for key in keys { abandon(key) }
    }

    /// Reads part of stored content (at most `range.length` bytes, capped at 4 MiB).
    public func read(_ range: ArtifactRange) throws(ArtifactError) -> ArtifactData {
        guard contains(hash: range.hash) else { throw ArtifactError(.notFound, "no artifact with hash \(range.hash)") }
        let path = path(ofHash: range.hash)
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ArtifactError(.io, "cannot open artifact \(range.hash) for reading")
        }
        defer { try? handle.close() }
        do {
            let total = try handle.seekToEnd()
            guard range.offset <= total else {
                throw ArtifactError(.invalid, "offset \(range.offset) is past the end of artifact \(range.hash) (\(total) bytes)")
            }
            try handle.seek(toOffset: range.offset)
            let length = Int(min(UInt64(min(range.length, 4 << 20)), total - range.offset))
            let data = try handle.read(upToCount: length) ?? Data()
            return ArtifactData(hash: range.hash, offset: range.offset, total: total, bytes: [UInt8](data))
        } catch let error as ArtifactError {
            throw error
        } catch {
            throw ArtifactError(.io, "cannot read artifact \(range.hash): \(error.localizedDescription)")
        }
    }
}
