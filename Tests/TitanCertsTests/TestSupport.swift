import Foundation
import Testing
import TitanCerts
import X509

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A fresh directory under the temporary directory; the caller removes it in `defer`.
func makeTemporaryDirectory() throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("titan-certs-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func removeDirectory(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
}

/// The permission bits of `path` (not following a link).
func mode(_ path: String) -> mode_t? {
    var info = stat()
    return lstat(path, &info) == 0 ? info.st_mode & 0o7777 : nil
}

func isSymbolicLink(_ path: String) -> Bool {
    var info = stat()
    return lstat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFLNK
}

func parse(_ pem: String) throws -> Certificate {
    try Certificate(pemEncoded: pem)
}

/// A year from now.
let inAYear = Date.now + 365 * 86_400

/// Whether `leaf` chains to `root` under RFC 5280 and is valid for `host` (an IP literal or a DNS
/// name), as swift-certificates' own verifier decides.
func verifies(_ leaf: Certificate, root: Certificate, host: String) async -> Bool {
    let isIP = host.contains(":") || host.allSatisfy { $0.isNumber || $0 == "." }
    var verifier = Verifier(rootCertificates: CertificateStore([root])) {
        RFC5280Policy()
        ServerIdentityPolicy(serverHostname: isIP ? nil : host, serverIP: isIP ? host : nil)
    }
    if case .validCertificate = await verifier.validate(leaf: leaf, intermediates: CertificateStore()) { return true }
    return false
}

/// A program run to completion: its exit status and what it printed.
struct ProgramOutput {
    var status: Int32
    var stdout: String
    var stderr: String
}

enum Programs {
    /// The built `titan` executable (next to the test bundle, else the default build directory).
    static var titanPath: String {
        let candidate = Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("titan").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        return FileManager.default.currentDirectoryPath + "/.build/debug/titan"
    }

    /// `openssl` on PATH, or nil.
    static let opensslPath: String? = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/openssl" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    /// Runs `arguments` (the first is the program's path) in `directory` with posix_spawn (not
    /// Foundation's Process, which crashes now and then on this toolchain), output to files; polls
    /// for its exit until `timeout`, then kills it and fails the test.
    static func run(_ arguments: [String], in directory: String? = nil, timeout: Double = 30) async throws -> ProgramOutput {
        let scratch = try makeTemporaryDirectory()
        defer { removeDirectory(scratch) }
        let outPath = scratch + "/stdout", errPath = scratch + "/stderr"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        var command = arguments
        if let directory {
            // posix_spawn has no portable chdir action: run through sh with `cd`.
            command = ["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", directory] + arguments
        }
        let argv = command.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, command[0], &actions, nil, argv, environ)
        guard spawned == 0 else {
            throw POSIXError(POSIXErrorCode(rawValue: spawned) ?? .EIO)
        }
        let deadline = ContinuousClock.now + .seconds(timeout)
        var status: Int32 = 0
        while true {
            let done = waitpid(pid, &status, WNOHANG)
            if done == pid { break }
            if ContinuousClock.now > deadline {
                Issue.record("\(arguments) still running after \(timeout) s: killed")
                kill(pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                break
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        // WIFEXITED / WEXITSTATUS, spelled out (the C macros are not imported).
        let exitStatus = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        let stdout = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        let stderr = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        return ProgramOutput(status: exitStatus, stdout: stdout, stderr: stderr)
    }

    static func titan(_ arguments: [String]) async throws -> ProgramOutput {
        try await run([titanPath] + arguments)
    }

    /// `openssl ARGS` in `directory`; callers are enabled only when ``opensslPath`` is found.
    static func openssl(_ arguments: [String], in directory: String) async throws -> ProgramOutput {
        try await run([try #require(opensslPath, "openssl not found on PATH")] + arguments, in: directory)
    }
}

/// The reason the OpenSSL cross-checks are skipped, shown by `swift test`.
let opensslMissing: Comment = "openssl is not on PATH: the OpenSSL cross-checks are skipped (apt-get install openssl)"
