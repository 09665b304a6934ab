/// Artifacts: files and zipped project folders uploaded to the master, stored by content hash,
/// and fetched by workers for the jobs that need them.

/// What an artifact holds, and so how a worker puts it in place.
public enum ArtifactKind: UInt8, Sendable, Equatable {
    /// One file, copied to its destination.
    case file = 1
    /// A zip archive, extracted into its destination directory.
    case archive = 2
}

/// A job's use of a stored artifact: which content (by hash), and where it goes.
public struct ArtifactRef: Sendable, Equatable, Hashable, Encodable {
    /// SHA-256 of the content, 64 lowercase hex digits.
    public var hash: String
    public var size: UInt64
    public var kind: ArtifactKind
    /// Relative to the job's working directory: the file's path, or the directory an archive is
    /// extracted into (empty: the working directory itself). Never absolute, never `..`.
    public var destination: String
    /// Files only: made executable (mode 0755 instead of 0644).
    public var executable: Bool

    public init(hash: String, size: UInt64, kind: ArtifactKind, destination: String, executable: Bool = false) {
        self.hash = hash
        self.size = size
        self.kind = kind
        self.destination = destination
        self.executable = executable
    }

    /// Why `destination` or `hash` is unacceptable, or nil. Checked by the master on submission
    /// and again by the worker before it writes anything.
    public var problem: String? {
        if hash.utf8.count != 64 || !hash.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) {
            return "hash '\(hash)' is not a SHA-256 in lowercase hex"
        }
        if destination.isEmpty {
            return kind == .file ? "a file artifact needs a destination path" : nil
        }
        // Bytes, not Characters: a `/` followed by a combining mark is one Character.
        let bytes = destination.utf8
        if bytes.first == UInt8(ascii: "/") { return "destination '\(destination)' is absolute" }
        if bytes.contains(0) { return "destination contains a NUL byte" }
        for part in bytes.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false) where part.elementsEqual("..".utf8) {
            return "destination '\(destination)' leaves the job's directory ('..')"
        }
        return nil
    }
}

/// An artifact as the master stores it: its name (the last upload under that name wins), content
/// hash and size.
public struct ArtifactInfo: Sendable, Equatable, Encodable {
    public var name: String
    public var hash: String
    public var size: UInt64
    public var kind: ArtifactKind

    public init(name: String, hash: String, size: UInt64, kind: ArtifactKind) {
        self.name = name
        self.hash = hash
        self.size = size
        self.kind = kind
    }
}

/// One piece of an upload. Chunks of one upload share `uploadId` (chosen by the client, unique
/// on its connection) and arrive in order; the one with `last` set completes it.
public struct UploadChunk: Sendable, Equatable {
    public var uploadId: UInt32
    /// Name to store it under (a file name: no `/`, not `.` or `..`).
    public var name: String
    public var kind: ArtifactKind
    /// Where `bytes` start in the artifact; must equal the bytes received so far.
    public var offset: UInt64
    public var bytes: [UInt8]
    public var last: Bool

    public init(uploadId: UInt32, name: String, kind: ArtifactKind, offset: UInt64, bytes: [UInt8], last: Bool) {
        self.uploadId = uploadId
        self.name = name
        self.kind = kind
        self.offset = offset
        self.bytes = bytes
        self.last = last
    }
}

/// A worker's request for part of a stored artifact.
public struct ArtifactRange: Sendable, Equatable {
    public var hash: String
    public var offset: UInt64
    public var length: UInt32

    public init(hash: String, offset: UInt64, length: UInt32) {
        self.hash = hash
        self.offset = offset
        self.length = length
    }
}

/// Part of a stored artifact, sent to the worker that asked for it.
public struct ArtifactData: Sendable, Equatable {
    public var hash: String
    public var offset: UInt64
    /// The artifact's whole size.
    public var total: UInt64
    public var bytes: [UInt8]

    public init(hash: String, offset: UInt64, total: UInt64, bytes: [UInt8]) {
        self.hash = hash
        self.offset = offset
        self.total = total
        self.bytes = bytes
    }
}

extension ArtifactInfo {
    /// Why `name` cannot name a stored artifact, or nil: names are file names.
    public static func problem(withName name: String) -> String? {
        Names.problem(name, kind: "artifact name")
    }
}
