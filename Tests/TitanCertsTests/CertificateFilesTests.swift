import Foundation
import Testing
import TitanCerts

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writing the pair: modes, no links followed, nothing replaced unless asked, nothing half done.
@Suite struct CertificateFilesTests {
    static let certificate = "-----BEGIN CERTIFICATE-----\nnew\n-----END CERTIFICATE-----\n"
    static let key = "-----BEGIN PRIVATE KEY-----\nnew\n-----END PRIVATE KEY-----\n"

    func write(_ directory: String, name: String = "node", overwrite: Bool = false) throws(CertsError) {
        try CertificateFiles.write(certificatePEM: Self.certificate, privateKeyPEM: Self.key,
                                   certificatePath: directory + "/\(name).pem", keyPath: directory + "/\(name).key",
                                   overwrite: overwrite)
    }

    func contents(_ path: String) -> String? {
        try? String(contentsOfFile: path, encoding: .utf8)
    }

    @Test func theKeyIs0600TheCertificate0644AndMissingDirectories0700() throws {
        let root = try makeTemporaryDirectory()
        defer { removeDirectory(root) }
        let directory = root + "/a/b"
        try write(directory)
        #expect(mode(directory + "/node.key") == 0o600)
        #expect(mode(directory + "/node.pem") == 0o644)
        #expect(mode(root + "/a") == 0o700)
        #expect(mode(directory) == 0o700)
        #expect(contents(directory + "/node.key") == Self.key)
        #expect(contents(directory + "/node.pem") == Self.certificate)
    }

    @Test func anExistingFileIsNotReplacedAndNothingElseIsWritten() throws {
        let directory = try makeTemporaryDirectory()
        defer { removeDirectory(directory) }
        try "old".write(toFile: directory + "/node.pem", atomically: false, encoding: .utf8)
        #expect(thrown { () throws(CertsError) in try write(directory) } == .fileExists(path: directory + "/node.pem"))
        #expect(contents(directory + "/node.pem") == "old")
        #expect(!FileManager.default.fileExists(atPath: directory + "/node.key"), "the key was written without its certificate")

        try "old key".write(toFile: directory + "/other.key", atomically: false, encoding: .utf8)
        #expect(thrown { () throws(CertsError) in try write(directory, name: "other") } == .fileExists(path: directory + "/other.key"))
        #expect(contents(directory + "/other.key") == "old key")
        #expect(!FileManager.default.fileExists(atPath: directory + "/other.pem"))
    }

    @Test func overwriteReplacesBothWholeAndLeavesNoTemporaryFile() throws {
        let directory = try makeTemporaryDirectory()
        defer { removeDirectory(directory) }
        try "old".write(toFile: directory + "/node.pem", atomically: false, encoding: .utf8)
        try "old key".write(toFile: directory + "/node.key", atomically: false, encoding: .utf8)
        chmod(directory + "/node.key", 0o644)  // a key left readable: the replacement is 0600 again
        try write(directory, overwrite: true)
        #expect(contents(directory + "/node.pem") == Self.certificate)
        #expect(contents(directory + "/node.key") == Self.key)
        #expect(mode(directory + "/node.key") == 0o600)
        #expect(mode(directory + "/node.pem") == 0o644)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).sorted() == ["node.key", "node.pem"])
    }

    @Test func aSymbolicLinkIsNeverWrittenThrough() throws {
        let directory = try makeTemporaryDirectory()
        defer { removeDirectory(directory) }
        // A link to a file that exists (would be overwritten) and one to a file that does not
        // (would be created where the link points).
        try "precious".write(toFile: directory + "/target", atomically: false, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: directory + "/node.key", withDestinationPath: directory + "/target")
        try FileManager.default.createSymbolicLink(atPath: directory + "/dangling.key", withDestinationPath: directory + "/elsewhere")
        for overwrite in [false, true] {
            #expect(thrown { () throws(CertsError) in try write(directory, overwrite: overwrite) }
                        == .symbolicLink(path: directory + "/node.key"))
            #expect(thrown { () throws(CertsError) in try write(directory, name: "dangling", overwrite: overwrite) }
                        == .symbolicLink(path: directory + "/dangling.key"))
        }
        #expect(contents(directory + "/target") == "precious")
        #expect(!FileManager.default.fileExists(atPath: directory + "/elsewhere"))
        #expect(isSymbolicLink(directory + "/node.key") && isSymbolicLink(directory + "/dangling.key"))
        #expect(!FileManager.default.fileExists(atPath: directory + "/node.pem"))
    }

    @Test func readIsBoundedAndRefusesWhatIsNotAFile() throws {
        let directory = try makeTemporaryDirectory()
        defer { removeDirectory(directory) }
        try Data(count: CertificateFiles.maxFileSize + 1).write(to: URL(fileURLWithPath: directory + "/big.pem"))
        #expect(thrown { () throws(CertsError) in try CertificateFiles.read(directory + "/big.pem") }
                    == .fileTooLarge(path: directory + "/big.pem", limit: CertificateFiles.maxFileSize))
        #expect(thrown { () throws(CertsError) in try CertificateFiles.read(directory) } == .notARegularFile(path: directory))
        // A FIFO with no writer would block an ordinary open forever.
        #expect(mkfifo(directory + "/fifo", 0o600) == 0)
        #expect(thrown { () throws(CertsError) in try CertificateFiles.read(directory + "/fifo") }
                    == .notARegularFile(path: directory + "/fifo"))
        #expect(thrown { () throws(CertsError) in try CertificateFiles.read(directory + "/missing") }
                    == .io(path: directory + "/missing", operation: "open it", errno: ENOENT))
        try "text".write(toFile: directory + "/ok.pem", atomically: false, encoding: .utf8)
        #expect(try CertificateFiles.read(directory + "/ok.pem") == "text")
    }

    @Test func loadingACAFromFilesNamesTheFileAtFault() throws {
        let directory = try makeTemporaryDirectory()
        defer { removeDirectory(directory) }
        let ca = try CertificateAuthority.create(notAfter: inAYear)
        let other = try CertificateAuthority.create(notAfter: inAYear)
        let (certificatePath, keyPath) = (directory + "/ca.pem", directory + "/ca.key")
        try ca.write(certificatePath: certificatePath, keyPath: keyPath)
        #expect(try CertificateAuthority.load(certificatePath: certificatePath, keyPath: keyPath).certificatePEM == ca.certificatePEM)

        try other.write(certificatePath: directory + "/x.pem", keyPath: keyPath, overwrite: true)
        #expect(thrown { () throws(CertsError) in try CertificateAuthority.load(certificatePath: certificatePath, keyPath: keyPath) }
                    == .inFile(path: keyPath, error: .keyDoesNotMatchCertificate))

        try "garbage".write(toFile: certificatePath, atomically: false, encoding: .utf8)
        let garbled = thrown { () throws(CertsError) in try CertificateAuthority.load(certificatePath: certificatePath, keyPath: keyPath) }
        guard case .inFile(certificatePath, .unreadablePEM(which: "CA certificate", _)) = garbled else {
            Issue.record("expected the certificate file named, got \(String(describing: garbled))")
            return
        }
        #expect(garbled?.description.hasPrefix(certificatePath + ": CA certificate is unreadable") == true)
    }
}
