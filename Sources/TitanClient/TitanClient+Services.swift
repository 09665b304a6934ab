import TitanProtocol

/// Services: long-running processes the cluster keeps alive.
extension TitanClient {
    /// Deploys (or replaces) a service; returns it as placed.
    /// Deploys (or redeploys) a service; returns its copies (one unless `spec.replicas` says more).
    @discardableResult
    public func deployService(_ spec: ServiceSpec) async throws -> [ServiceInfo] {
        let reply = try await request(.deployService(spec))
        guard case .serviceInfos(let infos) = reply, !infos.isEmpty else {
            throw TitanClientError.unexpectedReply(expected: "serviceInfos", got: reply.name)
        }
        return infos
    }

    public func services() async throws -> [ServiceInfo] {
        let reply = try await request(.listServices)
        guard case .serviceInfos(let infos) = reply else {
            throw TitanClientError.unexpectedReply(expected: "serviceInfos", got: reply.name)
        }
        return infos
    }

    /// The service copy named `name` (`NAME` is the first copy, `NAME#i` the others).
    public func service(_ name: String) async throws -> ServiceInfo {
        guard let info = try await services().first(where: { $0.instance == name }) else {
            throw TitanClientError.server(.notFound, "no service '\(name)'")
        }
        return info
    }

    /// Stops a service for good: SIGTERM to its process group, SIGKILL after a grace period.
    public func stopService(_ name: String) async throws {
        _ = try await request(.stopService(name: name))
    }

    /// Restarts a service now (a new run, its crash-loop state cleared).
    public func restartService(_ name: String) async throws {
        _ = try await request(.restartService(name: name))
    }
}
