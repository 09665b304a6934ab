import Yams

/// Yams errors as `PipelineError`s, at the line and column Yams reports.
enum YAMLErrorConversion {
    static func convert(_ error: any Error, path: String, yaml: String) -> PipelineError {
        guard let yamlError = error as? YamlError else {
            return PipelineError(path: path, message: "invalid YAML: \(error)")
        }
        switch yamlError {
        case .scanner(let context, let problem, let mark, _),
             .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            var message = "invalid YAML: \(problem)"
            if let context, problem.hasPrefix("but ") {
                // The composer's wording: context "expected X", problem "but found Y".
                message = "invalid YAML: \(context.text) (line \(context.mark.line), column \(context.mark.column)) \(problem)"
            } else if let context {
                if context.mark.line == mark.line && context.mark.column == mark.column {
                    message += " (\(context.text))"
                } else {
                    message += " (\(context.text) at line \(context.mark.line), column \(context.mark.column))"
                }
            }
            return PipelineError(path: path, line: mark.line, column: mark.column, message: message)
        case .reader(let problem, let offset, let value, _):
            var message = "invalid YAML: \(problem)"
            if value >= 0 { message += " (character U+\(String(value, radix: 16, uppercase: true)))" }
            let position = offset.map { lineAndColumn(ofCharacter: $0, in: yaml) }
            return PipelineError(path: path, line: position?.line ?? 0, column: position?.column ?? 0,
                                 message: message)
        case .duplicatedKeysInMapping(let duplicates, let context):
            let key = duplicates.first ?? "?"
            let first = context.mark
            if let second = nextOccurrence(ofKey: key, after: first, in: yaml) {
                return PipelineError(path: path, line: second.line, column: second.column,
                                     message: "duplicate key '\(key)' (first at line \(first.line))")
            }
            return PipelineError(path: path, line: first.line, column: first.column,
                                 message: "duplicate key '\(key)'")
        default:
            return PipelineError(path: path, message: "invalid YAML: \(yamlError)")
        }
    }

    /// 1-based line and column (in Unicode scalars) of the character at `offset` (in Characters).
    static func lineAndColumn(ofCharacter offset: Int, in text: String) -> (line: Int, column: Int) {
        let end = text.index(text.startIndex, offsetBy: max(0, offset), limitedBy: text.endIndex) ?? text.endIndex
        var line = 1, column = 1
        for scalar in text[..<end].unicodeScalars {
            if scalar == "\n" {
                line += 1
                column = 1
            } else {
                column += 1
            }
        }
        return (line, column)
    }

    /// Yams names only the first of two equal keys; look for the second one: a later line with
    /// the same key at the same column (block mappings), `- ` allowed before it.
    static func nextOccurrence(ofKey key: String, after mark: Mark, in yaml: String) -> (line: Int, column: Int)? {
        let lines = yaml.split(separator: "\n", omittingEmptySubsequences: false)
        guard mark.line >= 1, mark.line < lines.count, mark.column >= 1 else { return nil }
        for number in (mark.line + 1)...lines.count {
            let trimmed = lines[number - 1].drop { $0 == " " }
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            let scalars = Array(lines[number - 1].unicodeScalars)
            let start = mark.column - 1
            guard start <= scalars.count else { continue }
            let prefix = String(String.UnicodeScalarView(scalars[..<start]))
            guard prefix.allSatisfy({ $0 == " " || $0 == "-" }) else {
                // Something less indented: the mapping has ended.
                if !prefix.allSatisfy(\.isWhitespace) { return nil }
                continue
            }
            let rest = String(String.UnicodeScalarView(scalars[start...]))
            for candidate in [key, "\"\(key)\"", "'\(key)'"] where rest.hasPrefix(candidate) {
                let after = rest.dropFirst(candidate.count).drop { $0 == " " }
                if after.first == ":" { return (number, mark.column) }
            }
        }
        return nil
    }
}
