import Foundation
import Testing
import TitanArtifacts
import TitanProtocol

/// Writes resolved beneath a root: never through a symlink, atomic replacement.
@Suite("Writing beneath a root")
struct BeneathRootTests {
    /// A job directory with a sibling "outside" directory that must stay empty.
    struct Layout {
        let dir = TempDir()
        var job: String { dir.path + "/dags/job" }
        var outside: String { dir.path + "/outside" }

        init() {
            try! FileManager.default.createDirectory(atPath: dir.path + "/dags/job", withIntermediateDirectories: true)
            try! FileManager.default.createDirectory(atPath: dir.path + "/outside", withIntermediateDirectories: true)
        }

        /// The path of `outside` as seen from `/`, in components.
        var outsideFromRoot: [String] { (realPath(outside) ?? outside).split(separator: "/").map(String.init) }

        /// Plants in the job directory, as an earlier job could, a chain of symlinks resolving to `/`.
        func plantChain() throws -> String {
            let chain = chainToRoot(from: job)
            for link in chain.links { try symlink(job + "/" + link.name, to: link.target) }
            #expect(realPath(job + "/" + chain.last) == "/")
            return chain.last
        }
    }

    @Test("nested directories are created, files written with their mode, symlinks made but not followed")
    func nested() throws {
        let layout = Layout()
        defer { layout.dir.cleanup() }
        let root = try BeneathRoot(opening: layout.job)
        try root.writeFile(["a", "b", "c.txt"], entry: "a/b/c.txt", mode: 0o4755) { (sink) throws(ArtifactError) in
            try sink.write(Array("deep".utf8))
        }
        #expect(try String(contentsOfFile: layout.job + "/a/b/c.txt", encoding: .utf8) == "deep")
        #expect(mode(of: layout.job + "/a/b/c.txt") == 0o755)  // no setuid from an archive
        try root.makeSymlink(["a", "latest"], target: "b/c.txt", entry: "a/latest")
        #expect(try String(contentsOfFile: layout.job + "/a/latest", encoding: .utf8) == "deep")
        // A symlink to a directory inside is fine to make, but nothing is written through it.
        try root.makeSymlink(["alias"], target: "a/b", entry: "alias")
        let error = #expect(throws: ArtifactError.self) {
            try root.writeFile(["alias", "x.txt"], entry: "alias/x.txt", mode: 0o644) { _ throws(ArtifactError) in }
        }
        #expect(error?.message.contains("through the symlink 'alias'") == true, "\(error?.message ?? "")")
        #expect(names(in: layout.job + "/a/b") == ["c.txt"])
    }

    @Test("a chain of symlinks resolving to / (as an earlier job could leave) is never written through")
    func plantedChain() throws {
        let layout = Layout()
        defer { layout.dir.cleanup() }
        let last = try layout.plantChain()
        let root = try BeneathRoot(opening: layout.job)
        let escape = [last] + layout.outsideFromRoot
        let source = layout.dir.path + "/source.txt"
        #expect(FileManager.default.createFile(atPath: source, contents: Data("owned".utf8)))
        for attempt in 0 ..< 4 {
            let error = #expect(throws: ArtifactError.self, "attempt \(attempt)") {
                switch attempt {
                case 0: try root.writeFile(escape + ["owned.txt"], entry: "owned", mode: 0o644) { (sink) throws(ArtifactError) in
                    try sink.write(Array("owned".utf8))
                }
                case 1: try root.makeSymlink(escape + ["owned"], target: "/etc/passwd", entry: "owned")
                case 2: _ = try root.directory(escape + ["owned"], entry: "owned")
                default: try root.copyFile(from: source, to: escape + ["owned.txt"], entry: "owned", mode: 0o644)
                }
            }
            #expect(error?.message.contains("through the symlink '\(last)'") == true, "\(error?.message ?? "")")
        }
        #expect(names(in: layout.outside).isEmpty)
        #expect(root.firstSymlink(along: escape) == last)
    }

    @Test("a symlink planted at the file's own name is replaced, and what it pointed to is untouched")
    func plantedAtTheName() throws {
        let layout = Layout()
        defer { layout.dir.cleanup() }
        #expect(FileManager.default.createFile(atPath: layout.outside + "/target", contents: Data("sentinel".utf8)))
        try symlink(layout.job + "/f.txt", to: layout.outside + "/target")
        let root = try BeneathRoot(opening: layout.job)
        try root.writeFile(["f.txt"], entry: "f.txt", mode: 0o644) { (sink) throws(ArtifactError) in
            try sink.write(Array("mine".utf8))
        }
        #expect(!isSymlink(layout.job + "/f.txt"))
        #expect(try String(contentsOfFile: layout.job + "/f.txt", encoding: .utf8) == "mine")
        #expect(try String(contentsOfFile: layout.outside + "/target", encoding: .utf8) == "sentinel")
        #expect(names(in: layout.outside) == ["target"])
    }

    @Test("replacing a file is atomic: a reader keeps the old file whole; a failed write leaves it and no temporary")
    func atomicReplacement() throws {
        let layout = Layout()
        defer { layout.dir.cleanup() }
        let root = try BeneathRoot(opening: layout.job)
        let path = layout.job + "/sub/f.txt"
        try root.writeFile(["sub", "f.txt"], entry: "sub/f.txt", mode: 0o644) { (sink) throws(ArtifactError) in
            try sink.write(Array("old".utf8))
        }
        let reader = try #require(FileHandle(forReadingAtPath: path))
        defer { try? reader.close() }
        let before = inode(of: path)
        try root.writeFile(["sub", "f.txt"], entry: "sub/f.txt", mode: 0o644) { (sink) throws(ArtifactError) in
            try sink.write(Array("new content".utf8))
        }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "new content")
        #expect(inode(of: path) != before)  // renamed over, not rewritten in place
        #expect(String(decoding: try reader.readToEnd() ?? Data(), as: UTF8.self) == "old")

        let error = #expect(throws: ArtifactError.self) {
            try root.writeFile(["sub", "f.txt"], entry: "sub/f.txt", mode: 0o644) { (sink) throws(ArtifactError) in
                try sink.write(Array("partial".utf8))
                throw ArtifactError(.corrupt, "cut short")
            }
        }
        #expect(error?.message == "cut short")
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "new content")
        #expect(names(in: layout.job + "/sub") == ["f.txt"])
    }

    @Test("empty, '.', '..' and absolute components are refused", arguments: [
        ["", "x"], [".", "x"], ["..", "x"], ["a", "..", "..", "x"], ["/etc", "x"], ["a/b", "x"], ["x", ".."],
    ])
    func badComponents(components: [String]) throws {
        let layout = Layout()
        defer { layout.dir.cleanup() }
        let root = try BeneathRoot(opening: layout.job)
        let error = #expect(throws: ArtifactError.self) {
            try root.writeFile(components, entry: components.joined(separator: "/"), mode: 0o644) { _ throws(ArtifactError) in }
        }
        #expect(error?.kind == .invalid)
        #expect(names(in: layout.job).isEmpty)
        #expect(names(in: layout.outside).isEmpty)
    }

    // MARK: Artifacts put in place by the worker's cache

    /// A cache holding `content` as a file; returns it and the content's hash.
    static func cache(in dir: TempDir, holding content: [UInt8]) throws -> (ArtifactCache, String) {
        let cache = try ArtifactCache(directory: dir.path + "/cache")
        var hasher = ContentHasher()
        hasher.update(content)
        let hash = hasher.finalize()
        var download = try cache.beginDownload(hash: hash)
        try download.append(content)
        try cache.finish(download, expectedSize: UInt64(content.count))
        return (cache, hash)
    }

    @Test("an artifact whose destination passes through a planted symlink is refused; nothing lands outside")
    func artifactThroughPlantedSymlink() throws {
        let layout = Layout()
        defer { layout.dir.cleanup() }
        // A parent job left `data -> outside` in the shared DAG directory.
        try symlink(layout.job + "/data", to: layout.outside)
        let (cache, hash) = try Self.cache(in: layout.dir, holding: Array("owned\n".utf8))
        let file = ArtifactRef(hash: hash, size: 6, kind: .file, destination: "data/run.sh")
        #expect(file.problem == nil)  // textually fine: only the walk sees the symlink
        let error = #expect(throws: ArtifactError.self) { try cache.materialize(file, into: layout.job) }
        #expect(error?.message.contains("through the symlink 'data'") == true, "\(error?.message ?? "")")
        #expect(error?.message.contains(hash) == true)

        // The chain to `/`, then a destination through it.
        let last = try layout.plantChain()
        let escape = ([last] + layout.outsideFromRoot).joined(separator: "/")
        #expect(throws: ArtifactError.self) {
            try cache.materialize(ArtifactRef(hash: hash, size: 6, kind: .file, destination: escape + "/run.sh"), into: layout.job)
        }
        // An archive artifact extracted into a directory through the chain.
        let zip = layout.dir.path + "/p.zip"
        try handmadeZip(at: zip, [("run.sh", .file, "owned")])
        let archive = try Self.cache(in: layout.dir, holding: Array(try Data(contentsOf: URL(fileURLWithPath: zip))))
        let size = UInt64(try Data(contentsOf: URL(fileURLWithPath: zip)).count)
        for destination in ["data", escape] {
            let ref = ArtifactRef(hash: archive.1, size: size, kind: .archive, destination: destination)
            let refused = #expect(throws: ArtifactError.self, "\(destination)") { try archive.0.materialize(ref, into: layout.job) }
            #expect(refused?.message.contains("through the symlink") == true, "\(refused?.message ?? "")")
        }
        #expect(names(in: layout.outside).isEmpty)

        // The same artifacts where nothing is planted land where they should.
        try cache.materialize(ArtifactRef(hash: hash, size: 6, kind: .file, destination: "bin/run.sh", executable: true),
                              into: layout.job)
        #expect(try String(contentsOfFile: layout.job + "/bin/run.sh", encoding: .utf8) == "owned\n")
        #expect(mode(of: layout.job + "/bin/run.sh") == 0o755)
        try archive.0.materialize(ArtifactRef(hash: archive.1, size: size, kind: .archive, destination: "unpacked/here"),
                                  into: layout.job)
        #expect(try String(contentsOfFile: layout.job + "/unpacked/here/run.sh", encoding: .utf8) == "owned")
    }
}
