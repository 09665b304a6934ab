import Foundation
import Testing
import TitanTestSupport
import ZIPFoundation
@testable import TitanArtifacts

/// Fuzz targets for archive extraction (a worker unpacks what a client uploaded): whatever the
/// entries, or the bytes of the zip, nothing is written outside the destination, a refused
/// archive writes nothing, and no symlink left behind points out of it.
/// Budget and seed: `TITAN_FUZZ_SECONDS` / `TITAN_FUZZ_SEED`.
@Suite("Fuzzing archive extraction")
struct ArchiveFuzzTests {
    /// Entries, one a line: `f PATH`, `d PATH` or `l PATH<TAB>TARGET`.
    static let entryCorpus: [[UInt8]] = [
        "f main.py\nd data\nf data/x.txt\nl latest\tdata/x.txt",
        "f a/b/c.txt\nl a/down\tb/../b/c.txt\nf ./a/./d.txt",
        "d bin\nf bin/run.sh\nl link\tbin/run.sh\nf e\u{301}t\u{301}e\u{301}.txt",
    ].map { Array($0.utf8) }

    static let entryDictionary: [[UInt8]] = ["../", "..", "/", "\\", "./", "//", "\u{301}", "\u{601}", "\nf ", "\nd ", "\nl ",
                                             "\t", "\t../", "\t/etc", "\0"].map { Array($0.utf8) }

    @Test("entries: refused whole, or extracted inside the destination")
    func archiveEntries() {
        let dir = TempDir()
        defer { dir.cleanup() }
        let report = Fuzzer.run("archive-entries", corpus: Self.entryCorpus, dictionary: Self.entryDictionary) { fuzzCase in
            let entries = String(decoding: fuzzCase.bytes, as: UTF8.self).split(separator: "\n").compactMap(Self.entry)
            let root = dir.path + "/\(fuzzCase.iteration)"
            defer { try? FileManager.default.removeItem(atPath: root) }
            let zip = root + "/p.zip"
            do {
                try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
                try handmadeZip(at: zip, entries)
            } catch {
                return false  // ZIPFoundation would not write these entries: nothing to extract
            }
            return try Self.extractAndCheck(zip, root: root)
        }
        #expect(report.failure == nil, "\(report)")
        #expect(report.seedsAccepted == Self.entryCorpus.count, "\(report)")
    }

    @Test("zip bytes: a clear error, or extracted inside the destination")
    func archiveBytes() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        var corpus: [[UInt8]] = []
        for (i, spec) in Self.entryCorpus.enumerated() {
            let zip = dir.path + "/seed\(i).zip"
            try handmadeZip(at: zip, String(decoding: spec, as: UTF8.self).split(separator: "\n").compactMap(Self.entry))
            corpus.append([UInt8](try Data(contentsOf: URL(fileURLWithPath: zip))))
        }
        let report = Fuzzer.run("archive-bytes", corpus: corpus, dictionary: [Array("PK\u{1}\u{2}".utf8), Array("PK\u{5}\u{6}".utf8),
                                                                             Array("PK\u{3}\u{4}".utf8)]) { fuzzCase in
            let root = dir.path + "/\(fuzzCase.iteration)"
            defer { try? FileManager.default.removeItem(atPath: root) }
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
            let zip = root + "/p.zip"
            try Data(fuzzCase.bytes).write(to: URL(fileURLWithPath: zip))
            return try Self.extractAndCheck(zip, root: root)
        }
        #expect(report.failure == nil, "\(report)")
        #expect(report.seedsAccepted == corpus.count, "\(report)")
    }

    // MARK: - Regressions found by fuzzing

    /// `/` followed by U+0301 is one Swift Character, so a split on Characters did not see the
    /// separator and `..` went unnoticed: the entry was written next to the destination.
    @Test("an entry or symlink hiding '..' behind a combining mark is refused")
    func combiningMarkEscapes() throws {
        let cases: [[(path: String, type: Entry.EntryType, content: String)]] = [
            [("../\u{301}escaped", .file, "x")],
            [("a/../../\u{301}escaped", .file, "x")],
            [("up", .symlink, "../\u{301}/..")],
            [("/\u{301}abs", .file, "x")],
        ]
        for entries in cases {
            let dir = TempDir()
            defer { dir.cleanup() }
            try handmadeZip(at: dir.path + "/p.zip", entries)
            #expect(throws: ArtifactError.self, "\(entries)") {
                try ProjectArchive.extract(dir.path + "/p.zip", into: dir.path + "/out/dest")
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["p.zip"])
        }
    }

    /// Found by `archive-bytes`: the local header of the symlink `link` claims 4 GiB
    /// (0xFFFFFFFF) where the central directory says 10 bytes, and ZIPFoundation allocated the
    /// claim to read the target.
    @Test("a symlink whose local header claims 4 GiB is refused, allocating nothing near it")
    func symlinkSizeClaim() throws {
        let input = Data(base64Encoded: """
            UEsDBBQAAAgAAAeGhl0AAAAAAAAAAAAAAAADAAAAYmluUEsDBBQAAAgAAAeGhl3K3eqAFQAAABUAAAAKAAAAYmluL3J1bi5zaGNvbnRlbnQgb2YgYmlu\
            L3J1bi5zaFBLAwQUAAAIAAAHhoZdyJtF//////////8ABAAAAGxpbmtiaW4vcnVuLnNoUEsDBBQAAAgAAAeGhl35+N6yGAAAABgAAAANAAAAZcyBdMyB\
            ZcyBLnR4dGNvbnRlbnQgb2YgZcyBdMyBZcyBLnR4dFBLAQIVAxQAAAgAAAeGhl0AAAAAAAAAAAAAAAADAAAAAAAAAAAAAADtQQAAAABiaW5QSwECFQMU\
            AAAIAAAHhoZdyt3qgBUAAAAVAAAACgAAAAAAAAAAAP////4hAAAAYmluL3J1bi5zaFBLAQIVAxQAAAgAAAeGhl3Im0XjCgAAAAoAAIAEAAAAAAAAAAAA\
            AACkoV4AAABsaW5rUEsBAhUDFAAACAAAB4aGXfn43rIYAAAAGAAAAA0AAAAAAAAAAAAAAKSBigAAAGXMgXTMgWXMgS50eHRQSwUGAAAAAAQABADWAAAA\
            zQAAAAAA
            """)
        let dir = TempDir()
        defer { dir.cleanup() }
        try #require(input).write(to: URL(fileURLWithPath: dir.path + "/p.zip"))
        let start = try #require(peakVirtualMemory())
        let error = #expect(throws: ArtifactError.self) { try ProjectArchive.extract(dir.path + "/p.zip", into: dir.path + "/out") }
        #expect(error?.message.contains("symlink 'link' claims a target of 4294967295 bytes") == true, "\(String(describing: error))")
        #expect(try #require(peakVirtualMemory()) - start < peakMemoryGrowthLimit)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["p.zip"])
    }

    // MARK: - Helpers

    static func entry(_ line: Substring) -> (path: String, type: Entry.EntryType, content: String)? {
        guard line.count > 2 else { return nil }
        let body = String(line.dropFirst(2))
        switch line.first {
        case "f": return (body, .file, "content of \(body)")
        case "d": return (body, .directory, "")
        case "l":
            let parts = body.split(separator: "\t", maxSplits: 1, omittingEmptySubsequences: false)
            return (String(parts[0]), .symlink, parts.count > 1 ? String(parts[1]) : "")
        default: return nil
        }
    }

    /// Extracts `zip` into `root/a/b/dest` (so an escape of up to three levels lands inside
    /// `root`, where it is seen) and checks what is on disk afterwards.
    static func extractAndCheck(_ zip: String, root: String) throws -> Bool {
        let dest = root + "/a/b/dest"
        // Refused as invalid (an escape, the limits): checked before anything is written.
        var refused: ArtifactError?
        do {
            try ProjectArchive.extract(zip, into: dest)
        } catch {
            refused = error
            try fuzzCheck(!error.message.isEmpty, "an error without a message")
        }
        let invalid = refused?.kind == .invalid
        for path in try walk(root) where path != zip && path != root + "/a" && path != root + "/a/b" {
            try fuzzCheck(Self.isWithin(path, dest), "written outside the destination: \(path)")
            try fuzzCheck(!invalid || error(isInvalidLeftEmpty: path, dest: dest),
                          "an archive refused as invalid wrote \(path): \(refused?.message ?? "")")
            var info = stat()
            if lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFLNK {
                let target = try FileManager.default.destinationOfSymbolicLink(atPath: path)
                // As the kernel resolves it (through other links); lexically when it dangles.
                let resolved = Self.realPath(path) ?? normalize((path as NSString).deletingLastPathComponent + "/" + target)
                let realDest = Self.realPath(dest) ?? dest
                try fuzzCheck(!target.hasPrefix("/") && Self.isWithin(resolved, realDest),
                              "symlink \(path) -> \(target) resolves outside the destination, to \(resolved)")
            }
        }
        return refused == nil
    }

    /// `path` is `directory` or below it, compared as bytes (as the kernel does): `String`'s
    /// `hasPrefix` compares characters, and a name starting with a combining mark merges with
    /// the `/` before it into one character.
    static func isWithin(_ path: String, _ directory: String) -> Bool {
        path.utf8.elementsEqual(directory.utf8) || path.utf8.starts(with: (directory + "/").utf8)
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// A refused archive may have created nothing but the (empty) destination itself.
    static func error(isInvalidLeftEmpty path: String, dest: String) -> Bool {
        path == dest && ((try? FileManager.default.contentsOfDirectory(atPath: dest))?.isEmpty ?? true)
    }

    /// Every path below `directory` (not following symlinks).
    static func walk(_ directory: String) throws -> [String] {
        var paths: [String] = []
        for name in try FileManager.default.contentsOfDirectory(atPath: directory) {
            let path = directory + "/" + name
            paths.append(path)
            var info = stat()
            if lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR { paths += try walk(path) }
        }
        return paths
    }

    /// `.` and `..` resolved lexically, on bytes (as the kernel does for a path without symlinks).
    static func normalize(_ path: String) -> String {
        var parts: [Substring.UTF8View] = []
        for part in path.utf8.split(separator: UInt8(ascii: "/")) {
            if part.elementsEqual(".".utf8) { continue }
            if part.elementsEqual("..".utf8) { if !parts.isEmpty { parts.removeLast() }; continue }
            parts.append(Substring(part).utf8)
        }
        return "/" + parts.map { String(Substring($0)) }.joined(separator: "/")
    }
}

/// Inputs the fuzzer found, kept exactly.
@Suite("Archive regressions found by fuzzing")
struct ArchiveFuzzRegressionTests {
    @Test("an entry below another entry that is a file is refused before anything is written")
    func entryBelowAFile() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let zip = dir.path + "/p.zip"
        try handmadeZip(at: zip, [("ff bin", .file, "x"), ("ff bin/run.sh", .file, "echo hi")])
        let destination = dir.path + "/dest"
        #expect(throws: ArtifactError.self) { try ProjectArchive.extract(zip, into: destination) }
        do {
            try ProjectArchive.extract(zip, into: destination)
        } catch {
            #expect(error.message.contains("lies below the file entry 'ff bin'"), "\(error)")
        }
        #expect(names(in: destination).isEmpty)
    }
}
