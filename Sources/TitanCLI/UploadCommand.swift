import ArgumentParser
import Foundation
import TitanClient
import TitanProtocol

/// `titan upload PATH`: store a file, or a zipped folder, on the master.
struct UploadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "upload",
        abstract: "Upload a file, or a folder as a zip archive, to the master.",
        discussion: """
            The content is streamed and stored by its SHA-256; the name points at the latest upload
            under it. Version control folders and caches are left out of a zipped folder. Workers
            fetch artifacts when a job needs them and keep them cached by hash.
            """)

    @OptionGroup var client: ClientOptions

    @Option(help: "Name to store it under (default: the file name, or FOLDER.zip).")
    var name: String?

    @Flag(help: "Print JSON.")
    var json = false

    @Argument(help: "The file or folder.")
    var path: String

    func run() async throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw CLIError(message: "\(path): no such file or folder")
        }
        let info = try await withClient(client) { client in
            isDirectory.boolValue
                ? try await client.uploadProject(directory: path, name: name)
                : try await client.uploadArtifact(file: path, name: name)
        }
        print(json ? try Output.json(info) : "\(info.name)  \(info.kind == .archive ? "archive" : "file")  \(info.size) bytes  sha256:\(info.hash)")
    }
}
