import Foundation
import Testing
import TitanTestSupport
@testable import TitanTLS

/// Two sessions joined by memory: what one writes the other reads, cut into pieces by `split`.
struct Link {
    let client: TLSSession
    let server: TLSSession
    var toServer: [UInt8] = []
    var toClient: [UInt8] = []
    var clientGot: [UInt8] = []
    var serverGot: [UInt8] = []
    var clientError: TLSError?
    var serverError: TLSError?
    var split: (Int) -> [Int]

    init(client: TLSContext, server: TLSContext, serverName: String? = "127.0.0.1",
         split: @escaping (Int) -> [Int] = { [$0] }) throws {
        self.client = try TLSSession(context: client, role: .client(serverName: serverName))
        self.server = try TLSSession(context: server, role: .server)
        self.split = split
        try self.client.start(into: &toServer)
    }

    /// Moves bytes both ways until neither side has anything to say or one has failed.
    mutating func run() {
        var rounds = 0
        while (!toServer.isEmpty || !toClient.isEmpty) && rounds < 100 {
            rounds += 1
            let forServer = toServer
            toServer = []
            deliver(forServer, to: server, plaintext: &serverGot, reply: &toClient, error: &serverError)
            let forClient = toClient
            toClient = []
            deliver(forClient, to: client, plaintext: &clientGot, reply: &toServer, error: &clientError)
        }
    }

    private func deliver(_ bytes: [UInt8], to session: TLSSession, plaintext: inout [UInt8], reply: inout [UInt8],
                         error: inout TLSError?) {
        guard error == nil, !bytes.isEmpty else { return }
        var offset = 0
        for length in split(bytes.count) where length > 0 {
            let piece = Array(bytes[offset..<offset + length])
            offset += length
            do throws(TLSError) {
                try session.receive(piece, plaintext: &plaintext, out: &reply)
            } catch let failure {
                error = failure
                return
            }
        }
    }

    mutating func clientSends(_ text: String) throws {
        try client.send(Array(text.utf8), into: &toServer)
    }

    mutating func serverSends(_ text: String) throws {
        try server.send(Array(text.utf8), into: &toClient)
    }
}

/// Lengths that add up to `total`: one byte at a time.
func byteByByte(_ total: Int) -> [Int] { Array(repeating: 1, count: total) }

/// Lengths that add up to `total`, cut at random points.
func randomCuts(seed: UInt64) -> (Int) -> [Int] {
    let box = RandomBox(seed: seed)
    return { total in
        var left = total
        var cuts: [Int] = []
        while left > 0 {
            let n = min(left, Int.random(in: 1...max(1, min(left, 700)), using: &box.rng))
            cuts.append(n)
            left -= n
        }
        return cuts
    }
}

final class RandomBox: @unchecked Sendable {
    var rng: SplitMix64
    init(seed: UInt64) { rng = SplitMix64(seed: seed) }
}

@Suite struct TLSSessionTests {
    @Test(arguments: ["whole", "byte by byte", "random cuts"])
    func handshakeAndDataBothWaysHowEverTheBytesArrive(_ mode: String) throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        try pki.issue("master")
        let split: (Int) -> [Int] = switch mode {
        case "whole": { [$0] }
        case "byte by byte": byteByByte
        default: randomCuts(seed: 0x7174_6c73)
        }
        var link = try Link(client: try pki.client(), server: try pki.server(), split: split)
        // Sent before the handshake: held, then delivered after it.
        try link.clientSends("hello before the handshake")
        link.run()
        #expect(link.clientError == nil && link.serverError == nil, "\(String(describing: link.clientError)) \(String(describing: link.serverError))")
        #expect(link.client.handshakeComplete && link.server.handshakeComplete)
        #expect(String(decoding: link.serverGot, as: UTF8.self) == "hello before the handshake")
        let big = String(repeating: "0123456789abcdef", count: 10_000)  // spans many records
        try link.serverSends(big)
        try link.clientSends("after")
        link.run()
        #expect(String(decoding: link.clientGot, as: UTF8.self) == big)
        #expect(String(decoding: link.serverGot, as: UTF8.self) == "hello before the handshakeafter")
        #expect(link.client.peer == TLSPeer(commonName: "master", verified: true))
        #expect(link.server.peer == TLSPeer(commonName: nil, verified: false))
        #expect(link.client.version == "TLSv1.3")
        // A clean goodbye: the peer sees close_notify.
        link.client.shutdown(into: &link.toServer)
        link.run()
        #expect(link.server.peerClosed)
    }

    @Test func aDNSNameIsCheckedAndAMismatchNamesWhatTheCertificateIsFor() throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        try pki.issue("master", hosts: ["10.1.2.3", "master.test"])
        var good = try Link(client: try pki.client(), server: try pki.server(), serverName: "master.test")
        good.run()
        #expect(good.client.handshakeComplete && good.clientError == nil)
        for wrong in ["other.test", "127.0.0.1"] {
            var link = try Link(client: try pki.client(), server: try pki.server(), serverName: wrong)
            link.run()
            guard case .peerCertificateRejected(let reason, let names) = link.clientError else {
                Issue.record("\(wrong): \(String(describing: link.clientError))")
                continue
            }
            #expect(reason.contains("mismatch"), "\(reason)")
            // What the certificate is for, so the fix is obvious.
            #expect(names?.contains("10.1.2.3") == true && names?.contains("master.test") == true, "\(String(describing: names))")
            #expect(link.clientError!.description.contains("--tls-server-name"))
            // The server hears why from the client's alert.
            guard case .rejectedByPeer = link.serverError else {
                Issue.record("server: \(String(describing: link.serverError))")
                continue
            }
        }
    }

    @Test func aCertificateFromAnotherCAIsRefusedOnBothSides() throws {
        let pki = try TestPKI()
        let other = try TestPKI(name: "Another CA")
        defer { pki.remove(); other.remove() }
        try other.issue("master")
        var link = try Link(client: try pki.client(), server: try other.server())
        link.run()
        guard case .peerCertificateRejected(let reason, _) = link.clientError else {
            Issue.record("client: \(String(describing: link.clientError))")
            return
        }
        #expect(reason.contains("issuer"), "\(reason)")
        #expect(link.clientError!.description.contains("not signed by a CA this end trusts"))
        #expect(link.serverError == .rejectedByPeer(alert: "unknown CA"), "\(String(describing: link.serverError))")
        #expect(link.serverError!.description.contains("does not trust the CA"))
    }

    @Test func anExpiredCertificateIsRefusedOnBothSidesAndNotLoadedByOurOwnNodes() throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        try pki.issue("master", notBefore: .now - 86_400 * 3, notAfter: .now - 86_400)
        // Our own nodes refuse to start with it, naming the file and the date.
        #expect(throws: TLSError.self) { try pki.server() }
        do {
            _ = try pki.server()
        } catch {
            #expect("\(error)".contains("master.pem expired on"), "\(error)")
        }
        // A peer that has one anyway: the client says it expired; the server hears the alert.
        var link = try Link(client: try pki.client(), server: try pki.server(checkDates: false))
        link.run()
        guard case .peerCertificateRejected(let reason, _) = link.clientError else {
            Issue.record("client: \(String(describing: link.clientError))")
            return
        }
        #expect(reason.contains("expired"), "\(reason)")
        #expect(link.serverError == .rejectedByPeer(alert: "certificate expired"), "\(String(describing: link.serverError))")
    }

    @Test func mutualTLSChecksTheClientsCertificate() throws {
        let pki = try TestPKI()
        let other = try TestPKI(name: "Another CA")
        defer { pki.remove(); other.remove() }
        try pki.issue("master")
        try pki.issue("worker")
        try pki.issue("old", notBefore: .now - 86_400 * 3, notAfter: .now - 86_400)
        try other.issue("stranger")
        // A good certificate: the server knows who it is.
        var good = try Link(client: try pki.client("worker"), server: try pki.server(clientCA: true))
        try good.clientSends("register")
        good.run()
        #expect(good.serverError == nil && good.clientError == nil)
        #expect(good.server.peer == TLSPeer(commonName: "worker", verified: true))
        #expect(String(decoding: good.serverGot, as: UTF8.self) == "register")
        // None: the handshake completes, unverified (the master then refuses a worker registration).
        var none = try Link(client: try pki.client(), server: try pki.server(clientCA: true))
        none.run()
        #expect(none.server.peer == TLSPeer(commonName: nil, verified: false))
        // Another CA's, or an expired one: the server refuses it and says why; the client hears
        // the alert (with TLS 1.3, after its side of the handshake, on its next read).
        for (name, pkiOf, reasonPart, alert) in [("stranger", other, "issuer", "unknown CA"),
                                                 ("old", pki, "expired", "certificate expired")] {
            let client = try TLSContext.client(caFile: pki.caFile, certificateFile: pkiOf.directory + "/\(name).pem",
                                               privateKeyFile: pkiOf.directory + "/\(name).key", checkDates: false)
            var link = try Link(client: client, server: try pki.server(clientCA: true))
            try link.clientSends("register")
            link.run()
            guard case .peerCertificateRejected(let reason, _) = link.serverError else {
                Issue.record("\(name): server: \(String(describing: link.serverError))")
                continue
            }
            #expect(reason.contains(reasonPart), "\(reason)")
            #expect(link.clientError == .rejectedByPeer(alert: alert), "\(name): \(String(describing: link.clientError))")
            #expect(link.serverGot.isEmpty)
        }
    }

    @Test func plaintextWhereTLSIsExpectedIsNamedNotMisread() throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        try pki.issue("master")
        // A Titan frame to a TLS server.
        let server = try TLSSession(context: try pki.server(), role: .server)
        var plain: [UInt8] = []
        var out: [UInt8] = []
        let frame: [UInt8] = [2, 0x10, 0, 0, 0, 0, 0, 4, 0, 0, 0, 1]
        #expect(throws: TLSError.peerNotTLS(firstBytes: Array(frame.prefix(8)))) {
            try server.receive(frame, plaintext: &plain, out: &out)
        }
        #expect(TLSError.peerNotTLS(firstBytes: frame).description.contains("plaintext Titan frame"))
        // A plaintext answer to a TLS client's hello.
        let client = try TLSSession(context: try pki.client(), role: .client(serverName: "127.0.0.1"))
        try client.start(into: &out)
        let reply: [UInt8] = Array("HTTP/1.1 400 Bad Request\r\n".utf8)
        do throws(TLSError) {
            try client.receive(reply, plaintext: &plain, out: &out)
            Issue.record("plaintext accepted")
        } catch {
            #expect(error.description.contains("plaintext HTTP"), "\(error)")
        }
    }

    @Test func garbageAfterTheHandshakeIsAnErrorNeverACrash() throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        try pki.issue("master")
        var rng = SplitMix64(seed: 0x6761_7262)
        for round in 0..<200 {
            var link = try Link(client: try pki.client(), server: try pki.server())
            link.run()
            #expect(link.server.handshakeComplete)
            // A record header claiming application data, then noise; or pure noise.
            var noise: [UInt8] = round % 2 == 0 ? [23, 3, 3, UInt8.random(in: 0...0x40, using: &rng), UInt8.random(in: 0...255, using: &rng)] : []
            noise += (0..<Int.random(in: 1...600, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            var plain: [UInt8] = []
            var out: [UInt8] = []
            do throws(TLSError) {
                try link.server.receive(noise, plaintext: &plain, out: &out)
            } catch {
                #expect(!error.description.isEmpty)
            }
            #expect(plain.isEmpty, "noise decrypted to \(plain.count) bytes")
        }
    }

    @Test func badFilesAreNamedAtLoad() throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let (cert, key) = try pki.issue("master")
        let (_, otherKey) = try pki.issue("other")
        let garbage = pki.directory + "/garbage.pem"
        try "not a certificate\n".write(toFile: garbage, atomically: true, encoding: .utf8)
        func message(_ body: () throws -> TLSContext) -> String {
            do {
                _ = try body()
                return ""
            } catch {
                return "\(error)"
            }
        }
        #expect(message { try TLSContext.server(certificateFile: pki.directory + "/missing.pem", privateKeyFile: key) }
            .contains("missing.pem: No such file or directory"))
        #expect(message { try TLSContext.server(certificateFile: garbage, privateKeyFile: key) }.contains("garbage.pem"))
        #expect(message { try TLSContext.server(certificateFile: cert, privateKeyFile: garbage) }.contains("garbage.pem"))
        #expect(message { try TLSContext.server(certificateFile: cert, privateKeyFile: otherKey) }
            .contains("does not belong to the certificate"))
        #expect(message { try TLSContext.client(caFile: garbage) }.contains("CA certificate \(garbage)"))
        #expect(message { try TLSContext.client(caFile: pki.caFile, certificateFile: cert) }.contains("--tls-key"))
    }
}
