import Foundation
import Synchronization

/// Something that is not a Titan master listening on 127.0.0.1 (port 0), for deadline tests:
/// `silent` accepts and never answers, `garbage` accepts and answers bytes that are not Titan
/// frames, `full` never accepts and its backlog is full, so a connect gets no answer at all.
final class FakePeer: Sendable {
    enum Kind: Sendable { case silent, garbage, full }

    let port: Int
    private let listener: Int32
    private let stop = Atomic<Bool>(false)
    private let held = Mutex<[Int32]>([])
    private let done = Atomic<Bool>(false)

    init(_ kind: Kind) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0, listen(fd, kind == .full ? 0 : 64) == 0 else {
            Glibc.close(fd)
            throw POSIXError(.init(rawValue: errno) ?? .EIO)
        }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        if kind == .full {
            // Fill the accept queue (a backlog of 0 holds one): later SYNs are dropped, unanswered.
            for _ in 0..<3 {
                let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
                _ = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(client, $0, length) }
                }
                held.withLock { $0.append(client) }
            }
            done.store(true, ordering: .relaxed)
            return
        }
        let thread = Thread { [self] in accepting(kind) }
        thread.start()
    }

    private func accepting(_ kind: Kind) {
        defer { done.store(true, ordering: .relaxed) }
        while !stop.load(ordering: .relaxed) {
            var poller = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 50) > 0 else { continue }
            let connection = accept(listener, nil, nil)
            guard connection >= 0 else { continue }
            held.withLock { $0.append(connection) }
            if kind == .garbage {
                let reply = Array("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n".utf8)
                _ = reply.withUnsafeBytes { send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            }
        }
    }

    /// `127.0.0.1:PORT`.
    var address: String { "127.0.0.1:\(port)" }

    /// Stops accepting and closes every socket.
    func close() {
        stop.store(true, ordering: .relaxed)
        while !done.load(ordering: .relaxed) { usleep(10_000) }
        for fd in held.withLock({ $0 }) { Glibc.close(fd) }
        Glibc.close(listener)
    }
}
