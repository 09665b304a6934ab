/// Whether a service started as a step of a DAG is ready for the jobs below it: every copy
/// healthy. It has failed as soon as one copy can no longer get there by itself.
public enum ServiceReadiness: Equatable, Sendable {
    case waiting
    case ready
    /// Why, naming the copy: e.g. `service 'db#1' is CRASH_LOOP (last exit: exit 3)`.
    case failed(String)

    /// States in which a copy will not become healthy without someone acting.
    public static let terminalStates: Set<String> = ["CRASH_LOOP", "EXITED", "STOPPING", "STOPPED"]

    /// `copies`: each copy's instance name, state and last exit, in order.
    public static func of(_ copies: [(instance: String, state: String, lastExit: String)]) -> ServiceReadiness {
        if let broken = copies.first(where: { terminalStates.contains($0.state) }) {
            let exit = broken.lastExit.isEmpty ? "" : " (last exit: \(broken.lastExit))"
            return .failed("service '\(broken.instance)' is \(broken.state)\(exit)")
        }
        return !copies.isEmpty && copies.allSatisfy({ $0.state == "HEALTHY" }) ? .ready : .waiting
    }
}
