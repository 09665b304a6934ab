import Foundation
import TitanClient
import TitanProtocol

/// A script on this machine that `titan run` or `titan deploy` ships to the worker: uploaded,
/// put in the job's (or service's) directory, and run from there, so the worker needs no shared
/// filesystem.
enum LocalScript {
    /// `program` when it names a local file to ship: one that exists here, named with a path or
    /// a script extension (a bare `tool` is a program looked up on the worker).
    static func path(_ program: String) -> String? {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: program, isDirectory: &isDirectory), !isDirectory.boolValue,
              program.contains("/") || ScriptCommand.interpreter(for: program) != nil else { return nil }
        return program
    }

    /// The command that runs the shipped script from its directory (before its arguments).
    static func command(_ path: String) -> [String] {
        ScriptCommand.command(for: URL(fileURLWithPath: path).lastPathComponent)
    }

    /// Uploads the script (stored by content; named `PREFIX-FILE`) and says where it goes.
    static func ship(_ path: String, namePrefix: String, using client: TitanClient) async throws -> ArtifactRef {
        let file = URL(fileURLWithPath: path).lastPathComponent
        let info = try await client.uploadArtifact(file: path, name: namePrefix + "-" + file)
        return ArtifactRef(hash: info.hash, size: info.size, kind: .file, destination: file,
                           executable: ScriptCommand.interpreter(for: file) == nil)
    }
}
