import Foundation

/// The repository's Markdown files and the fenced code blocks in them, for DocSnippetTests.
enum Docs {
    /// The repository root (this file is Tests/TitanIntegrationTests/DocBlocks.swift).
    static let root: String = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// Every Markdown file of the repository, relative to the root, sorted; build output and
    /// hidden directories left out.
    static func markdownFiles(under root: String = root) -> [String] {
        let skipped: Set<String> = ["build", "node_modules", "__pycache__", "corpus", "artifacts"]
        var files: [String] = []
        var pending = [""]
        while let relative = pending.popLast() {
            let directory = relative.isEmpty ? root : root + "/" + relative
            for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
                if name.hasPrefix(".") || skipped.contains(name) || name.hasSuffix(".egg-info") { continue }
                let path = relative.isEmpty ? name : relative + "/" + name
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: root + "/" + path, isDirectory: &isDirectory) else { continue }
                if isDirectory.boolValue {
                    pending.append(path)
                } else if name.hasSuffix(".md") {
                    files.append(path)
                }
            }
        }
        return files.sorted()
    }

    static func read(_ relative: String, root: String = root) throws -> String {
        try String(contentsOfFile: root + "/" + relative, encoding: .utf8)
    }
}

/// What a doc says about the block that follows, in an HTML comment on the line right before
/// its opening fence (GitHub does not render it): `<!-- not-tested: why -->`,
/// `<!-- compile-only: why -->` (Python: compiled and checked against the SDK, not run),
/// `<!-- signature: titan_sdk.TitanJob -->` (a Python signature compared with the real one),
/// `<!-- modules -->` (the module listing, compared with Package.swift).
enum DocMarker: Equatable, Sendable {
    case notTested(reason: String)
    case compileOnly(reason: String)
    case signature(String)
    case modules

    static let names = ["not-tested", "compile-only", "signature", "modules"]

    /// The marker in `line`, nil if it holds none. A marker whose name is known but that lacks
    /// what it needs (a reason, a symbol) is returned with an empty one: the test names it.
    static func parse(_ line: String) -> DocMarker? {
        let text = line.trimmingCharacters(in: .whitespaces)
        guard text.hasPrefix("<!--"), text.hasSuffix("-->") else { return nil }
        let body = text.dropFirst(4).dropLast(3).trimmingCharacters(in: .whitespaces)
        let name: String, value: String
        if let colon = body.firstIndex(of: ":") {
            name = body[..<colon].trimmingCharacters(in: .whitespaces)
            value = body[body.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        } else {
            name = body
            value = ""
        }
        switch name {
        case "not-tested": return .notTested(reason: value)
        case "compile-only": return .compileOnly(reason: value)
        case "signature": return .signature(value)
        case "modules": return .modules
        default: return nil
        }
    }
}

/// A fenced code block of a Markdown file.
struct DocBlock: Sendable, CustomStringConvertible {
    /// The file, relative to the repository root.
    var file: String
    /// The line of the opening fence (1-based).
    var line: Int
    /// The fence's info string's first word, lowercased ("" if none).
    var language: String
    var lines: [String]
    var marker: DocMarker?

    var text: String { lines.joined(separator: "\n") + "\n" }

    /// The document line of the block's line `n` (1-based).
    func documentLine(_ n: Int) -> Int { line + max(n, 1) }

    var description: String { "\(file):\(line) (\(language.isEmpty ? "untagged" : language) block)" }

    /// Every fenced block of `markdown` (``` or ~~~ fences, indented up to any depth as in
    /// list items; a block ends at a fence of the same character at least as long).
    static func blocks(in markdown: String, file: String) -> [DocBlock] {
        let lines = markdown.components(separatedBy: "\n")
        var blocks: [DocBlock] = []
        var index = 0
        while index < lines.count {
            let trimmed = lines[index].drop(while: { $0 == " " })
            guard let fence = trimmed.first, fence == "`" || fence == "~" else {
                index += 1
                continue
            }
            let length = trimmed.prefix(while: { $0 == fence }).count
            guard length >= 3 else {
                index += 1
                continue
            }
            let info = trimmed.dropFirst(length).trimmingCharacters(in: .whitespaces)
            let language = info.split(separator: " ").first.map { String($0).lowercased() } ?? ""
            let marker = index > 0 ? DocMarker.parse(lines[index - 1]) : nil
            var end = index + 1
            while end < lines.count {
                let candidate = lines[end].drop(while: { $0 == " " })
                if candidate.prefix(while: { $0 == fence }).count >= length
                    && candidate.drop(while: { $0 == fence }).allSatisfy(\.isWhitespace) {
                    break
                }
                end += 1
            }
            blocks.append(DocBlock(file: file, line: index + 1, language: language,
                                   lines: Array(lines[(index + 1)..<min(end, lines.count)]), marker: marker))
            index = end + 1
        }
        return blocks
    }
}

/// A problem a doc check found, where it is.
struct DocProblem: Sendable, CustomStringConvertible, Equatable {
    var file: String
    var line: Int
    var message: String

    var description: String { "\(file):\(line): \(message)" }
}

/// Paths that docs name: they must stay inside the repository and exist.
enum DocPaths {
    /// Directory prefixes the root .gitignore lists (`Fuzz/artifacts/`): made by tools, never
    /// in a checkout, so a doc may name them.
    static func ignoredPrefixes(root: String) -> [String] {
        let text = (try? String(contentsOfFile: root + "/.gitignore", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { $0.hasSuffix("/") && !$0.contains("*") && !$0.hasPrefix("#") }
    }

    /// Whether `word` reads as a path inside the repository: relative, and its first
    /// component (after `./`) an entry of `base` (a directory inside the repository). Paths
    /// with wildcards or placeholders (`*`, `...`, `<name>`, `$X`) and build output are not
    /// checked; a placeholder in capitals (`Samples/NAME.yaml`) is not told from a file's name.
    static func isCandidate(_ word: String, base: String) -> Bool {
        guard word.contains("/"), !word.hasPrefix("/"), !word.hasPrefix("~"), !word.contains("://") else { return false }
        if ["*", "...", "<", "$", "{", "…"].contains(where: { word.contains($0) }) { return false }
        var components = word.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        while components.first == "." { components.removeFirst() }
        guard let first = components.first else { return false }
        if components.contains(where: { $0.hasPrefix(".build") }) { return false }
        return FileManager.default.fileExists(atPath: base + "/" + first)
    }

    /// The problem with `word`, a path relative to `base` (an absolute directory), if it leaves
    /// the repository or does not exist.
    static func problem(_ word: String, base: String, root: String, ignored: [String]) -> String? {
        let resolved = URL(fileURLWithPath: base + "/" + word).standardizedFileURL.path
        guard resolved == root || resolved.hasPrefix(root + "/") else {
            return "'\(word)' points outside the repository"
        }
        let inRepository = String(resolved.dropFirst(root.count)).drop(while: { $0 == "/" })
        if ignored.contains(where: { (inRepository + "/").hasPrefix($0) }) { return nil }
        guard FileManager.default.fileExists(atPath: resolved) else {
            return "'\(word)' does not exist (\(inRepository))"
        }
        return nil
    }
}
