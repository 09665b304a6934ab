import Foundation
import TitanAuth
import TitanProtocol

/// A blocking TCP client for feeding a master exact bytes, garbage included. Reads time out
/// (SO_RCVTIMEO) so a test fails instead of hanging.
final class RawSocket {
    let fd: Int32
    private var decoder = FrameDecoder()

    init(port: Int, timeoutSeconds: Int = 5) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Foundation.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else { throw POSIXError(.ECONNREFUSED) }
    }

    deinit { Foundation.close(fd) }

    func send(_ bytes: [UInt8]) {
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { Foundation.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            off += n
        }
    }

    /// Closes with SO_LINGER 0: the peer gets a reset, not a FIN.
    func reset() {
        var linger = Foundation.linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Foundation.linger>.size))
        shutdown(fd, Int32(SHUT_RDWR))
    }

    /// Reads one frame; nil on EOF or timeout.
    func readFrame() -> Frame? {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            if let frame = try? decoder.next() { return frame }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return nil }
            decoder.append(contentsOf: buffer[0..<n])
        }
    }

    /// Proves `token` (by default the local credential, as clients find it) with the native
    /// handshake; returns the role granted. Request ids 0xFFFF_0001 and 0xFFFF_0002.
    @discardableResult
    func authenticate(_ token: AuthToken? = nil) throws -> Role {
        guard let token = try token ?? TokenSource.find() else { throw AuthError.refused("no local credential") }
        let nonce = AuthExchange.nonce()
        send(NativeCodec.encode(Envelope(requestId: 0xFFFF_0001, message: .authHello(tokenId: token.id, nonce: nonce))))
        guard case .authChallenge(let serverNonce) = try readEnvelope()?.message else { throw AuthError.refused("no challenge") }
        let proof = AuthExchange.clientProof(token: token, clientNonce: nonce, serverNonce: serverNonce)
        send(NativeCodec.encode(Envelope(requestId: 0xFFFF_0002, message: .authProof(proof))))
        switch try readEnvelope()?.message {
        case .authOk(let role, _): return Role(rawValue: role) ?? .read
        case .error(_, let text): throw AuthError.refused(text)
        default: throw AuthError.refused("no authOk")
        }
    }

    /// Reads one native envelope.
    func readEnvelope() throws -> Envelope? {
        guard let frame = readFrame() else { return nil }
        return try NativeCodec.decode(frame)
    }

    /// True when the peer closed the connection (EOF) within the timeout.
    func sawEOF() -> Bool {
        Self.sawEOF(fd)
    }

    /// ``sawEOF()`` waited for on a thread of its own: a blocking wait on the test's cooperative
    /// pool (as many threads as cores) starves every other test running meanwhile.
    func eof() async -> Bool {
        let fd = fd
        return await withCheckedContinuation { done in
            DispatchQueue.global().async { done.resume(returning: Self.sawEOF(fd)) }
        }
    }

    private static func sawEOF(_ fd: Int32) -> Bool {
        var byte: UInt8 = 0
        while true {
            let n = recv(fd, &byte, 1, 0)
            if n == 0 { return true }
            if n < 0 { return errno == ECONNRESET }
        }
    }
}
