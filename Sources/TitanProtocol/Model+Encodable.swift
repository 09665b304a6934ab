// JSON forms of the model (for `--json` output and HTTP APIs): states and streams as their names.
// The structs declare Encodable where they are defined (synthesis needs that).

extension JobState: Encodable {
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

extension OutputChannel: Encodable {
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(self == .stdout ? "stdout" : "stderr")
    }
}

extension ArtifactKind: Encodable {
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(self == .file ? "file" : "archive")
    }
}
