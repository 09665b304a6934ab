import Crypto
import Foundation
import SwiftASN1
import Testing
import TitanCerts
import X509

typealias CertsError = TitanCerts.CertificateError

/// The error `body` throws, or nil if it returns.
func thrown<T>(_ body: () throws(CertsError) -> T) -> CertsError? {
    do {
        _ = try body()
        return nil
    } catch {
        return error
    }
}

/// What the CA and the certificates it issues hold, and swift-certificates' verifier agreeing.
@Suite struct CertificateAuthorityTests {
    @Test func aNewCAIsASelfSignedP256CAWithTheExtensionsItNeeds() throws {
        let ca = try CertificateAuthority.create(commonName: "Test CA", notAfter: inAYear)
        #expect(ca.certificatePEM.hasPrefix("-----BEGIN CERTIFICATE-----\n"))
        #expect(ca.privateKeyPEM.hasPrefix("-----BEGIN PRIVATE KEY-----\n"))
        let certificate = try parse(ca.certificatePEM)
        #expect(certificate.subject == certificate.issuer)
        #expect(certificate.subject.description == "CN=Test CA")
        #expect(certificate.publicKey.isValidSignature(certificate.signature, for: certificate))
        #expect(P256.Signing.PublicKey(certificate.publicKey) != nil)
        #expect(certificate.signatureAlgorithm == .ecdsaWithSHA256)
        #expect(try certificate.extensions.basicConstraints == .isCertificateAuthority(maxPathLength: 0))
        #expect(certificate.extensions[oid: .X509ExtensionID.basicConstraints]?.critical == true)
        let usage = try #require(try certificate.extensions.keyUsage)
        #expect(usage.keyCertSign && usage.cRLSign && !usage.digitalSignature)
        #expect(certificate.extensions[oid: .X509ExtensionID.keyUsage]?.critical == true)
        #expect(try certificate.extensions.subjectKeyIdentifier != nil)
        // The key written is the certificate's.
        let key = try P256.Signing.PrivateKey(pemRepresentation: ca.privateKeyPEM)
        #expect(Certificate.PublicKey(key.publicKey) == certificate.publicKey)
        #expect(abs(certificate.notValidAfter.timeIntervalSince(inAYear)) < 1)
    }

    @Test func aNodeCertificateNamesItsHostsAndServesBothEndsOfALink() throws {
        let ca = try CertificateAuthority.create(notAfter: inAYear)
        let issued = try ca.issue(commonName: "master", hosts: ["10.1.2.3", "Node.Example.Internal", "::1", "10.1.2.3", "[fd00::5]"],
                                  notAfter: inAYear - 86_400)
        #expect(issued.privateKeyPEM.hasPrefix("-----BEGIN PRIVATE KEY-----\n"))
        let certificate = try parse(issued.certificatePEM)
        let caCertificate = try parse(ca.certificatePEM)
        #expect(certificate.subject.description == "CN=master")
        #expect(certificate.issuer == caCertificate.subject)
        #expect(caCertificate.publicKey.isValidSignature(certificate.signature, for: certificate))

        let sans = Array(try #require(try certificate.extensions.subjectAlternativeNames))
        let ip = { (bytes: [UInt8]) in GeneralName.ipAddress(ASN1OctetString(contentBytes: bytes[...])) }
        #expect(sans == [ip([10, 1, 2, 3]), .dnsName("node.example.internal"), ip(Array(repeating: 0, count: 15) + [1]),
                         ip([0xFD, 0] + Array(repeating: 0, count: 13) + [5])])

        #expect(try certificate.extensions.basicConstraints == .notCertificateAuthority)
        let usage = try #require(try certificate.extensions.keyUsage)
        #expect(usage.digitalSignature && !usage.keyCertSign)
        let extended = try #require(try certificate.extensions.extendedKeyUsage)
        #expect(extended.contains(.serverAuth) && extended.contains(.clientAuth))
        let authorityKeyId = try #require(try certificate.extensions.authorityKeyIdentifier?.keyIdentifier)
        #expect(authorityKeyId == (try caCertificate.extensions.subjectKeyIdentifier?.keyIdentifier))
        #expect(try certificate.extensions.subjectKeyIdentifier != nil)

        // Serial: positive, exactly 20 bytes, different each time.
        #expect(certificate.serialNumber.bytes.count == 20)
        #expect(certificate.serialNumber.bytes.first.map { $0 > 0 && $0 < 0x80 } == true)
        let again = try parse(try ca.issue(commonName: "master", hosts: ["10.1.2.3"], notAfter: inAYear - 86_400).certificatePEM)
        #expect(again.serialNumber != certificate.serialNumber)

        let key = try P256.Signing.PrivateKey(pemRepresentation: issued.privateKeyPEM)
        #expect(Certificate.PublicKey(key.publicKey) == certificate.publicKey)
    }

    @Test func theVerifierAcceptsTheNodeForItsAddressesAndNamesOnly() async throws {
        let ca = try CertificateAuthority.create(notAfter: inAYear)
        let root = try parse(ca.certificatePEM)
        let node = try parse(try ca.issue(commonName: "w1", hosts: ["10.1.2.3", "w1.cluster.example", "::1"],
                                          notAfter: inAYear - 60).certificatePEM)
        for host in ["10.1.2.3", "w1.cluster.example", "W1.Cluster.Example", "::1"] {
            #expect(await verifies(node, root: root, host: host), "\(host) should be accepted")
        }
        for host in ["10.1.2.4", "w2.cluster.example", "cluster.example", "::2", "127.0.0.1"] {
            #expect(!(await verifies(node, root: root, host: host)), "\(host) is not in the SANs")
        }
        // A wildcard covers one label, no more.
        let wild = try parse(try ca.issue(commonName: "pool", hosts: ["*.pool.example"], notAfter: inAYear - 60).certificatePEM)
        #expect(await verifies(wild, root: root, host: "w7.pool.example"))
        #expect(!(await verifies(wild, root: root, host: "a.b.pool.example")))
    }

    @Test func anExpiredOrNotYetValidCertificateFails() async throws {
        let ca = try CertificateAuthority.create(notBefore: .now - 10 * 86_400, notAfter: inAYear)
        let root = try parse(ca.certificatePEM)
        let expired = try parse(try ca.issue(commonName: "old", hosts: ["10.1.2.3"], notBefore: .now - 5 * 86_400,
                                             notAfter: .now - 86_400).certificatePEM)
        #expect(!(await verifies(expired, root: root, host: "10.1.2.3")))
        let future = try parse(try ca.issue(commonName: "new", hosts: ["10.1.2.3"], notBefore: .now + 86_400,
                                            notAfter: .now + 5 * 86_400).certificatePEM)
        #expect(!(await verifies(future, root: root, host: "10.1.2.3")))
        // The same CA's current certificate passes: only the dates differ.
        let current = try parse(try ca.issue(commonName: "now", hosts: ["10.1.2.3"], notAfter: .now + 86_400).certificatePEM)
        #expect(await verifies(current, root: root, host: "10.1.2.3"))
    }

    @Test func aCertificateFromAnotherCAFails() async throws {
        let ca = try CertificateAuthority.create(notAfter: inAYear)
        // Same name, other key: only the signature tells them apart.
        let impostor = try CertificateAuthority.create(notAfter: inAYear)
        let node = try parse(try impostor.issue(commonName: "w1", hosts: ["10.1.2.3"], notAfter: inAYear - 60).certificatePEM)
        #expect(!(await verifies(node, root: try parse(ca.certificatePEM), host: "10.1.2.3")))
        #expect(await verifies(node, root: try parse(impostor.certificatePEM), host: "10.1.2.3"))
    }

    @Test func aLoadedCAIssuesCertificatesTheOriginalVerifies() async throws {
        let ca = try CertificateAuthority.create(notAfter: inAYear)
        let loaded = try CertificateAuthority(certificatePEM: ca.certificatePEM, privateKeyPEM: ca.privateKeyPEM)
        #expect(loaded.certificatePEM == ca.certificatePEM)
        #expect(loaded.privateKeyPEM == ca.privateKeyPEM)
        let node = try parse(try loaded.issue(commonName: "w1", hosts: ["w1.example"], notAfter: inAYear - 60).certificatePEM)
        #expect(await verifies(node, root: try parse(ca.certificatePEM), host: "w1.example"))
    }

    @Test func loadingRefusesAKeyThatIsNotTheCertificates() throws {
        let one = try CertificateAuthority.create(notAfter: inAYear)
        let other = try CertificateAuthority.create(notAfter: inAYear)
        #expect(thrown { () throws(CertsError) in
            try CertificateAuthority(certificatePEM: one.certificatePEM, privateKeyPEM: other.privateKeyPEM)
        } == .keyDoesNotMatchCertificate)
    }

    @Test func loadingRefusesANodeCertificateAsCA() throws {
        let ca = try CertificateAuthority.create(notAfter: inAYear)
        let node = try ca.issue(commonName: "w1", hosts: ["10.0.0.1"], notAfter: inAYear - 60)
        let error = thrown { () throws(CertsError) in
            try CertificateAuthority(certificatePEM: node.certificatePEM, privateKeyPEM: node.privateKeyPEM)
        }
        guard case .notACertificateAuthority(let reason) = error else {
            Issue.record("expected notACertificateAuthority, got \(String(describing: error))")
            return
        }
        #expect(reason.contains("CA:FALSE"))
    }

    @Test func loadingGarbageSaysWhichInputAndWhy() throws {
        let ca = try CertificateAuthority.create(notAfter: inAYear)
        let cases: [(certificate: String, key: String, which: String, says: String)] = [
            ("", ca.privateKeyPEM, "CA certificate", "no PEM block"),
            ("hello", ca.privateKeyPEM, "CA certificate", "no PEM block"),
            (ca.privateKeyPEM, ca.privateKeyPEM, "CA certificate", "no -----BEGIN CERTIFICATE-----"),
            (ca.certificatePEM + ca.certificatePEM, ca.privateKeyPEM, "CA certificate", "2 certificates"),
            ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", ca.privateKeyPEM, "CA certificate", "not a valid X.509"),
            ("-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n", ca.privateKeyPEM, "CA certificate", "not valid PEM"),
            (ca.certificatePEM, "", "CA private key", "no PEM block"),
            (ca.certificatePEM, ca.certificatePEM, "CA private key", "no -----BEGIN PRIVATE KEY-----"),
            (ca.certificatePEM, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "CA private key", "not a usable"),
            (ca.certificatePEM, "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
             "CA private key", "encrypted"),
        ]
        for c in cases {
            let error = thrown { () throws(CertsError) in try CertificateAuthority(certificatePEM: c.certificate, privateKeyPEM: c.key) }
            guard case .unreadablePEM(let which, let reason) = error else {
                Issue.record("expected unreadablePEM for \(c.says), got \(String(describing: error))")
                continue
            }
            #expect(which == c.which)
            #expect(reason.contains(c.says), "\(reason)")
        }
    }

    @Test func badHostsAreRefusedByName() throws {
        let ca = try CertificateAuthority.create(notAfter: inAYear)
        let bad = ["", "bad host", "a..b", ".a.b", "a.b.", "-a.b", "a-.b", "a_b.example", "é.example", "a/b", "10.0.0.256",
                   "1.2.3", "010.0.0.1", "*.com", "a.*.b", "**.a.b", "fe80::1%eth0", "[10.0.0.1]", "[nope]", "::g",
                   String(repeating: "a", count: 64) + ".example", String(repeating: "abcdefg.", count: 32) + "example",
                   "a\u{0}b.example", "10.0.0.1\u{0}.evil", "a\nb.example"]
        for host in bad {
            let error = thrown { () throws(CertsError) in try ca.issue(commonName: "n", hosts: ["10.0.0.1", host], notAfter: inAYear - 60) }
            guard case .badHost(let named, _) = error else {
                Issue.record("'\(host)' should be refused, got \(String(describing: error))")
                continue
            }
            #expect(named == host)
            #expect(!(error?.description.contains("\n") ?? true), "one line: \(String(describing: error))")
        }
        let good = ["a", "localhost", "a-b.example", "*.pool.example", "xn--bcher-kva.example", "10.0.0.1", "[::1]", "::ffff:10.0.0.1",
                    "2001:db8::1", String(repeating: "a", count: 63) + ".example", "1a.example", "example.1a"]
        for host in good {
            #expect(throws: Never.self, "\(host)") { _ = try ca.issue(commonName: "n", hosts: [host], notAfter: inAYear - 60) }
        }
    }

    @Test func badDatesNamesAndHostListsAreRefused() throws {
        let ca = try CertificateAuthority.create(notAfter: inAYear)
        let now = Date.now
        #expect(thrown { () throws(CertsError) in try CertificateAuthority.create(notBefore: now, notAfter: now - 1) }
                    .map { if case .notAfterBeforeNotBefore = $0 { true } else { false } } == true)
        #expect(thrown { () throws(CertsError) in try ca.issue(commonName: "n", hosts: ["a.b"], notBefore: now, notAfter: now) }
                    .map { if case .notAfterBeforeNotBefore = $0 { true } else { false } } == true)
        #expect(thrown { () throws(CertsError) in try ca.issue(commonName: "n", hosts: [], notAfter: now + 60) } == .noHosts)
        #expect(thrown { () throws(CertsError) in
            try ca.issue(commonName: "n", hosts: (0..<101).map { "h\($0).example" }, notAfter: now + 60)
        } == .tooManyHosts(count: 101, limit: 100))
        guard case .outlivesAuthority(_, let caEnd) = thrown({ () throws(CertsError) in
            try ca.issue(commonName: "n", hosts: ["a.b"], notAfter: inAYear + 86_400)
        }) else {
            Issue.record("a certificate outliving its CA should be refused")
            return
        }
        #expect(abs(caEnd.timeIntervalSince(inAYear)) < 1)
        for name in ["", String(repeating: "x", count: 65), "a\u{1B}[31mb"] {
            guard case .badCommonName = thrown({ () throws(CertsError) in try ca.issue(commonName: name, hosts: ["a.b"], notAfter: now + 60) }) else {
                Issue.record("common name '\(name)' should be refused")
                continue
            }
        }
    }

    @Test func errorsReadAsOneLineNamingTheProblem() {
        #expect(CertsError.badHost("a b", reason: "contains ' '").description == "host 'a b' contains ' '")
        #expect(CertsError.badHost("a\u{1B}b", reason: "x").description == "host 'a\\u{1b}b' x")
        #expect(CertsError.inFile(path: "/x/ca.key", error: .keyDoesNotMatchCertificate).description
                    == "/x/ca.key: the private key does not belong to the certificate (their public keys differ)")
        #expect(CertsError.io(path: "/x/ca.pem", operation: "open it", errno: ENOENT).description
                    == "/x/ca.pem: cannot open it: No such file or directory")
        #expect(CertsError.inFile(path: "p", error: .inFile(path: "q", error: .noHosts)).underlying == .noHosts)
    }
}
