import CLibUV

/// A libuv error code with its name and message, e.g. `EADDRINUSE (address already in use)`.
public struct UVError: Error, Sendable, Equatable, CustomStringConvertible {
    public let code: Int32

    public init(_ code: Int32) {
        self.code = code
    }

    public var name: String { String(cString: uv_err_name(code)) }
    public var message: String { String(cString: uv_strerror(code)) }
    public var description: String { "\(name) (\(message))" }

    /// End of stream.
    public static let eof = UVError(Int32(UV_EOF.rawValue))
    /// A deadline passed (a connect abandoned after its `timeoutMs`).
    public static let timedOut = UVError(Int32(UV_ETIMEDOUT.rawValue))
}

/// An error from the loop bridge, naming the operation that failed.
public struct LoopError: Error, Sendable, CustomStringConvertible {
    public let operation: String
    public let cause: UVError

    public init(_ operation: String, _ code: Int32) {
        self.operation = operation
        self.cause = UVError(code)
    }

    public var description: String { "\(operation): \(cause)" }
}
