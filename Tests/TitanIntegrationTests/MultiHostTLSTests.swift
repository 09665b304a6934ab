import Foundation
import Testing

/// TLS across real network boundaries: certificates made with `titan certs`, a master that
/// requires TLS from other hosts and a certificate from workers, a client and a job on other
/// hosts reaching it over TLS, and each wrong set-up refused with its reason.
@Suite(.serialized, .enabled(if: MultiHost.namespacesWork, "network namespaces need root and iproute2 (scripts/netns-cluster.sh check)"))
struct MultiHostTLSTests {
    @Test func aClusterOverTLSAcrossHosts() async throws {
        let cluster = try MultiHostCluster(index: 7)
        defer { cluster.tearDown() }
        let pki = cluster.work + "/pki"
        let address = cluster.masterAddress
        // Certificates, as an operator makes them (any host would do: it is only files).
        for arguments in [["certs", "ca", "--dir", pki],
                          ["certs", "issue", "master", "--host", cluster.address("m"), "--dir", pki],
                          ["certs", "issue", "w1", "--host", cluster.address("w1"), "--dir", pki]] {
            let (status, _, err) = try await cluster.titan("m", arguments)
            #expect(status == 0, "titan \(arguments): \(err)")
        }
        let ca = ["--tls-ca", pki + "/ca.pem"]
        _ = try await cluster.startMaster(["--tls-cert", pki + "/master.pem", "--tls-key", pki + "/master.key"] + ca)

        // Tokens are made on the master's host: plaintext to its own address is served (same host).
        let workerToken = try await cluster.token("worker")
        let submitToken = try await cluster.token("submit")

        // w1 proves itself with its certificate; w2 has the CA but no certificate: refused, saying why.
        let w1 = try await cluster.startWorker("w1", tokenFile: workerToken,
                                               ["--tls-cert", pki + "/w1.pem", "--tls-key", pki + "/w1.key"] + ca)
        let w2 = try await cluster.startWorker("w2", tokenFile: workerToken, ca)
        try await waitFor("w2 refused for want of a certificate", seconds: 20) {
            w2.stderr.contains("a worker must present a certificate signed by the cluster's CA")
        }
        // A job submitted from the client host runs on w1 and itself reaches the master over TLS
        // (the worker told it the CA; the token is the job's own).
        let titan = Tools.path("titan")
        let (ran, out, err) = try await cluster.titan("c", ["run", "--master", address, "--token-file", submitToken] + ca + [
            "--", "sh", "-c", "echo ran on $TITAN_WORKER_ID; \(titan) workers --json",
        ])
        #expect(ran == 0, "\(err) \(w1.stderr)")
        #expect(out.contains("ran on w1") && out.contains("\"\(cluster.address("w1"))\""), "\(out)")
        #expect(!out.contains("\"w2\""), "\(out)")

        // Plaintext from another host is refused, naming the fix.
        let (plain, _, plainErr) = try await cluster.titan("c", ["workers", "--master", address, "--token-file", submitToken])
        #expect(plain != 0 && plainErr.contains("this master requires TLS from other hosts"), "\(plainErr)")
        // The certificate is for the master's address, not for another name.
        let (named, _, namedErr) = try await cluster.titan("c", ["workers", "--master", address, "--token-file", submitToken,
                                                                 "--tls-server-name", "elsewhere.test"] + ca)
        #expect(named != 0 && namedErr.contains("hostname mismatch"), "\(namedErr)")
        // A CA that did not sign the master's certificate.
        let (_, _, otherErr) = try await cluster.titan("c", ["certs", "ca", "--dir", cluster.work + "/other"])
        #expect(otherErr.isEmpty, "\(otherErr)")
        let (wrong, _, wrongErr) = try await cluster.titan("c", ["workers", "--master", address, "--token-file", submitToken,
                                                                 "--tls-ca", cluster.work + "/other/ca.pem"])
        #expect(wrong != 0 && wrongErr.contains("not signed by a CA this end trusts"), "\(wrongErr)")
    }
}
