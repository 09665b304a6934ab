import Foundation
import TitanCerts
@testable import TitanTLS

/// A CA and certificates written to a temporary directory, as an operator would have them.
struct TestPKI {
    let directory: String
    let ca: CertificateAuthority

    init(name: String = "Titan test CA") throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("titan-tls-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        ca = try CertificateAuthority.create(commonName: name, notAfter: .now + 86_400 * 30)
        try ca.certificatePEM.write(toFile: caFile, atomically: true, encoding: .utf8)
    }

    var caFile: String { directory + "/ca.pem" }

    /// Writes NAME.pem and NAME.key; returns their paths.
    @discardableResult
    func issue(_ name: String, hosts: [String] = ["127.0.0.1", "master.test"], notBefore: Date = .now - 300,
               notAfter: Date = .now + 86_400) throws -> (cert: String, key: String) {
        let issued = try ca.issue(commonName: name, hosts: hosts, notBefore: notBefore, notAfter: notAfter)
        let paths = (directory + "/\(name).pem", directory + "/\(name).key")
        try issued.certificatePEM.write(toFile: paths.0, atomically: true, encoding: .utf8)
        try issued.privateKeyPEM.write(toFile: paths.1, atomically: true, encoding: .utf8)
        return paths
    }

    func server(_ name: String = "master", clientCA: Bool = false, checkDates: Bool = true) throws -> TLSContext {
        try TLSContext.server(certificateFile: directory + "/\(name).pem", privateKeyFile: directory + "/\(name).key",
                              clientCAFile: clientCA ? caFile : nil, checkDates: checkDates)
    }

    func client(_ name: String? = nil, checkDates: Bool = true) throws -> TLSContext {
        try TLSContext.client(caFile: caFile, certificateFile: name.map { directory + "/\($0).pem" },
                              privateKeyFile: name.map { directory + "/\($0).key" }, checkDates: checkDates)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: directory)
    }
}
