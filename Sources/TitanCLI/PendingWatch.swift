import Foundation
import Synchronization
import TitanClient
import TitanProtocol

/// While a followed job waits to be placed, says why on stderr (the pending reason `titan status`
/// shows: no worker with a capability, all workers full, waiting for a delay or a retry), again
/// whenever that changes, and once when it starts after having waited. Asks the master only
/// while the job is pending, once a second.
final class PendingWatch: Sendable {
    private struct State {
        var state: JobState = .pending
        var said = ""
    }

    private let state = Mutex(State())
    private let jobId: String

    init(jobId: String) {
        self.jobId = jobId
    }

    /// What the follow stream said: the job's state changed.
    func saw(_ event: JobEvent) {
        let started = state.withLock { s -> Bool in
            s.state = event.state
            guard event.state == .running, !s.said.isEmpty else { return false }
            s.said = ""
            return true
        }
        if started { say("job \(jobId) started\(event.workerId.isEmpty ? "" : " on \(event.workerId)")") }
    }

    /// Polls the job's status while it is pending, until the task is cancelled.
    func run(_ client: TitanClient, intervalMs: Int = 1_000) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(intervalMs))
            guard !Task.isCancelled, state.withLock({ $0.state == .pending }) else { continue }
            guard let info = try? await client.status(jobId), info.state == .pending, !info.pendingReason.isEmpty else { continue }
            let news = state.withLock { s -> Bool in
                // A delay's countdown changes every second: only a different kind of reason is news.
                guard s.state == .pending, Self.kind(info.pendingReason) != Self.kind(s.said) else { return false }
                s.said = info.pendingReason
                return true
            }
            if news { say("job \(jobId) pending: \(info.pendingReason)") }
        }
    }

    private static func kind(_ reason: String) -> String {
        String(reason.unicodeScalars.filter { !CharacterSet.decimalDigits.contains($0) && $0 != "." })
    }

    private func say(_ text: String) {
        FileHandle.standardError.write(Data("titan: \(text)\n".utf8))
    }
}
