import Foundation

/// How long a client waits for the master, so that a peer that is not a Titan master (or one
/// that stopped answering) ends in an error naming what did not happen instead of a hang.
///
/// The same defaults and variable hold in the Python SDK: a request waits 60 s
/// (`TITAN_REQUEST_TIMEOUT`, seconds); connecting and the handshake (TLS, authentication) wait
/// 10 s, or the request timeout if it is shorter.
public struct Timeouts: Sendable, Equatable {
    /// The TCP connection must be up within this (0: no deadline of our own).
    public var connectMs: UInt64
    /// The TLS handshake, and then authentication, must each end within this (0: none).
    public var handshakeMs: UInt64
    /// Each request must be answered within this (0: none). Following a job or a DAG is not a
    /// request: a followed stream lasts as long as what it follows.
    public var requestMs: UInt64
    /// While something is followed, the master is pinged this often; a ping unanswered within
    /// the request timeout (the keepalive interval if there is none) means the connection is
    /// dead: the streams end and say so. 0: never pinged.
    public var keepaliveMs: UInt64

    public static let defaultRequestMs: UInt64 = 60_000
    public static let defaultHandshakeMs: UInt64 = 10_000
    public static let defaultKeepaliveMs: UInt64 = 15_000
    /// The variable that sets the request timeout, in seconds.
    public static let environmentVariable = "TITAN_REQUEST_TIMEOUT"

    public init(connectMs: UInt64 = defaultHandshakeMs, handshakeMs: UInt64 = defaultHandshakeMs,
                requestMs: UInt64 = defaultRequestMs, keepaliveMs: UInt64 = defaultKeepaliveMs) {
        self.connectMs = connectMs
        self.handshakeMs = handshakeMs
        self.requestMs = requestMs
        self.keepaliveMs = keepaliveMs
    }

    /// Every request waits `requestMs`; connecting and the handshake at most that too.
    public init(requestMs: UInt64) {
        let first = min(Self.defaultHandshakeMs, requestMs)
        self.init(connectMs: first, handshakeMs: first, requestMs: requestMs)
    }

    public static let `default` = Timeouts()

    /// `seconds` as text (`--request-timeout`, `TITAN_REQUEST_TIMEOUT`): a positive number of
    /// seconds, at most a day. `source` names where it came from in the error.
    public static func parse(seconds text: String, source: String) throws(TitanClientError) -> Timeouts {
        guard let seconds = Double(text.trimmingCharacters(in: .whitespaces)), seconds.isFinite,
              seconds > 0, seconds <= 86_400 else {
            throw .invalidSetting("\(source): '\(text)' is not a number of seconds between 0 and 86400")
        }
        return Timeouts(requestMs: max(1, UInt64((seconds * 1_000).rounded())))
    }

    /// `TITAN_REQUEST_TIMEOUT` from `environment`, else the defaults.
    public static func fromEnvironment(_ environment: [String: String]) throws(TitanClientError) -> Timeouts {
        guard let text = environment[environmentVariable], !text.isEmpty else { return .default }
        return try parse(seconds: text, source: environmentVariable)
    }
}

/// Seconds as people read them: `2s`, `0.5s`, `60s`.
func secondsText(ms: UInt64) -> String {
    ms % 1_000 == 0 ? "\(ms / 1_000)s" : "\(Double(ms) / 1_000)s"
}
