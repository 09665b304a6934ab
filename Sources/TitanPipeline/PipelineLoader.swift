import Foundation
import TitanProtocol
import Yams

/// Reads pipeline files (YAML) into `Pipeline`s. Every problem, from an unreadable file through
/// YAML syntax to a dependency cycle, is a `PipelineError` naming the file, line and key.
public enum PipelineLoader {
    /// What a pipeline may do beyond the safe defaults; the user opts in explicitly.
    public struct Options: Sendable, Equatable {
        /// Lets a `file:` script lie outside the pipeline file's folder (`file: ../x`, an
        /// absolute path elsewhere, or a symlink inside the folder pointing out of it): it is
        /// uploaded with the pipeline. Off by default, so a pipeline someone else wrote cannot
        /// ship files from elsewhere on this machine (`titan submit --allow-outside-files`).
        public var allowOutsideFiles: Bool

        public init(allowOutsideFiles: Bool = false) {
            self.allowOutsideFiles = allowOutsideFiles
        }
    }

    /// Reads and parses the file at `path`; scripts and working directories are resolved against
    /// the file's directory. `sourcePath` is the file's absolute path.
    public static func load(path: String, options: Options = Options()) throws(PipelineError) -> Pipeline {
        let absolute = PathResolution.absolute(path, relativeTo: PathResolution.currentDirectory())
        switch PathResolution.kind(of: absolute) {
        case .missing:
            throw PipelineError(path: path, message: "no such file")
        case .directory:
            throw PipelineError(path: path, message: "is a directory, not a pipeline file")
        case .regular, .other:
            break
        }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: absolute))
        } catch {
            let reason = FileManager.default.isReadableFile(atPath: absolute) ? "\(error)" : "permission denied"
            throw PipelineError(path: path, message: "cannot read the file: \(reason)")
        }
        let text = try decodeUTF8(data, path: path)
        var pipeline = try parse(yaml: text, path: path, baseDirectory: PathResolution.directory(of: absolute),
                                 options: options)
        pipeline.sourcePath = absolute
        return pipeline
    }

    /// Parses pipeline YAML. `path` names the source in errors (and becomes `sourcePath`);
    /// relative `file` and `working_dir` values are resolved against `baseDirectory` (itself
    /// resolved against the current directory when relative).
    public static func parse(yaml: String, path: String, baseDirectory: String,
                             options: Options = Options()) throws(PipelineError) -> Pipeline {
        var text = yaml
        if text.unicodeScalars.first == "\u{FEFF}" { text.unicodeScalars.removeFirst() }
        let root: Node?
        do {
            root = try compose(yaml: text, .default, .default, .utf8)
        } catch {
            throw YAMLErrorConversion.convert(error, path: path, yaml: text)
        }
        guard let root else {
            throw PipelineError(path: path, line: 1, column: 1,
                                message: "the pipeline is empty; expected a mapping with 'name' and 'jobs'")
        }
        let base = PathResolution.absolute(baseDirectory, relativeTo: PathResolution.currentDirectory())
        let schema = PipelineSchema(reader: NodeReader(file: path), baseDirectory: base, options: options)
        return try schema.pipeline(from: root, sourcePath: path)
    }

    /// The file's text, or an error at the first byte that is not UTF-8.
    static func decodeUTF8(_ data: Data, path: String) throws(PipelineError) -> String {
        let bytes = [UInt8](data)
        var decoder = UTF8()
        var iterator = bytes.makeIterator()
        var offset = 0, line = 1, column = 1
        var scalars = String.UnicodeScalarView()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar):
                scalars.append(scalar)
                offset += UTF8.width(scalar)
                if scalar == "\n" {
                    line += 1
                    column = 1
                } else {
                    column += 1
                }
            case .emptyInput:
                return String(scalars)
            case .error:
                throw PipelineError(path: path, line: line, column: column,
                                    message: "the file is not valid UTF-8 (byte offset \(offset))")
            }
        }
    }
}
