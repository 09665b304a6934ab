import Foundation
import TitanArtifacts
import TitanProtocol

extension TitanClient {
    /// Bytes per upload chunk: one request each, acknowledged once the master has written it.
    public static let uploadChunkBytes = 1 << 20

    /// Uploads the file at `path` to the master under `name` (default: the file's name), streamed
    /// in chunks, never loaded whole. Returns what the master stored (its hash names the content).
    public nonisolated func uploadArtifact(file path: String, name: String? = nil,
                                           kind: ArtifactKind = .file) async throws -> ArtifactInfo {
        let name = name ?? URL(fileURLWithPath: path).lastPathComponent
        if let problem = ArtifactInfo.problem(withName: name) {
            throw TitanClientError.server(.invalidRequest, problem)
        }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ArtifactError(.io, "cannot open '\(path)' for reading")
        }
        defer { try? handle.close() }
        let uploadId = await newUploadId()
        var offset: UInt64 = 0
        var next = try Self.readChunk(handle, path: path)
        while true {
            let bytes = next
            // Read ahead while the master writes this chunk.
            async let following = Self.readChunk(handle, path: path)
            let last = bytes.count < Self.uploadChunkBytes
            let reply = try await request(.uploadArtifact(UploadChunk(uploadId: uploadId, name: name, kind: kind,
                                                                      offset: offset, bytes: bytes, last: last)))
            offset += UInt64(bytes.count)
            next = try await following
            if last {
                guard case .artifactStored(let info) = reply else {
                    throw TitanClientError.unexpectedReply(expected: "artifactStored", got: reply.name)
                }
                return info
            }
            guard case .ok = reply else { throw TitanClientError.unexpectedReply(expected: "ok", got: reply.name) }
        }
    }

    /// Zips the contents of `directory` (version control and caches left out) and uploads it as
    /// an archive named `name` (default: the folder's name + `.zip`).
    public nonisolated func uploadProject(directory: String, name: String? = nil) async throws -> ArtifactInfo {
        let folder = URL(fileURLWithPath: directory).standardizedFileURL
        let name = name ?? folder.lastPathComponent + ".zip"
        let zip = FileManager.default.temporaryDirectory.appendingPathComponent("titan-upload-\(UUID().uuidString).zip").path
        defer { try? FileManager.default.removeItem(atPath: zip) }
        try ProjectArchive.zip(directory: folder.path, to: zip)
        return try await uploadArtifact(file: zip, name: name, kind: .archive)
    }

    /// The artifact stored under `name`.
    public func artifact(named name: String) async throws -> ArtifactInfo {
        let reply = try await request(.getArtifact(name: name))
        guard case .artifactStored(let info) = reply else {
            throw TitanClientError.unexpectedReply(expected: "artifactStored", got: reply.name)
        }
        return info
    }

    private static func readChunk(_ handle: FileHandle, path: String) throws -> [UInt8] {
        do {
            // A short read happens only at the end of the file.
            var bytes: [UInt8] = []
            while bytes.count < uploadChunkBytes,
                  let data = try handle.read(upToCount: uploadChunkBytes - bytes.count), !data.isEmpty {
                bytes.append(contentsOf: data)
            }
            return bytes
        } catch {
            throw ArtifactError(.io, "cannot read '\(path)': \(error.localizedDescription)")
        }
    }
}
