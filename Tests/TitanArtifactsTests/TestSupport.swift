import Foundation
import ZIPFoundation

/// A fresh directory under the system temp dir, removed by `cleanup()`.
struct TempDir {
    let path: String

    init(path: String) { self.path = path }

    init() {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("titan-artifacts-\(UUID().uuidString)").path
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ relative: String, _ text: String, mode: Int = 0o644) {
        let full = path + "/" + relative
        try! FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent,
                                                 withIntermediateDirectories: true)
        try! Data(text.utf8).write(to: URL(fileURLWithPath: full))
        chmod(full, mode_t(mode))
    }

    func read(_ relative: String) -> String? {
        try? String(contentsOfFile: path + "/" + relative, encoding: .utf8)
    }

    func cleanup() { try? FileManager.default.removeItem(atPath: path) }
}

/// A zip built entry by entry, for archives no honest zipper would make.
func handmadeZip(at path: String, _ entries: [(path: String, type: Entry.EntryType, content: String)]) throws {
    let archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .create)
    for entry in entries {
        let data = Data(entry.content.utf8)
        try archive.addEntry(with: entry.path, type: entry.type, uncompressedSize: Int64(data.count),
                             permissions: entry.type == .directory ? 0o755 : 0o644) { position, size in
            data.subdata(in: Int(position) ..< Int(position) + size)
        }
    }
}

func mode(of path: String) -> Int {
    var info = stat()
    guard stat(path, &info) == 0 else { return -1 }
    return Int(info.st_mode & 0o777)
}

/// Makes a symlink at `path` pointing to `target` (as written).
func symlink(_ path: String, to target: String) throws {
    try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: target)
}

/// The names in `directory`, sorted; empty when it is missing.
func names(in directory: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
}

/// What the system makes of `path` with every symlink followed, or nil.
func realPath(_ path: String) -> String? {
    guard let resolved = realpath(path, nil) else { return nil }
    defer { free(resolved) }
    return String(cString: resolved)
}

func inode(of path: String) -> UInt64 {
    var info = stat()
    guard lstat(path, &info) == 0 else { return 0 }
    return UInt64(info.st_ino)
}

func isSymlink(_ path: String) -> Bool {
    var info = stat()
    return lstat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFLNK
}

/// A chain of symlinks `l0 -> .`, `l1 -> l0/..`, ... in `directory` whose last link resolves to
/// `/`: every link's target looks harmless on its own. Returns the entries (name, target) and
/// the last link's name.
func chainToRoot(from directory: String) -> (links: [(name: String, target: String)], last: String) {
    let depth = (realPath(directory) ?? directory).split(separator: "/").count
    var links = [(name: "l0", target: ".")]
    for i in 1 ... depth { links.append((name: "l\(i)", target: "l\(i - 1)/..")) }
    return (links, "l\(depth)")
}
