import Foundation

/// Small blocking file helpers with errors that name the path.
enum FileIO {
    static func createDirectory(_ path: String) throws(ArtifactError) {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw ArtifactError(.io, "cannot create directory '\(path)': \(error.localizedDescription)")
        }
    }

    /// Writes `bytes` to `path` atomically (a temporary file renamed over it).
    static func writeAtomically(_ bytes: [UInt8], to path: String) throws(ArtifactError) {
        do {
            try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw ArtifactError(.io, "cannot write '\(path)': \(error.localizedDescription)")
        }
    }

    static func rename(_ from: String, to: String) throws(ArtifactError) {
        guard Foundation.rename(from, to) == 0 else {
            throw ArtifactError(.io, "cannot rename '\(from)' to '\(to)': \(String(cString: strerror(errno)))")
        }
    }

    static func remove(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
    }

    static func exists(_ path: String) -> Bool {
        FileManager.default.fileExists(atPath: path)
    }

    /// Opens `path` for writing, creating or truncating it.
    static func openForWriting(_ path: String) throws(ArtifactError) -> FileHandle {
        guard FileManager.default.createFile(atPath: path, contents: nil),
              let handle = FileHandle(forWritingAtPath: path) else {
            throw ArtifactError(.io, "cannot create '\(path)'")
        }
        return handle
    }

    static func write(_ bytes: [UInt8], to handle: FileHandle, path: String) throws(ArtifactError) {
        do {
            try handle.write(contentsOf: bytes)
        } catch {
            throw ArtifactError(.io, "cannot write '\(path)': \(error.localizedDescription)")
        }
    }
}
