import Foundation
import Testing
import TitanPipeline
import TitanProtocol

/// Parses `yaml` as `pipeline.yaml` in `base`.
func parsePipeline(_ yaml: String, base: String = "/nonexistent-base",
                   options: PipelineLoader.Options = .init()) throws(PipelineError) -> Pipeline {
    try PipelineLoader.parse(yaml: yaml, path: "pipeline.yaml", baseDirectory: base, options: options)
}

/// The error parsing `yaml` gives, or nil (recorded as a failure) when it parses.
func parseError(_ yaml: String, base: String = "/nonexistent-base", options: PipelineLoader.Options = .init(),
                sourceLocation: SourceLocation = #_sourceLocation) -> PipelineError? {
    do {
        let pipeline = try parsePipeline(yaml, base: base, options: options)
        Issue.record("expected an error, parsed \(pipeline)", sourceLocation: sourceLocation)
        return nil
    } catch {
        return error
    }
}

/// Expects parsing to fail at `line` on `key`, with a message containing each of `fragments`,
/// and a description of the form `pipeline.yaml:LINE:COL: KEY: MESSAGE`.
func expectError(_ yaml: String, line: Int, key: String, _ fragments: String...,
                 base: String = "/nonexistent-base", options: PipelineLoader.Options = .init(),
                 sourceLocation: SourceLocation = #_sourceLocation) {
    guard let error = parseError(yaml, base: base, options: options, sourceLocation: sourceLocation) else { return }
    #expect(error.path == "pipeline.yaml", sourceLocation: sourceLocation)
    #expect(error.line == line, "\(error)", sourceLocation: sourceLocation)
    #expect(error.column >= 1, "\(error)", sourceLocation: sourceLocation)
    #expect(error.key == key, "\(error)", sourceLocation: sourceLocation)
    let keyPart = key.isEmpty ? "" : "\(key): "
    #expect(error.description.hasPrefix("pipeline.yaml:\(line):\(error.column): \(keyPart)"), "\(error)",
            sourceLocation: sourceLocation)
    for fragment in fragments {
        #expect(error.message.contains(fragment), "\(error)", sourceLocation: sourceLocation)
    }
}

/// A job as the parser builds it from `command`, with the defaults filled in.
func job(_ id: String, _ command: [String], dependsOn: [String] = [], affinity: Affinity = .none,
         configure: (inout JobSpec) -> Void = { _ in }) -> DagJobSpec {
    var spec = JobSpec(command: command, name: id)
    configure(&spec)
    return DagJobSpec(id: id, spec: spec, dependsOn: dependsOn, affinity: affinity)
}

/// A fresh directory under the system's temporary directory, removed after `body`.
func withTemporaryDirectory<T>(_ body: (TemporaryDirectory) throws -> T) throws -> T {
    let base = NSTemporaryDirectory().hasSuffix("/") ? String(NSTemporaryDirectory().dropLast()) : NSTemporaryDirectory()
    let directory = TemporaryDirectory(path: "\(base)/titan-pipeline-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(atPath: directory.path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory.path) }
    return try body(directory)
}

struct TemporaryDirectory {
    let path: String

    /// Writes `contents` to `name` (a relative path; directories are created); returns its
    /// absolute path.
    @discardableResult
    func write(_ name: String, _ contents: String = "#!/bin/sh\n", executable: Bool = false) throws -> String {
        try write(name, data: Data(contents.utf8), executable: executable)
    }

    @discardableResult
    func write(_ name: String, data: Data, executable: Bool = false) throws -> String {
        let file = "\(path)/\(name)"
        let directory = (file as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try data.write(to: URL(fileURLWithPath: file))
        if executable {
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: file)
        }
        return file
    }

    func makeDirectory(_ name: String) throws {
        try FileManager.default.createDirectory(atPath: "\(path)/\(name)", withIntermediateDirectories: true)
    }
}

/// The error loading the file at `path` gives, or nil (recorded as a failure) when it loads.
func loadError(_ path: String, sourceLocation: SourceLocation = #_sourceLocation) -> PipelineError? {
    do {
        let pipeline = try PipelineLoader.load(path: path)
        Issue.record("expected an error, loaded \(pipeline)", sourceLocation: sourceLocation)
        return nil
    } catch {
        return error
    }
}
