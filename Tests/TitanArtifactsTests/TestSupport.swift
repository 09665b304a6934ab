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
