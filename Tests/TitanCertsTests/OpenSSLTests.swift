import Foundation
import Testing
import TitanCerts
import X509

/// OpenSSL (what the TLS links use) agrees with what we make: the chain verifies for TLS server
/// and client use, the names match, the keys are read and belong to their certificates.
@Suite(.enabled(if: Programs.opensslPath != nil, opensslMissing))
struct OpenSSLTests {
    /// A CA and a node certificate written to a new directory as ca.pem/ca.key, node.pem/node.key.
    static func writeCluster(hosts: [String] = ["10.1.2.3", "node.example.internal", "::1"],
                             notBefore: Date = .now - 300, notAfter: Date = inAYear - 60) throws -> (String, CertificateAuthority) {
        let directory = try makeTemporaryDirectory()
        let ca = try CertificateAuthority.create(notBefore: .now - 10 * 86_400, notAfter: inAYear)
        try ca.write(certificatePath: directory + "/ca.pem", keyPath: directory + "/ca.key")
        try ca.issue(commonName: "node", hosts: hosts, notBefore: notBefore, notAfter: notAfter)
            .write(certificatePath: directory + "/node.pem", keyPath: directory + "/node.key")
        return (directory, ca)
    }

    @Test func opensslVerifiesTheChainForServerAndClientUse() async throws {
        let (directory, _) = try Self.writeCluster()
        defer { removeDirectory(directory) }
        for purpose in [[], ["-purpose", "sslserver"], ["-purpose", "sslclient"]] {
            let verify = try await Programs.openssl(["verify", "-x509_strict"] + purpose + ["-CAfile", "ca.pem", "node.pem"], in: directory)
            #expect(verify.status == 0, "\(purpose): \(verify.stdout) \(verify.stderr)")
            #expect(verify.stdout == "node.pem: OK\n", "\(purpose)")
        }
        // The CA is what OpenSSL calls a CA too.
        let ca = try await Programs.openssl(["x509", "-in", "ca.pem", "-noout", "-ext", "basicConstraints,keyUsage"], in: directory)
        #expect(ca.stdout.contains("CA:TRUE, pathlen:0"), "\(ca.stdout)")
        #expect(ca.stdout.contains("Certificate Sign, CRL Sign"), "\(ca.stdout)")
    }

    @Test func opensslMatchesTheNamesInTheCertificateAndNoOthers() async throws {
        let (directory, _) = try Self.writeCluster()
        defer { removeDirectory(directory) }
        for (flag, host, matches) in [("-checkip", "10.1.2.3", true), ("-checkip", "::1", true), ("-checkip", "10.1.2.4", false),
                                      ("-checkip", "::2", false), ("-checkhost", "node.example.internal", true),
                                      ("-checkhost", "NODE.example.internal", true), ("-checkhost", "other.example.internal", false),
                                      ("-checkhost", "example.internal", false)] {
            let check = try await Programs.openssl(["x509", "-in", "node.pem", "-noout", flag, host], in: directory)
            #expect(check.status == 0, "\(check.stderr)")
            #expect(check.stdout.contains(matches ? "does match certificate" : "does NOT match certificate"),
                    "\(flag) \(host): \(check.stdout)")
        }
    }

    @Test func opensslRefusesACertificateFromAnotherCAAndAnExpiredOne() async throws {
        let (directory, _) = try Self.writeCluster()
        defer { removeDirectory(directory) }
        let other = try CertificateAuthority.create(notAfter: inAYear)
        try other.issue(commonName: "node", hosts: ["10.1.2.3"], notAfter: inAYear - 60)
            .write(certificatePath: directory + "/stranger.pem", keyPath: directory + "/stranger.key")
        let stranger = try await Programs.openssl(["verify", "-CAfile", "ca.pem", "stranger.pem"], in: directory)
        #expect(stranger.status != 0)
        #expect(!stranger.stdout.contains("OK"))
        #expect((stranger.stdout + stranger.stderr).contains("unable to get local issuer certificate"), "\(stranger.stderr)")

        let (expiredDirectory, _) = try Self.writeCluster(notBefore: .now - 5 * 86_400, notAfter: .now - 86_400)
        defer { removeDirectory(expiredDirectory) }
        let expired = try await Programs.openssl(["verify", "-CAfile", "ca.pem", "node.pem"], in: expiredDirectory)
        #expect(expired.status != 0)
        #expect((expired.stdout + expired.stderr).contains("certificate has expired"), "\(expired.stderr)")
    }

    @Test func opensslReadsTheKeysAndEachBelongsToItsCertificate() async throws {
        let (directory, _) = try Self.writeCluster()
        defer { removeDirectory(directory) }
        for name in ["ca", "node"] {
            let fromKey = try await Programs.openssl(["pkey", "-in", "\(name).key", "-pubout"], in: directory)
            let fromCertificate = try await Programs.openssl(["x509", "-in", "\(name).pem", "-noout", "-pubkey"], in: directory)
            #expect(fromKey.status == 0, "\(fromKey.stderr)")
            #expect(fromKey.stdout.hasPrefix("-----BEGIN PUBLIC KEY-----"))
            #expect(fromKey.stdout == fromCertificate.stdout, "\(name).key is not \(name).pem's key")
        }
    }

    /// A CA someone made with OpenSSL (P-384, a SEC1 key with its EC PARAMETERS block) loads, and
    /// what it issues verifies with OpenSSL.
    @Test func aCAMadeWithOpenSSLLoadsAndIssues() async throws {
        let directory = try makeTemporaryDirectory()
        defer { removeDirectory(directory) }
        let key = try await Programs.openssl(["ecparam", "-name", "secp384r1", "-genkey", "-out", "ca.key"], in: directory)
        #expect(key.status == 0, "\(key.stderr)")
        let made = try await Programs.openssl(
            ["req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=ops CA", "-days", "30", "-out", "ca.pem",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"], in: directory)
        #expect(made.status == 0, "\(made.stderr)")
        let ca = try CertificateAuthority.load(certificatePath: directory + "/ca.pem", keyPath: directory + "/ca.key")
        #expect(ca.privateKeyPEM.hasPrefix("-----BEGIN PRIVATE KEY-----"))
        let issued = try ca.issue(commonName: "w1", hosts: ["w1.ops.example"], notAfter: .now + 86_400)
        try issued.write(certificatePath: directory + "/w1.pem", keyPath: directory + "/w1.key")
        #expect(try parse(issued.certificatePEM).signatureAlgorithm == .ecdsaWithSHA384)
        let verify = try await Programs.openssl(["verify", "-x509_strict", "-purpose", "sslserver", "-CAfile", "ca.pem", "w1.pem"],
                                                in: directory)
        #expect(verify.stdout == "w1.pem: OK\n", "\(verify.stderr)")
    }
}
