extension AppendLog {
    /// `append(_:completion:)` for async callers.
    public func append(_ payload: [UInt8]) async throws(StoreError) {
        try await withCheckedContinuation { continuation in
            append(payload) { continuation.resume(returning: $0) }
        }.get()
    }

    /// `sync(completion:)` for async callers.
    public func sync() async throws(StoreError) {
        try await withCheckedContinuation { continuation in
            sync { continuation.resume(returning: $0) }
        }.get()
    }

    /// `close(completion:)` for async callers.
    public func close() async throws(StoreError) {
        try await withCheckedContinuation { continuation in
            close { continuation.resume(returning: $0) }
        }.get()
    }

    /// `rewrite(snapshot:completion:)` for async callers.
    public func rewrite(snapshot: [[UInt8]]) async throws(StoreError) {
        try await withCheckedContinuation { continuation in
            rewrite(snapshot: snapshot) { continuation.resume(returning: $0) }
        }.get()
    }
}
