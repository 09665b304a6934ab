import Foundation
import TitanClient
import TitanPipeline
import TitanProtocol

/// Ships what a pipeline's jobs need to the master before the DAG is submitted: each script, or
/// the zipped project folder. Content is stored by hash, so submitting the same pipeline again
/// stores nothing new and workers reuse their cached copies.
enum PipelineUpload {
    static func resolve(_ pipeline: Pipeline, with client: TitanClient) async throws -> DagSpec {
        let prefix = artifactName(pipeline.name)
        var project: ArtifactInfo?
        if let folder = pipeline.project {
            project = try await client.uploadProject(directory: folder, name: prefix + "-project.zip")
        }
        var files: [String: ArtifactInfo] = [:]
        for script in Set(pipeline.scripts.values) {
            let name = prefix + "-" + artifactName(script.destination)
            files[script.path] = try await client.uploadArtifact(file: script.path, name: name)
        }
        do {
            return try pipeline.resolvedDag(files: files, project: project)
        } catch {
            throw CLIError(message: error.description)
        }
    }

    /// `text` as a file name: anything but letters, digits, `.`, `-` and `_` becomes `_`.
    static func artifactName(_ text: String) -> String {
        String(text.map { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) ? $0 : "_" })
    }
}
