import TitanProtocol

/// Human approval gates: decisions are written where both protocols and every gate look.
extension TitanClient {
    /// An open gate: its job id and what the approver is asked.
    public struct Approval: Sendable, Equatable, Encodable {
        public var jobId: String
        public var message: String

        public init(jobId: String, message: String) {
            self.jobId = jobId
            self.message = message
        }
    }

    /// Approves (or, with `approved: false`, rejects) the gate job `jobId`; its DAG goes on at once.
    public func decide(_ jobId: String, approved: Bool) async throws {
        try await kvSet("titan:hitl:status:" + jobId, Array((approved ? "APPROVED" : "REJECTED").utf8))
    }

    /// Gates waiting for a decision, oldest first by id.
    public func approvals() async throws -> [Approval] {
        var result: [Approval] = []
        for id in try await kvSmembers("titan:hitl:queue") {
            let message = try await kvGet("titan:hitl:message:" + id).map { String(decoding: $0, as: UTF8.self) } ?? ""
            result.append(Approval(jobId: id, message: message))
        }
        return result
    }
}
