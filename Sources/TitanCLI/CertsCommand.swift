import ArgumentParser
import Foundation
import TitanCerts
import TitanProtocol

/// `titan certs ca|issue`: the cluster's own CA and the node certificates it signs, for TLS.
/// Offline: no master is involved.
struct CertsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "certs",
        abstract: "Make a CA and node certificates for TLS (offline, no master needed).",
        subcommands: [CertsCACommand.self, CertsIssueCommand.self])

    /// Longest validity accepted, in days (100 years).
    static let maxDays = 36_500

    /// `--days` as seconds: a whole number from 1 to ``maxDays``.
    static func validity(days text: String) throws -> TimeInterval {
        guard let days = Int(text), days >= 1, days <= maxDays else {
            throw CLIError(message: "--days: '\(Names.printable(text))' is not a number of days from 1 to \(maxDays)")
        }
        return TimeInterval(days) * 86_400
    }

    /// `directory/name`, as the user would type it (no `./` for the current directory).
    static func path(_ directory: String, _ name: String) -> String {
        directory == "." ? name : directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    /// `text` quoted for a POSIX shell when it needs to be.
    static func shellWord(_ text: String) -> String {
        let plain = !text.isEmpty && text.unicodeScalars.allSatisfy {
            CharacterSet.alphanumerics.contains($0) && $0.isASCII || "-_./=:@+,".unicodeScalars.contains($0)
        }
        return plain ? text : "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    static func day(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyy-MM-dd"
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date)
    }

    /// Runs `body`, turning a ``CertificateError`` into a one-line CLI error (with a hint where
    /// a flag fixes it).
    static func run<T>(_ body: () throws(CertificateError) -> T) throws -> T {
        do {
            return try body()
        } catch {
            var message = error.description
            switch error.underlying {
            case .fileExists:
                message += " (--force replaces it)"
            case .io(_, _, let code) where code == ENOENT:
                message += " (make a CA with `titan certs ca`)"
            case .outlivesAuthority(_, let authorityNotAfter):
                let days = Int(authorityNotAfter.timeIntervalSinceNow / 86_400)
                message += days >= 1 ? " (--days \(days) or fewer)" : " (the CA has expired)"
            default:
                break
            }
            throw CLIError(message: message)
        }
    }
}

struct CertsCACommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ca",
        abstract: "Make the cluster's CA: DIR/ca.pem (every node gets a copy) and DIR/ca.key (0600, stays here).")

    @Option(help: "Where to write ca.pem and ca.key (created 0700 if missing).")
    var dir = "."

    @Option(help: "The CA's common name.")
    var name = "Titan cluster CA"

    @Option(help: "How many days it is valid, 1 to 36500.")
    var days = "3650"

    @Flag(help: "Replace ca.pem and ca.key if they exist.")
    var force = false

    func run() throws {
        let validity = try CertsCommand.validity(days: days)
        let certificatePath = CertsCommand.path(dir, "ca.pem"), keyPath = CertsCommand.path(dir, "ca.key")
        let (name, force) = (name, force)
        let ca = try CertsCommand.run { () throws(CertificateError) in
            try CertificateAuthority.create(commonName: name, notAfter: .now + validity)
        }
        try CertsCommand.run { () throws(CertificateError) in
            try ca.write(certificatePath: certificatePath, keyPath: keyPath, overwrite: force)
        }
        print("wrote \(certificatePath)  (CA certificate, valid until \(CertsCommand.day(ca.notValidAfter)): every node gets a copy)")
        print("wrote \(keyPath)  (CA private key, 0600: keep it here, it signs the node certificates)")
        print("next: titan certs issue NAME --host ADDRESS [--host ADDRESS ...]"
              + (dir == "." ? "" : " --dir \(CertsCommand.shellWord(dir))"))
    }
}

struct CertsIssueCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "issue",
        abstract: "Make a node's certificate and key, signed by the CA: OUT/NAME.pem and OUT/NAME.key (0600).",
        discussion: """
            One certificate serves a node both ways: a master presents it to the workers and clients \
            that dial it, a worker presents it to a master that asks for one. Name every address the \
            node is dialed at with --host (an IP address or a DNS name, e.g. --host 10.0.0.5 --host \
            master.example.internal).
            """)

    @Argument(help: "The node's name: the files are NAME.pem and NAME.key, and it is the certificate's common name.")
    var name: String

    @Option(name: .customLong("host"), help: "An IP address or DNS name the node is dialed at (repeat it; at least one).")
    var hosts: [String] = []

    @Option(help: "Where the CA's ca.pem and ca.key are.")
    var dir = "."

    @Option(help: "Where to write NAME.pem and NAME.key (default: --dir; created 0700 if missing).")
    var out: String?

    @Option(help: "How many days it is valid, 1 to 36500.")
    var days = "825"

    @Flag(help: "Replace NAME.pem and NAME.key if they exist.")
    var force = false

    func run() throws {
        if let problem = Names.problem(name, kind: "certificate name") { throw CLIError(message: problem) }
        if hosts.isEmpty {
            throw CLIError(message: "at least one --host is needed: an IP address or DNS name the node is dialed at")
        }
        let validity = try CertsCommand.validity(days: days)
        let outDir = out ?? dir
        let caCertificate = CertsCommand.path(dir, "ca.pem"), caKey = CertsCommand.path(dir, "ca.key")
        let certificatePath = CertsCommand.path(outDir, name + ".pem"), keyPath = CertsCommand.path(outDir, name + ".key")
        let (name, hosts, force) = (name, hosts, force)
        let ca = try CertsCommand.run { () throws(CertificateError) in
            try CertificateAuthority.load(certificatePath: caCertificate, keyPath: caKey)
        }
        let notAfter = Date.now + validity
        let issued = try CertsCommand.run { () throws(CertificateError) in
            try ca.issue(commonName: name, hosts: hosts, notAfter: notAfter)
        }
        try CertsCommand.run { () throws(CertificateError) in
            try issued.write(certificatePath: certificatePath, keyPath: keyPath, overwrite: force)
        }
        // The names as the certificate holds them (lowercase, IPv6 compressed, duplicates once).
        var shown: [String] = []
        for host in hosts.compactMap({ try? SubjectHost(parsing: $0).description }) where !shown.contains(host) { shown.append(host) }
        print("wrote \(certificatePath)  (certificate for \(shown.joined(separator: ", ")), "
              + "valid until \(CertsCommand.day(notAfter)))")
        print("wrote \(keyPath)  (private key, 0600: copy it only to that node)")
        let flags = ["--tls-cert", certificatePath, "--tls-key", keyPath, "--tls-ca", caCertificate]
        print("use: titan-node ... " + flags.map(CertsCommand.shellWord).joined(separator: " "))
    }
}
