import Foundation
import Testing
import TitanArtifacts
import TitanProtocol
import TitanTestSupport

@Suite("Artifact store (master)")
struct ArtifactStoreTests {
    let key = ArtifactStore.UploadKey(peer: 1, uploadId: 7)

    @Test("content hash is SHA-256 in lowercase hex")
    func knownVector() {
        var hasher = ContentHasher()
        hasher.update(Array("abc".utf8))
        #expect(hasher.finalize() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(hasher.count == 3)
    }

    @Test("an upload in chunks is stored by hash and named; the index survives a reopen")
    func uploadInChunks() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let store = try ArtifactStore(directory: dir.path)
        var rng = SplitMix64(seed: 11)
        let content = (0 ..< 300_000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        var offset = 0
        var stored: ArtifactInfo?
        while offset < content.count {
            let n = min(content.count - offset, Int.random(in: 1...70_000, using: &rng))
            let chunk = UploadChunk(uploadId: 7, name: "data.bin", kind: .file, offset: UInt64(offset),
                                    bytes: Array(content[offset ..< offset + n]), last: offset + n == content.count)
            stored = try store.receive(chunk, key: key)
            offset += n
            #expect((stored == nil) == (offset < content.count))
        }
        var hasher = ContentHasher()
        hasher.update(content)
        let info = try #require(stored)
        #expect(info == ArtifactInfo(name: "data.bin", hash: hasher.finalize(), size: 300_000, kind: .file))
        #expect(store.contains(hash: info.hash))
        #expect(try Data(contentsOf: URL(fileURLWithPath: store.path(ofHash: info.hash))) == Data(content))

        let reopened = try ArtifactStore(directory: dir.path)
        #expect(reopened.info(named: "data.bin") == info)
        let part = try reopened.read(ArtifactRange(hash: info.hash, offset: 299_990, length: 100))
        #expect(part.total == 300_000)
        #expect(part.bytes == Array(content[299_990...]))
    }

    @Test("a chunk at the wrong offset fails the upload and leaves nothing behind")
    func wrongOffset() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let store = try ArtifactStore(directory: dir.path)
        _ = try store.receive(UploadChunk(uploadId: 7, name: "a", kind: .file, offset: 0, bytes: [1, 2, 3], last: false), key: key)
        #expect(throws: ArtifactError.self) {
            try store.receive(UploadChunk(uploadId: 7, name: "a", kind: .file, offset: 5, bytes: [4], last: true), key: key)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/uploads").isEmpty)
        // The upload is gone: continuing it is refused as unknown.
        let error = #expect(throws: ArtifactError.self) {
            try store.receive(UploadChunk(uploadId: 7, name: "a", kind: .file, offset: 3, bytes: [4], last: true), key: key)
        }
        #expect(error?.message.contains("not 0") == true)
    }

    @Test("names that are not plain file names are refused", arguments: ["", ".", "..", "a/b", "../x", "a\\b"])
    func badNames(name: String) throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let store = try ArtifactStore(directory: dir.path)
        let error = #expect(throws: ArtifactError.self) {
            try store.receive(UploadChunk(uploadId: 1, name: name, kind: .file, offset: 0, bytes: [1], last: true), key: key)
        }
        #expect(error?.kind == .invalid)
    }

    @Test("an upload past the size limit is refused")
    func sizeLimit() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let store = try ArtifactStore(directory: dir.path, maxSize: 10)
        _ = try store.receive(UploadChunk(uploadId: 1, name: "big", kind: .file, offset: 0, bytes: Array(repeating: 1, count: 8), last: false), key: key)
        let error = #expect(throws: ArtifactError.self) {
            try store.receive(UploadChunk(uploadId: 1, name: "big", kind: .file, offset: 8, bytes: [1, 2, 3], last: true), key: key)
        }
        #expect(error?.message.contains("limit of 10 bytes") == true)
    }

    @Test("abandoned uploads are removed; unknown hashes and offsets past the end are errors")
    func abandonAndRead() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let store = try ArtifactStore(directory: dir.path)
        _ = try store.receive(UploadChunk(uploadId: 1, name: "x", kind: .file, offset: 0, bytes: [1], last: false), key: key)
        store.abandonUploads(peer: key.peer)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/uploads").isEmpty)
        let missing = #expect(throws: ArtifactError.self) {
            try store.read(ArtifactRange(hash: String(repeating: "0", count: 64), offset: 0, length: 1))
        }
        #expect(missing?.kind == .notFound)
        let info = try #require(try store.receive(UploadChunk(uploadId: 2, name: "y", kind: .file, offset: 0, bytes: [9], last: true), key: key))
        #expect(try store.read(ArtifactRange(hash: info.hash, offset: 1, length: 10)).bytes.isEmpty)
        #expect(throws: ArtifactError.self) { try store.read(ArtifactRange(hash: info.hash, offset: 2, length: 1)) }
    }
}

@Suite("Artifact cache (worker)")
struct ArtifactCacheTests {
    @Test("a download is verified against its hash before it enters the cache")
    func verified() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let cache = try ArtifactCache(directory: dir.path + "/cache")
        var hasher = ContentHasher()
        hasher.update(Array("hello\n".utf8))
        let hash = hasher.finalize()

        var bad = try cache.beginDownload(hash: hash)
        try bad.append(Array("hellO\n".utf8))
        let error = #expect(throws: ArtifactError.self) { try cache.finish(bad, expectedSize: 6) }
        #expect(error?.kind == .corrupt)
        #expect(!cache.contains(hash: hash))

        var good = try cache.beginDownload(hash: hash)
        try good.append(Array("hel".utf8))
        try good.append(Array("lo\n".utf8))
        try cache.finish(good, expectedSize: 6)
        #expect(cache.contains(hash: hash))

        let job = dir.path + "/job"
        try cache.materialize(ArtifactRef(hash: hash, size: 6, kind: .file, destination: "bin/run.sh", executable: true), into: job)
        #expect(try String(contentsOfFile: job + "/bin/run.sh", encoding: .utf8) == "hello\n")
        #expect(mode(of: job + "/bin/run.sh") == 0o755)
        // Materialising again replaces the file (a retry on the same worker).
        try cache.materialize(ArtifactRef(hash: hash, size: 6, kind: .file, destination: "bin/run.sh"), into: job)
        #expect(mode(of: job + "/bin/run.sh") == 0o644)
    }

    @Test("destinations that leave the job directory are refused", arguments: ["../x", "/etc/x", "a/../../x", ""])
    func badDestination(destination: String) throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let cache = try ArtifactCache(directory: dir.path)
        let ref = ArtifactRef(hash: String(repeating: "a", count: 64), size: 0, kind: .file, destination: destination)
        #expect(ref.problem != nil)
        #expect(throws: ArtifactError.self) { try cache.materialize(ref, into: dir.path + "/job") }
    }
}
