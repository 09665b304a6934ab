import Dispatch
import Foundation

/// Ctrl-C handling for commands that follow something: the first Ctrl-C runs `action` (cancel
/// the job or DAG) instead of killing the client, so the command can report how it ended.
enum Interrupt {
    static func onCtrlC(_ action: @escaping @Sendable () async -> Void) -> any DispatchSourceSignal {
        signal(SIGINT, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        source.setEventHandler { Task { await action() } }
        source.resume()
        return source
    }
}
