import Foundation
import Testing
import TitanCerts
import X509

/// `titan certs ca` and `titan certs issue` as a user runs them: the built binary, files in a
/// temporary directory, and one line on stderr with a non-zero status for every bad input.
@Suite struct CertsCommandTests {
    @Test func caThenIssueWritesFilesThatVerifyAndPrintsTheFlags() async throws {
        let root = try makeTemporaryDirectory()
        defer { removeDirectory(root) }
        let pki = root + "/pki", out = root + "/nodes"
        let ca = try await Programs.titan(["certs", "ca", "--dir", pki, "--name", "Ops CA", "--days", "30"])
        #expect(ca.status == 0, "\(ca.stderr)")
        #expect(ca.stderr == "")
        #expect(ca.stdout.contains("wrote \(pki)/ca.pem"))
        #expect(ca.stdout.contains("wrote \(pki)/ca.key"))
        #expect(ca.stdout.contains("next: titan certs issue NAME --host ADDRESS [--host ADDRESS ...] --dir \(pki)"))
        #expect(mode(pki) == 0o700)
        #expect(mode(pki + "/ca.key") == 0o600)
        #expect(mode(pki + "/ca.pem") == 0o644)
        let authority = try CertificateAuthority.load(certificatePath: pki + "/ca.pem", keyPath: pki + "/ca.key")
        let caCertificate = try parse(authority.certificatePEM)
        #expect(caCertificate.subject.description == "CN=Ops CA")
        #expect(abs(caCertificate.notValidAfter.timeIntervalSinceNow - 30 * 86_400) < 120)

        let issue = try await Programs.titan(["certs", "issue", "w1", "--host", "10.1.2.3", "--host", "W1.Example.Internal",
                                              "--dir", pki, "--out", out, "--days", "7"])
        #expect(issue.status == 0, "\(issue.stderr)")
        #expect(issue.stdout.contains("wrote \(out)/w1.pem  (certificate for 10.1.2.3, w1.example.internal, valid until"))
        #expect(issue.stdout.contains("wrote \(out)/w1.key"))
        #expect(issue.stdout.contains("--tls-cert \(out)/w1.pem --tls-key \(out)/w1.key --tls-ca \(pki)/ca.pem\n"), "\(issue.stdout)")
        #expect(mode(out + "/w1.key") == 0o600)
        let node = try parse(try CertificateFiles.read(out + "/w1.pem"))
        #expect(node.subject.description == "CN=w1")
        #expect(abs(node.notValidAfter.timeIntervalSinceNow - 7 * 86_400) < 120)
        #expect(await verifies(node, root: caCertificate, host: "10.1.2.3"))
        #expect(await verifies(node, root: caCertificate, host: "w1.example.internal"))
        #expect(!(await verifies(node, root: caCertificate, host: "10.1.2.4")))

        // The same again is refused; --force replaces it with a new certificate.
        let again = try await Programs.titan(["certs", "issue", "w1", "--host", "10.1.2.3", "--dir", pki, "--out", out, "--days", "7"])
        #expect(again.status != 0)
        #expect(again.stderr.contains("\(out)/w1.pem exists already: not replaced (--force replaces it)"), "\(again.stderr)")
        let forced = try await Programs.titan(["certs", "issue", "w1", "--host", "10.1.2.3", "--dir", pki, "--out", out, "--days", "7",
                                               "--force"])
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(try parse(try CertificateFiles.read(out + "/w1.pem")).serialNumber != node.serialNumber)
    }

    @Test func everyBadInputIsOneLineAndAFailure() async throws {
        let root = try makeTemporaryDirectory()
        defer { removeDirectory(root) }
        let pki = root + "/pki"
        let made = try await Programs.titan(["certs", "ca", "--dir", pki, "--days", "10"])
        #expect(made.status == 0, "\(made.stderr)")
        // A CA whose key is another's, a CA that is a node certificate, a garbled CA.
        let stranger = try CertificateAuthority.create(notAfter: inAYear)
        try CertificateFiles.write(certificatePEM: try CertificateFiles.read(pki + "/ca.pem"), privateKeyPEM: stranger.privateKeyPEM,
                                   certificatePath: root + "/mixed/ca.pem", keyPath: root + "/mixed/ca.key")
        let leaf = try stranger.issue(commonName: "leaf", hosts: ["a.example"], notAfter: inAYear - 60)
        try leaf.write(certificatePath: root + "/leaf/ca.pem", keyPath: root + "/leaf/ca.key")
        try CertificateFiles.write(certificatePEM: "not a certificate\n", privateKeyPEM: stranger.privateKeyPEM,
                                   certificatePath: root + "/garbled/ca.pem", keyPath: root + "/garbled/ca.key")

        let cases: [(arguments: [String], says: String)] = [
            (["ca", "--dir", pki], "\(pki)/ca.pem exists already: not replaced (--force replaces it)"),
            (["ca", "--dir", root + "/x", "--days", "0"], "--days: '0' is not a number of days from 1 to 36500"),
            (["ca", "--dir", root + "/x", "--days=-5"], "--days: '-5' is not a number of days from 1 to 36500"),
            (["ca", "--dir", root + "/x", "--days", "36501"], "--days: '36501' is not a number of days"),
            (["ca", "--dir", root + "/x", "--days", "ten"], "--days: 'ten' is not a number of days"),
            (["ca", "--dir", root + "/x", "--name", ""], "common name '' is empty"),
            (["issue", "w1", "--dir", pki], "at least one --host is needed"),
            (["issue", "w1", "--host", "bad host", "--dir", pki], "host 'bad host' contains ' '"),
            (["issue", "w1", "--host", "10.0.0.256", "--dir", pki], "host '10.0.0.256' is neither a valid IP address nor a DNS name"),
            (["issue", "w1", "--host", "a.example", "--host", "*.com", "--dir", pki], "host '*.com' is a wildcard over a single label"),
            (["issue", "../w1", "--host", "a.example", "--dir", pki], "certificate name '../w1' must start with"),
            (["issue", "w/1", "--host", "a.example", "--dir", pki], "certificate name 'w/1' contains '/'"),
            (["issue", "w1", "--host", "a.example", "--dir", pki, "--days", "0"], "--days: '0' is not a number"),
            (["issue", "w1", "--host", "a.example", "--dir", pki, "--days", "11"], "after its CA"),
            (["issue", "w1", "--host", "a.example", "--dir", root + "/none"],
             "\(root)/none/ca.pem: cannot open it: No such file or directory (make a CA with `titan certs ca`)"),
            (["issue", "w1", "--host", "a.example", "--dir", root + "/garbled"], "\(root)/garbled/ca.pem: CA certificate is unreadable"),
            (["issue", "w1", "--host", "a.example", "--dir", root + "/mixed"],
             "\(root)/mixed/ca.key: the private key does not belong to the certificate"),
            (["issue", "w1", "--host", "a.example", "--dir", root + "/leaf"], "\(root)/leaf/ca.pem: the certificate is not a CA"),
        ]
        for c in cases {
            let result = try await Programs.titan(["certs"] + c.arguments)
            #expect(result.status != 0, "\(c.arguments) succeeded")
            #expect(result.stderr.contains(c.says), "\(c.arguments): \(result.stderr)")
            #expect(result.stderr.filter { $0 == "\n" }.count == 1, "\(c.arguments): not one line: \(result.stderr)")
            #expect(result.stdout == "", "\(c.arguments) printed \(result.stdout)")
        }
        // Nothing was written by the failures: no new directory, no node files.
        #expect(!FileManager.default.fileExists(atPath: root + "/x"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: pki).sorted() == ["ca.key", "ca.pem"])
    }
}
