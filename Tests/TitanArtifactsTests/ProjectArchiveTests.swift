import Foundation
import Testing
import TitanArtifacts
import ZIPFoundation

@Suite("Project archives")
struct ProjectArchiveTests {
    @Test("a zipped folder extracts to the same tree, modes kept, version control left out")
    func roundTrip() throws {
        let source = TempDir(), target = TempDir()
        defer { source.cleanup(); target.cleanup() }
        source.file("main.py", "print('hi')\n")
        source.file("steps/run.sh", "echo run\n", mode: 0o755)
        source.file("data/deep/x.csv", "a,b\n1,2\n")
        source.file(".git/config", "[core]\n")
        source.file("pkg/__pycache__/m.pyc", "junk")
        let zip = target.path + "/p.zip"
        let count = try ProjectArchive.zip(directory: source.path, to: zip)
        #expect(count == 7)  // main.py, steps, steps/run.sh, data, data/deep, data/deep/x.csv, pkg
        try ProjectArchive.extract(zip, into: target.path + "/out")
        let out = TempDir(path: target.path + "/out")
        #expect(out.read("main.py") == "print('hi')\n")
        #expect(out.read("data/deep/x.csv") == "a,b\n1,2\n")
        #expect(out.read("steps/run.sh") == "echo run\n")
        #expect(mode(of: target.path + "/out/steps/run.sh") & 0o100 != 0)
        #expect(!FileManager.default.fileExists(atPath: target.path + "/out/.git"))
        #expect(!FileManager.default.fileExists(atPath: target.path + "/out/pkg/__pycache__"))
        // Extracting again over the same tree replaces files.
        try ProjectArchive.extract(zip, into: target.path + "/out")
        #expect(out.read("main.py") == "print('hi')\n")
    }

    static var escapes: [(String, [(path: String, type: Entry.EntryType, content: String)], String)] { [
        ("dot-dot", [("ok.txt", .file, "fine"), ("../evil.txt", .file, "owned")], "escapes the destination"),
        ("nested dot-dot", [("ok.txt", .file, "fine"), ("a/b/../../../evil.txt", .file, "owned")], "escapes the destination"),
        ("absolute", [("ok.txt", .file, "fine"), ("/tmp/titan-evil.txt", .file, "owned")], "absolute path"),
        ("absolute symlink", [("ok.txt", .file, "fine"), ("link", .symlink, "/etc")], "points to the absolute path"),
        ("escaping symlink", [("ok.txt", .file, "fine"), ("a/link", .symlink, "../../outside")], "points outside"),
    ] }

    @Test("archives with entries that escape are rejected whole, before anything is written",
          arguments: 0 ..< 5)
    func escapesRejected(index: Int) throws {
        let (name, entries, expected) = Self.escapes[index]
        let dir = TempDir()
        defer { dir.cleanup() }
        let zip = dir.path + "/evil.zip"
        try handmadeZip(at: zip, entries)
        let error = #expect(throws: ArtifactError.self, "\(name)") {
            try ProjectArchive.extract(zip, into: dir.path + "/out/job")
        }
        #expect(error?.message.contains(expected) == true, "\(name): \(error?.message ?? "")")
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/out/job/ok.txt"))
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/out/evil.txt"))
        #expect(!FileManager.default.fileExists(atPath: "/tmp/titan-evil.txt"))
    }

    @Test("a symlink inside the destination is fine; writing through a planted one is refused")
    func symlinks() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let zip = dir.path + "/p.zip"
        try handmadeZip(at: zip, [("data/x.txt", .file, "x"), ("latest", .symlink, "data/x.txt")])
        try ProjectArchive.extract(zip, into: dir.path + "/out")
        #expect(try String(contentsOfFile: dir.path + "/out/latest", encoding: .utf8) == "x")

        // A job left a symlink named like a directory of the archive, pointing elsewhere.
        let elsewhere = TempDir()
        defer { elsewhere.cleanup() }
        try FileManager.default.createDirectory(atPath: dir.path + "/planted", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: dir.path + "/planted/sub", withDestinationPath: elsewhere.path)
        let zip2 = dir.path + "/q.zip"
        try handmadeZip(at: zip2, [("sub/owned.txt", .file, "owned")])
        let error = #expect(throws: ArtifactError.self) { try ProjectArchive.extract(zip2, into: dir.path + "/planted") }
        #expect(error?.message.contains("through the symlink") == true)
        #expect(!FileManager.default.fileExists(atPath: elsewhere.path + "/owned.txt"))
    }

    @Test("a file that is not a zip is a clear error")
    func notAZip() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        dir.file("fake.zip", "not a zip at all")
        let error = #expect(throws: ArtifactError.self) { try ProjectArchive.extract(dir.path + "/fake.zip", into: dir.path + "/out") }
        #expect(error?.kind == .corrupt)
    }

    @Test("archives past the limits are refused")
    func limits() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let zip = dir.path + "/many.zip"
        try handmadeZip(at: zip, (0 ..< 5).map { ("f\($0)", .file, "0123456789") })
        var limits = ProjectArchive.Limits()
        limits.maxEntries = 4
        #expect(throws: ArtifactError.self) { try ProjectArchive.extract(zip, into: dir.path + "/a", limits: limits) }
        limits = ProjectArchive.Limits()
        limits.maxTotalBytes = 30
        #expect(throws: ArtifactError.self) { try ProjectArchive.extract(zip, into: dir.path + "/b", limits: limits) }
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/b/f0"))
    }
}

@Suite("Project archives: symlinks")
struct ArchiveSymlinkTests {
    @Test("a chain of symlinks resolving to / and an entry written through it: refused whole, nothing outside")
    func chainToTheRoot() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let job = dir.path + "/out/job", outside = dir.path + "/outside"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: job, withIntermediateDirectories: true)
        let chain = chainToRoot(from: job)
        let through = ([chain.last] + (realPath(outside) ?? outside).split(separator: "/").map(String.init)).joined(separator: "/")
        var entries: [(path: String, type: Entry.EntryType, content: String)] = [("ok.txt", .file, "fine")]
        entries += chain.links.map { ($0.name, .symlink, $0.target) }
        entries.append((through + "/owned.txt", .file, "owned"))
        let zip = dir.path + "/chain.zip"
        try handmadeZip(at: zip, entries)
        let error = #expect(throws: ArtifactError.self) { try ProjectArchive.extract(zip, into: job) }
        #expect(error?.message.contains("symlink 'l1' points outside the destination ('l0/..', through the symlink 'l0')") == true,
                "\(error?.message ?? "")")
        #expect(names(in: outside).isEmpty)
        #expect(names(in: job).isEmpty)  // not even the harmless-looking links

        // Without the entry, the links alone are still refused: a later write could follow them.
        try handmadeZip(at: dir.path + "/links.zip", Array(entries.dropLast()))
        #expect(throws: ArtifactError.self) { try ProjectArchive.extract(dir.path + "/links.zip", into: job) }
        #expect(names(in: job).isEmpty)
    }

    @Test("entries below one of the archive's own symlinks are refused, even one pointing inside")
    func entryBelowAnArchiveSymlink() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let zip = dir.path + "/p.zip"
        try handmadeZip(at: zip, [("data/x.txt", .file, "x"), ("alias", .symlink, "data"), ("alias/y.txt", .file, "y")])
        let error = #expect(throws: ArtifactError.self) { try ProjectArchive.extract(zip, into: dir.path + "/out") }
        #expect(error?.message.contains("entry 'alias/y.txt' would be written through the archive's symlink 'alias'") == true,
                "\(error?.message ?? "")")
        #expect(names(in: dir.path + "/out").isEmpty)
    }

    @Test("a chain planted in the destination by an earlier job, then an archive written through it: refused")
    func plantedChain() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let job = dir.path + "/out/job", outside = dir.path + "/outside"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: job, withIntermediateDirectories: true)
        let chain = chainToRoot(from: job)
        for link in chain.links { try symlink(job + "/" + link.name, to: link.target) }
        #expect(realPath(job + "/" + chain.last) == "/")
        let through = ([chain.last] + (realPath(outside) ?? outside).split(separator: "/").map(String.init)).joined(separator: "/")
        let zip = dir.path + "/p.zip"
        try handmadeZip(at: zip, [("ok.txt", .file, "fine"), (through + "/owned.txt", .file, "owned"), (through + "/d/", .directory, "")])
        let error = #expect(throws: ArtifactError.self) { try ProjectArchive.extract(zip, into: job) }
        #expect(error?.message.contains("through the symlink '\(chain.last)'") == true, "\(error?.message ?? "")")
        #expect(names(in: outside).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: job + "/ok.txt"))
    }

    @Test("inside-pointing symlinks and nested directories extract; extracting again replaces files atomically")
    func legitimateTree() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let zip = dir.path + "/p.zip"
        try handmadeZip(at: zip, [
            ("a/b/c/deep.txt", .file, "deep"), ("a/b/up", .symlink, "../../top.txt"), ("top.txt", .file, "top"),
            ("shortcut", .symlink, "a/b/c"), ("a/self", .symlink, "."), ("empty/", .directory, ""),
        ])
        let out = dir.path + "/out"
        try ProjectArchive.extract(zip, into: out)
        #expect(try String(contentsOfFile: out + "/shortcut/deep.txt", encoding: .utf8) == "deep")
        #expect(try String(contentsOfFile: out + "/a/b/up", encoding: .utf8) == "top")
        #expect(isSymlink(out + "/a/self"))
        #expect(names(in: out) == ["a", "empty", "shortcut", "top.txt"])

        let reader = try #require(FileHandle(forReadingAtPath: out + "/top.txt"))
        defer { try? reader.close() }
        let before = inode(of: out + "/top.txt")
        try ProjectArchive.extract(zip, into: out)  // over the existing tree, symlinks included
        #expect(inode(of: out + "/top.txt") != before)
        #expect(String(decoding: try reader.readToEnd() ?? Data(), as: UTF8.self) == "top")
        #expect(try String(contentsOfFile: out + "/shortcut/deep.txt", encoding: .utf8) == "deep")
        #expect(names(in: out) == ["a", "empty", "shortcut", "top.txt"])  // no temporary left behind
    }

    // MARK: Zipping a folder

    @Test("zipping keeps a symlink inside the folder as a symlink, without following it")
    func zipKeepsInsideSymlinks() throws {
        let source = TempDir(), target = TempDir()
        defer { source.cleanup(); target.cleanup() }
        source.file("data/x.txt", "x")
        try symlink(source.path + "/alias", to: "data")
        let zip = target.path + "/p.zip"
        #expect(try ProjectArchive.zip(directory: source.path, to: zip) == 3)  // alias, data, data/x.txt
        let archive = try Archive(url: URL(fileURLWithPath: zip), accessMode: .read)
        #expect(archive.map(\.path).sorted() == ["alias", "data/", "data/x.txt"])
        #expect(archive["alias"]?.type == .symlink)
        try ProjectArchive.extract(zip, into: target.path + "/out")
        #expect(isSymlink(target.path + "/out/alias"))
        #expect(try String(contentsOfFile: target.path + "/out/alias/x.txt", encoding: .utf8) == "x")
    }

    @Test("zipping refuses a symlink that leads outside the folder, alone or through a chain, and carries nothing of it",
          arguments: 0 ..< 3)
    func zipRefusesOutsideSymlinks(index: Int) throws {
        let base = TempDir()
        defer { base.cleanup() }
        base.file("secret/key", "do not ship")
        base.file("project/main.py", "print(1)\n")
        let project = base.path + "/project"
        switch index {
        case 0: try symlink(project + "/leak", to: "../secret")
        case 1: try symlink(project + "/leak", to: base.path + "/secret/key")
        default:
            try symlink(project + "/a", to: ".")
            try symlink(project + "/leak", to: "a/../secret")
        }
        let zip = base.path + "/p.zip"
        let error = #expect(throws: ArtifactError.self) { try ProjectArchive.zip(directory: project, to: zip) }
        #expect(error?.kind == .invalid)
        #expect(error?.message.contains("symlink 'leak'") == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("copy the target into the folder") == true)
        #expect(!FileManager.default.fileExists(atPath: zip))
    }

    @Test("zipping refuses a FIFO instead of hanging on it")
    func zipRefusesFifo() throws {
        let source = TempDir()
        defer { source.cleanup() }
        source.file("main.py", "print(1)\n")
        #expect(mkfifo(source.path + "/pipe", 0o644) == 0)
        let error = #expect(throws: ArtifactError.self) { try ProjectArchive.zip(directory: source.path, to: source.path + "/../p.zip") }
        #expect(error?.message.contains("pipe' is not a file, a directory or a symlink") == true, "\(error?.message ?? "")")
    }
}
