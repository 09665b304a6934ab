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
