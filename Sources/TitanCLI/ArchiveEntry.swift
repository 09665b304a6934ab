import Foundation
import TitanClient
import TitanProtocol

/// `titan run proj.zip/src/main.py`: an entry of an archive uploaded before (`titan upload
/// ./proj` stores `proj.zip`), as pipelines and the original SDK name one. The job gets the
/// archive extracted into its directory and runs the entry from there, as a script runs
/// (`.py` with python3, `.sh` with bash).
struct ArchiveEntry: Equatable {
    /// The archive's name on the master (`proj.zip`).
    var archive: String
    /// The path inside it (`src/main.py`).
    var entry: String

    /// `program` as ARCHIVE.zip/ENTRY, when it is not a local file: the first component ends in
    /// `.zip` and the entry is a relative path that stays inside the archive.
    static func parse(_ program: String) -> ArchiveEntry? {
        guard LocalScript.path(program) == nil, let slash = program.firstIndex(of: "/") else { return nil }
        let archive = String(program[..<slash])
        let entry = String(program[program.index(after: slash)...])
        guard archive.lowercased().hasSuffix(".zip"), archive.count > 4, !entry.isEmpty, !entry.hasSuffix("/"),
              !entry.split(separator: "/").contains(where: { $0 == ".." || $0 == "." }) else { return nil }
        return ArchiveEntry(archive: archive, entry: entry)
    }

    /// The command that runs the entry from the job's directory (before its arguments).
    var command: [String] { ScriptCommand.command(for: entry) }

    /// The archive as the job's artifact, extracted into its directory.
    func artifact(using client: TitanClient) async throws -> ArtifactRef {
        let info: ArtifactInfo
        do {
            info = try await client.artifact(named: archive)
        } catch TitanClientError.server(.notFound, _) {
            throw CLIError(message: "no archive '\(archive)' on the master: upload its folder first (titan upload ./\(archive.dropLast(4)))")
        }
        guard info.kind == .archive else {
            throw CLIError(message: "'\(archive)' on the master is a file, not an archive: upload a folder to run an entry of it")
        }
        return ArtifactRef(hash: info.hash, size: info.size, kind: .archive, destination: "")
    }
}
