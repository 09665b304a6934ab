/// What is wrong with a pipeline file, and where: formatted like a compiler diagnostic,
/// `pipeline.yaml:12:5: jobs[2].priority: expected an integer, got 'high'`.
public struct PipelineError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file, as the caller named it.
    public var path: String
    /// 1-based; 0 when unknown (the file could not be read, ...).
    public var line: Int
    /// 1-based, counted in Unicode scalars; 0 when unknown.
    public var column: Int
    /// Where in the document, e.g. `jobs[2].priority` (job indices are 0-based); empty when the
    /// problem is not about one key (YAML syntax, unreadable file).
    public var key: String
    public var message: String

    public init(path: String, line: Int = 0, column: Int = 0, key: String = "", message: String) {
        self.path = path
        self.line = line
        self.column = column
        self.key = key
        self.message = message
    }

    public var description: String {
        var text = path
        if line > 0 {
            text += ":\(line)"
            if column > 0 { text += ":\(column)" }
        }
        text += ": "
        if !key.isEmpty { text += "\(key): " }
        return text + message
    }
}
