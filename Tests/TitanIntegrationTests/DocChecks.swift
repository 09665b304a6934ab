import Foundation
import Testing
import TitanPipeline

/// The checks DocSnippetTests runs on each kind of block, returning what they find (so the
/// checks themselves can be tested on docs made wrong on purpose).
enum DocChecks {
    // MARK: Swift

    /// `swiftc` and the flags SwiftPM compiles TitanIntegrationTests with that let a file see the
    /// built modules (module search paths, C module maps, module cache, target, language
    /// mode), read from the build's manifest. Not `-package-name`: a snippet is a user's code,
    /// outside the package, and sees only what is public.
    static func swiftInvocation() throws -> (swiftc: String, flags: [String]) {
        let candidates = [
            Tools.binDirectory.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("debug.yaml").path,
            Docs.root + "/.build/debug.yaml",
        ]
        guard let manifest = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
            throw DocCheckError("no SwiftPM build manifest at \(candidates.joined(separator: " or ")); build first")
        }
        let text = try String(contentsOfFile: manifest, encoding: .utf8)
        guard let line = text.split(separator: "\n").first(where: {
            $0.contains("\"-module-name\",\"TitanIntegrationTests\"") && $0.contains("args:")
        }), let open = line.firstIndex(of: "[") else {
            throw DocCheckError("\(manifest) has no compile command for TitanIntegrationTests")
        }
        guard let args = try JSONSerialization.jsonObject(with: Data(line[open...].utf8)) as? [String], let swiftc = args.first else {
            throw DocCheckError("\(manifest): the compile command of TitanIntegrationTests is not a list of strings")
        }
        var flags: [String] = []
        let withValue: Set<String> = ["-I", "-Xcc", "-module-cache-path", "-target", "-swift-version", "-sdk", "-resource-dir", "-F"]
        var i = 1
        while i < args.count {
            if withValue.contains(args[i]), i + 1 < args.count {
                flags += [args[i], args[i + 1]]
                i += 2
            } else {
                i += 1
            }
        }
        return (swiftc, flags)
    }

    /// The library products Package.swift declares.
    static func libraryProducts() throws -> Set<String> {
        let manifest = try Docs.read("Package.swift")
        return Set(manifest.matches(of: try Regex(#"\.library\(name: "(\w+)""#)).compactMap { $0.output[1].substring.map(String.init) })
    }

    /// Type-checks a Swift block as a user's `main.swift` would be; its `import`s of Titan
    /// modules must be library products (a user can depend on nothing else).
    static func swiftProblems(_ block: DocBlock, scratch: String) async throws -> [DocProblem] {
        var problems: [DocProblem] = []
        let products = try libraryProducts()
        for (n, line) in block.lines.enumerated() {
            let words = line.split(separator: " ")
            guard let index = words.firstIndex(of: "import"), index + 1 < words.count else { continue }
            let module = String(words[index + 1].split(separator: ".").first ?? "")
            if module.hasPrefix("Titan") && !products.contains(module) {
                problems.append(DocProblem(file: block.file, line: block.documentLine(n + 1),
                                           message: "imports \(module), which is not a library product (\(products.sorted().joined(separator: ", ")))"))
            }
        }
        let (status, output) = try await typeCheck(block.text, scratch: scratch)
        if status != 0 {
            problems.append(DocProblem(file: block.file, line: block.line,
                                       message: "does not type-check:\n" + relocate(output, to: block)))
        }
        return problems
    }

    /// `swiftc -typecheck` of `source` as a main.swift: the exit status and the diagnostics.
    static func typeCheck(_ source: String, scratch: String) async throws -> (Int32, String) {
        let (swiftc, flags) = try swiftInvocation()
        let directory = scratch + "/swift-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let file = directory + "/main.swift"
        try source.write(toFile: file, atomically: true, encoding: .utf8)
        let child = try await Spawned.start([swiftc, "-typecheck", file] + flags)
        defer { child.signal(SIGKILL) }  // a no-op once it exited
        guard let status = await child.waitExit(timeout: 180) else {
            return (-1, "swiftc did not finish within 180 s")
        }
        return (status, child.stdout + child.stderr)
    }

    /// Diagnostics of `main.swift:LINE:` say the document's line instead.
    static func relocate(_ output: String, to block: DocBlock) -> String {
        output.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            guard let match = line.firstMatch(of: try! Regex(#"[^ ]*main\.swift:(\d+):"#)),
                  let n = match.output[1].substring.flatMap({ Int($0) }) else { return String(line) }
            return line.replacingCharacters(in: match.range, with: "\(block.file):\(block.documentLine(n)):")
        }.joined(separator: "\n")
    }

    // MARK: Shell

    /// Each `titan`/`titan-node` command checked against the binaries' help; programs and
    /// arguments that are paths in the repository must exist (`cd` is followed).
    static func shellProblems(_ block: DocBlock, cli: CLIChecker) async throws -> [DocProblem] {
        var problems: [DocProblem] = []
        let ignored = DocPaths.ignoredPrefixes(root: Docs.root)
        var cwd = Docs.root
        for command in ShellLexer.commands(in: block.text) {
            var words = command.words
            while let first = words.first, first.contains("="), first.first?.isLetter == true || first.first == "_",
                  first.prefix(while: { $0 != "=" }).allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) {
                words.removeFirst()  // VAR=value before the program
            }
            if words.first == "sudo" { words.removeFirst() }
            guard let program = words.first else { continue }
            let at = block.documentLine(command.line)
            if program == "cd", words.count > 1 {
                if let problem = DocPaths.problem(words[1], base: cwd, root: Docs.root, ignored: ignored) {
                    problems.append(DocProblem(file: block.file, line: at, message: problem))
                } else {
                    cwd = URL(fileURLWithPath: cwd + "/" + words[1]).standardizedFileURL.path
                }
                continue
            }
            if program == "titan" || program == "titan-node" {
                for message in try await cli.problems(words) {
                    problems.append(DocProblem(file: block.file, line: at, message: message))
                }
            }
            for word in words where DocPaths.isCandidate(word, base: cwd) {
                if let problem = DocPaths.problem(word, base: cwd, root: Docs.root, ignored: ignored) {
                    problems.append(DocProblem(file: block.file, line: at, message: problem))
                }
            }
        }
        return problems
    }

    /// `titan`/`titan-node` commands quoted in the text (code spans), checked like those of
    /// shell blocks.
    static func inlineCommandProblems(_ text: String, file: String, cli: CLIChecker) async throws -> [DocProblem] {
        let span = try Regex("`([^`\\n]+)`")
        var problems: [DocProblem] = []
        for (n, line) in text.components(separatedBy: "\n").enumerated() {
            for match in line.matches(of: span) {
                guard let content = match.output[1].substring else { continue }
                for command in ShellLexer.commands(in: String(content)) where ["titan", "titan-node"].contains(command.words[0]) {
                    for message in try await cli.problems(command.words) {
                        problems.append(DocProblem(file: file, line: n + 1, message: message))
                    }
                }
            }
        }
        return problems
    }

    /// A checker whose help comes from the built binaries, each asked once.
    static func liveCLIChecker() -> CLIChecker {
        let cache = HelpCache()
        return CLIChecker(help: { path in try await cache.help(path) })
    }

    actor HelpCache {
        private var helps: [[String]: CommandHelp] = [:]

        func help(_ path: [String]) async throws -> CommandHelp {
            if let known = helps[path] { return known }
            let run = try await Tools.run(path[0], Array(path.dropFirst()) + ["--help"], environment: ["TITAN_MASTER": "127.0.0.1:1"])
            guard run.status == 0, run.stdout.contains("USAGE:") else {
                throw DocCheckError("\(path.joined(separator: " ")) --help failed (\(run.status)): \(run.stderr)")
            }
            let help = CommandHelp(parsing: run.stdout)
            helps[path] = help
            return help
        }
    }

    // MARK: Python

    /// How a Python block is checked: compiled and checked against the SDK, run too, or
    /// compared as a signature.
    enum PythonMode {
        case check, run(master: String), signature(String)
    }

    /// Runs scripts/check-doc-python.py on the block; its `LINE: message` lines become problems.
    static func pythonProblems(_ block: DocBlock, mode: PythonMode, scratch: String) async throws -> [DocProblem] {
        let file = scratch + "/block-\(UUID().uuidString).py"
        try block.text.write(toFile: file, atomically: true, encoding: .utf8)
        var arguments = ["python3", Docs.root + "/scripts/check-doc-python.py"]
        var environment = ["PYTHONPATH": Docs.root + "/python", "TITAN_TLS_CA": "", "PYTHONDONTWRITEBYTECODE": "1"]
        switch mode {
        case .check: break
        case .run(let master):
            arguments.append("--run")
            environment["TITAN_MASTER"] = master
            environment["TITAN_TOKEN"] = ""
            environment["TITAN_TOKEN_FILE"] = ""
        case .signature(let symbol): arguments += ["--signature", symbol]
        }
        let child = try await Spawned.start(arguments + [file], environment: environment)
        defer { child.signal(SIGKILL) }  // a no-op once it exited
        guard let status = await child.waitExit(timeout: 120) else {
            return [DocProblem(file: block.file, line: block.line, message: "did not finish within 120 s: \(child.stdout)\(child.stderr)")]
        }
        guard status != 0 else { return [] }
        var problems: [DocProblem] = []
        for line in child.stdout.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":"), let n = Int(line[..<colon]) else { continue }
            problems.append(DocProblem(file: block.file, line: block.documentLine(n),
                                       message: line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        if problems.isEmpty {
            problems.append(DocProblem(file: block.file, line: block.line,
                                       message: "failed (exit \(status)):\n\(child.stdout)\(child.stderr)"))
        }
        return problems
    }

    // MARK: YAML

    /// A pipeline block loaded by the pipeline loader, with the scripts it names made empty
    /// beside it (a doc shows the pipeline, not its scripts).
    static func yamlProblems(_ block: DocBlock, scratch: String) throws -> [DocProblem] {
        guard block.lines.contains(where: { $0.hasPrefix("jobs:") }) else {
            return [DocProblem(file: block.file, line: block.line,
                               message: "a YAML block that is not a pipeline: nothing checks it; mark it not-tested with a reason")]
        }
        let directory = scratch + "/pipeline-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let fileKey = try Regex(#"^\s*(?:-\s+)?file:\s*["']?([^"'#\s]+)"#)
        for line in block.lines {
            guard let match = line.firstMatch(of: fileKey), let script = match.output[1].substring else { continue }
            let path = directory + "/" + script
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                    withIntermediateDirectories: true)
            try Data().write(to: URL(fileURLWithPath: path))
        }
        let name = URL(fileURLWithPath: block.file).deletingPathExtension().lastPathComponent
        let path = directory + "/\(name)-\(block.line).yaml"
        try block.text.write(toFile: path, atomically: true, encoding: .utf8)
        do {
            _ = try PipelineLoader.load(path: path)
            return []
        } catch {
            return [DocProblem(file: block.file, line: error.line > 0 ? block.documentLine(error.line) : block.line,
                               message: "the pipeline loader refuses it: \(error.key.isEmpty ? "" : error.key + ": ")\(error.message)")]
        }
    }

    // MARK: The module listing

    /// The names a `<!-- modules -->` block lists (the first word of each unindented line)
    /// against the targets of Package.swift (test targets left out).
    static func moduleProblems(_ block: DocBlock) throws -> [DocProblem] {
        let manifest = try Docs.read("Package.swift")
        let pattern = try Regex(#"\.(?:target|executableTarget|systemLibrary)\(name: "(\w+)"(?:, path: "([^"]*)")?"#)
        var targets = Set<String>()
        for match in manifest.matches(of: pattern) {
            if let path = match.output[2].substring, path.hasPrefix("Tests/") { continue }
            if let name = match.output[1].substring { targets.insert(String(name)) }
        }
        var listed: [String: Int] = [:]
        for (n, line) in block.lines.enumerated() {
            guard let first = line.first, !first.isWhitespace else { continue }
            listed[String(line.prefix(while: { !$0.isWhitespace }))] = block.documentLine(n + 1)
        }
        var problems: [DocProblem] = []
        for (name, line) in listed.sorted(by: { $0.value < $1.value }) where !targets.contains(name) {
            problems.append(DocProblem(file: block.file, line: line, message: "lists \(name), which Package.swift has no target for"))
        }
        for name in targets.subtracting(listed.keys).sorted() {
            problems.append(DocProblem(file: block.file, line: block.line, message: "leaves out the target \(name)"))
        }
        return problems
    }

    // MARK: Links and paths

    /// What in `text` (the file `file`, relative to `root`) points outside the repository or
    /// at nothing: Markdown links, paths climbing with `../`, absolute paths of one machine,
    /// and code spans naming a path of the repository.
    static func pathProblems(_ text: String, file: String, root: String = Docs.root) throws -> [DocProblem] {
        let ignored = DocPaths.ignoredPrefixes(root: root)
        let base = URL(fileURLWithPath: root + "/" + file).deletingLastPathComponent().path
        let link = try Regex(#"\]\(([^)\s]+)(?:\s+"[^"]*")?\)"#)
        let climbing = try Regex(#"(?:\.\./)+[A-Za-z0-9_.\-/]*"#)
        let span = try Regex("`([^`\\n]+)`")
        let machinePaths = ["/work/", "/home/", "/Users/", "/root/", "/mnt/", "file://", "C:\\"]
        var problems: [DocProblem] = []
        for (n, line) in text.components(separatedBy: "\n").enumerated() {
            func add(_ message: String) { problems.append(DocProblem(file: file, line: n + 1, message: message)) }
            for prefix in machinePaths where line.contains(prefix) {
                add("'\(prefix)' is a path on one machine: docs name paths inside the repository")
            }
            for match in line.matches(of: link) {
                guard var target = match.output[1].substring.map(String.init) else { continue }
                if target.hasPrefix("http://") || target.hasPrefix("https://") || target.hasPrefix("mailto:") || target.hasPrefix("#") {
                    continue
                }
                if let hash = target.firstIndex(of: "#") { target = String(target[..<hash]) }
                if let problem = DocPaths.problem(target, base: base, root: root, ignored: ignored) { add("link: " + problem) }
            }
            for match in line.matches(of: climbing) {
                let path = String(line[match.range])
                if let problem = DocPaths.problem(path, base: base, root: root, ignored: ignored) { add(problem) }
            }
            for match in line.matches(of: span) {
                guard let content = match.output[1].substring,
                      let word = content.split(separator: " ").first.map(String.init), !word.contains("../") else { continue }
                let from = [base, root].first { DocPaths.isCandidate(word, base: $0) }
                if let from, let problem = DocPaths.problem(word, base: from, root: root, ignored: ignored) { add(problem) }
            }
        }
        return problems
    }

    /// Names of test suites and targets the docs mention (`…Tests`) that no test declares.
    static func testNameProblems(_ text: String, file: String, known: Set<String>) throws -> [DocProblem] {
        let name = try Regex(#"\b[A-Z][A-Za-z0-9]*Tests\b"#)
        var problems: [DocProblem] = []
        for (n, line) in text.components(separatedBy: "\n").enumerated() {
            for match in line.matches(of: name) where !known.contains(String(line[match.range])) {
                problems.append(DocProblem(file: file, line: n + 1,
                                           message: "names \(line[match.range]), which no test target or suite is called"))
            }
        }
        return problems
    }

    /// Test target directories and the suites (types named …Tests) declared under Tests/.
    static func testNames() throws -> Set<String> {
        var names = Set<String>()
        let tests = Docs.root + "/Tests"
        let declaration = try Regex(#"(?:struct|class|enum|actor)\s+([A-Z]\w*Tests)\b"#)
        for target in try FileManager.default.contentsOfDirectory(atPath: tests) {
            names.insert(target)
            for file in (try? FileManager.default.contentsOfDirectory(atPath: tests + "/" + target)) ?? [] where file.hasSuffix(".swift") {
                let source = try String(contentsOfFile: tests + "/" + target + "/" + file, encoding: .utf8)
                for match in source.matches(of: declaration) {
                    if let found = match.output[1].substring { names.insert(String(found)) }
                }
            }
        }
        return names
    }
}

struct DocCheckError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
