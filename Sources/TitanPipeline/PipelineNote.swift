/// A key that was read but has no effect here (one the original Titan's schema accepts without
/// a meaning in this one), and where: printed by `titan submit` like a compiler note,
/// `pipeline.yaml:7:5: jobs[1].port: ignored: ...`. A note never stops a pipeline.
public struct PipelineNote: Sendable, Equatable, CustomStringConvertible {
    /// The file, as the caller named it.
    public var path: String
    /// 1-based.
    public var line: Int
    /// 1-based, counted in Unicode scalars.
    public var column: Int
    /// Where in the document, e.g. `jobs[2].port`.
    public var key: String
    public var message: String

    public init(path: String, line: Int, column: Int, key: String, message: String) {
        self.path = path
        self.line = line
        self.column = column
        self.key = key
        self.message = message
    }

    public var description: String { "\(path):\(line):\(column): \(key): \(message)" }
}
