import Foundation

/// One simple command of a shell block: its words (quotes removed) and the block line it
/// starts on.
struct ShellCommand: Equatable, Sendable {
    var words: [String]
    var line: Int
}

/// Splits shell text from the docs into simple commands. Beyond the shell's own rules
/// (quotes, backslashes, `#` comments, `;`, `&&`, `||`, `|`, `&`, line continuations) it reads
/// the docs' usage notation: `[` and `]` around optional parts are dropped, and `a|b` inside
/// a word lists alternatives (a pipe stands between spaces).
enum ShellLexer {
    static func commands(in text: String) -> [ShellCommand] {
        let chars = Array(text)
        var commands: [ShellCommand] = []
        var words: [String] = []
        var word = ""
        var started = false
        var line = 1
        var commandLine = 1
        var i = 0

        func endWord() {
            if started {
                if words.isEmpty { commandLine = line }
                words.append(word)
            }
            word = ""
            started = false
        }
        func endCommand() {
            endWord()
            if !words.isEmpty { commands.append(ShellCommand(words: words, line: commandLine)) }
            words = []
        }
        func next(_ offset: Int = 1) -> Character? { i + offset < chars.count ? chars[i + offset] : nil }

        while i < chars.count {
            let c = chars[i]
            switch c {
            case "\\":
                if next() == "\n" {
                    line += 1
                } else if let escaped = next() {
                    word.append(escaped)
                    started = true
                }
                i += 2
                continue
            case "'", "\"":
                started = true
                var j = i + 1
                while j < chars.count && chars[j] != c {
                    if c == "\"" && chars[j] == "\\" && j + 1 < chars.count { j += 1 }
                    if chars[j] == "\n" { line += 1 }
                    word.append(chars[j])
                    j += 1
                }
                i = j + 1
                continue
            case " ", "\t", "[", "]":
                endWord()
            case "\n":
                endCommand()
                line += 1
            case "#" where !started:
                while i < chars.count && chars[i] != "\n" { i += 1 }
                continue
            case ";":
                endCommand()
            case "&":
                endCommand()
                if next() == "&" { i += 1 }
            case "|":
                if started && !word.isEmpty, let after = next(), !after.isWhitespace, after != "|" {
                    word.append(c)  // alternatives: always|everysec|no
                } else {
                    endCommand()
                    if next() == "|" { i += 1 }
                }
            default:
                word.append(c)
                started = true
            }
            i += 1
        }
        endCommand()
        return commands
    }
}

/// What a command's `--help` says it takes (swift-argument-parser's layout).
struct CommandHelp: Sendable, Equatable {
    struct Option: Sendable, Equatable {
        var takesValue: Bool
        /// The values it accepts, when the help lists them (`(values: always, everysec, no)`).
        var values: [String]?
    }

    var options: [String: Option] = [:]
    var subcommands: Set<String> = []
    var takesArguments = false

    init(parsing help: String) {
        enum Section { case other, options, subcommands, arguments }
        var section = Section.other
        var entry: (names: [String], takesValue: Bool, description: String)?
        func finishEntry() {
            guard let current = entry else { return }
            var values: [String]?
            if let range = current.description.range(of: "(values: ") {
                let rest = current.description[range.upperBound...]
                let list = rest.prefix(while: { $0 != ";" && $0 != ")" })
                values = list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            }
            for name in current.names { options[name] = Option(takesValue: current.takesValue, values: values) }
            entry = nil
        }
        for line in help.components(separatedBy: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if !line.hasPrefix(" "), trimmed.hasSuffix(":"), trimmed.first?.isUppercase == true {
                finishEntry()
                let title = trimmed.uppercased()
                section = title.contains("SUBCOMMANDS") ? .subcommands
                    : title.contains("OPTIONS") ? .options
                    : title.contains("ARGUMENTS") ? .arguments : .other
                continue
            }
            if !line.hasPrefix(" ") && !trimmed.isEmpty {
                finishEntry()
                section = .other  // OVERVIEW:, USAGE: and their text
                continue
            }
            switch section {
            case .options:
                if line.hasPrefix("  -") {
                    finishEntry()
                    let body = line.dropFirst(2)
                    let column = body.range(of: "  ").map { String(body[..<$0.lowerBound]) } ?? String(body)
                    let names = column.split(whereSeparator: { $0 == " " || $0 == "," })
                        .filter { $0.hasPrefix("-") }
                        .flatMap { $0.split(separator: "/").map(String.init) }
                    entry = (names, column.contains("<"), String(body.dropFirst(column.count)))
                } else if entry != nil {
                    entry!.description += " " + trimmed
                }
            case .subcommands:
                if line.hasPrefix("  "), let first = line.dropFirst(2).first, first.isLowercase {
                    let name = line.dropFirst(2).prefix(while: { !$0.isWhitespace })
                    subcommands.insert(String(name))
                }
            case .arguments:
                if line.hasPrefix("  <") { takesArguments = true }
            case .other:
                break
            }
        }
        finishEntry()
    }
}

/// Checks commands of the docs against `titan`/`titan-node --help`: each subcommand exists,
/// each flag is one the command takes, a flag's value is one it accepts where its help lists
/// them, and a command without arguments gets none.
struct CLIChecker {
    /// The help of `titan`/`titan-node` followed by a subcommand path, e.g. ["titan", "kv", "set"].
    var help: ([String]) async throws -> CommandHelp

    /// Problems with `words` (`titan ...` or `titan-node ...`), as messages.
    func problems(_ words: [String]) async throws -> [String] {
        var path = [words[0]]
        var current = try await help(path)
        var problems: [String] = []
        var positional = false
        var i = 1
        while i < words.count {
            let word = words[i]
            if word == "--" { break }
            if word.hasPrefix("-") && word != "-" {
                let name = word.split(separator: "=", maxSplits: 1).first.map(String.init) ?? word
                guard let option = current.options[name] else {
                    problems.append("'\(path.joined(separator: " "))' has no option '\(name)'")
                    i += 1
                    continue
                }
                if option.takesValue && !word.contains("=") {
                    guard i + 1 < words.count else {
                        problems.append("'\(path.joined(separator: " ")) \(name)' needs a value")
                        break
                    }
                    let value = words[i + 1]
                    if let values = option.values {
                        for alternative in value.split(separator: "|").map(String.init) where !values.contains(alternative) {
                            problems.append("'\(path.joined(separator: " ")) \(name)' takes \(values.joined(separator: ", ")), not '\(alternative)'")
                        }
                    }
                    i += 2
                } else {
                    i += 1
                }
                continue
            }
            if !positional && !current.subcommands.isEmpty {
                guard current.subcommands.contains(word) else {
                    problems.append("'\(path.joined(separator: " "))' has no subcommand '\(word)'")
                    return problems
                }
                path.append(word)
                current = try await help(path)
                i += 1
                continue
            }
            if !current.takesArguments {
                problems.append("'\(path.joined(separator: " "))' takes no arguments, got '\(word)'")
            }
            positional = true
            i += 1
        }
        return problems
    }
}
