/// Why an artifact could not be stored, fetched or put in place. The message names the artifact
/// or path and the problem.
public struct ArtifactError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// No artifact with that hash or name.
        case notFound
        /// The request itself is wrong (bad name, offset out of order, unsafe archive entry...).
        case invalid
        /// The content does not match its hash or size.
        case corrupt
        /// The disk said no.
        case io
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
