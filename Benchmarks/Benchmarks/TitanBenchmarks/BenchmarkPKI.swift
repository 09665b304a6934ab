import Foundation
import TitanCerts
import TitanTLS

/// Certificates for a TLS benchmark cluster, made with TitanCerts into a temporary directory at
/// set-up (a CA; one certificate for 127.0.0.1 that the master serves and the workers and client
/// present), and the TLS contexts a node reads from them: what `titan certs` and `--tls-*` give a
/// real cluster.
struct BenchmarkPKI: Sendable {
    let directory: String
    let master: TLSContext
    /// A worker's or client's side: checks the master against the CA, presents its certificate.
    let client: TLSContext
    let caFile: String

    init() throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("titan-bench-tls-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        caFile = directory + "/ca.pem"
        let ca = try CertificateAuthority.create(commonName: "Titan benchmark CA", notAfter: .now + 86_400)
        try ca.write(certificatePath: caFile, keyPath: directory + "/ca.key")
        try ca.issue(commonName: "node", hosts: ["127.0.0.1"], notAfter: .now + 86_400)
            .write(certificatePath: directory + "/node.pem", keyPath: directory + "/node.key")
        // Mutual TLS, as a cluster started with --tls-ca runs it: workers must present a certificate.
        master = try TLSContext.server(certificateFile: directory + "/node.pem", privateKeyFile: directory + "/node.key",
                                       clientCAFile: caFile)
        client = try TLSContext.client(caFile: caFile, certificateFile: directory + "/node.pem",
                                       privateKeyFile: directory + "/node.key")
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: directory)
    }
}
