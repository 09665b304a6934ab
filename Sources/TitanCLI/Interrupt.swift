import Dispatch
import Foundation

/// Interrupt handling for commands that follow something: the first Ctrl-C (SIGINT) or SIGTERM
/// (what a CI runner or a supervisor sends) runs `action` (cancel the job or DAG) instead of
/// killing the client, so the command can report how it ended.
enum Interrupt {
    /// One handler for SIGINT and SIGTERM; cancel the returned value to stop handling them.
    static func onInterrupt(_ action: @escaping @Sendable () async -> Void) -> Handler {
        Handler(sources: [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { Task { await action() } }
            source.resume()
            return source
        })
    }

    /// The signal sources installed by ``onInterrupt(_:)``.
    struct Handler {
        let sources: [any DispatchSourceSignal]

        func cancel() {
            for source in sources { source.cancel() }
        }
    }
}
