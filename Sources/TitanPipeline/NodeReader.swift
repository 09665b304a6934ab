import Yams

/// One `key: value` of a mapping, after merge keys (`<<`) are applied.
struct MappingEntry {
    let name: String
    let keyNode: Node
    let value: Node
}

/// Typed access to composed YAML nodes. Every failure is a `PipelineError` pointing at the node
/// at fault, with the key path the caller gives.
struct NodeReader {
    /// The file name used in errors.
    let file: String

    func error(_ node: Node?, _ key: String, _ message: String) -> PipelineError {
        PipelineError(path: file, line: node?.mark?.line ?? 0, column: node?.mark?.column ?? 0,
                      key: key, message: message)
    }

    /// A note about `node` (see `PipelineNote`).
    func note(_ node: Node, _ key: String, _ message: String) -> PipelineNote {
        PipelineNote(path: file, line: node.mark?.line ?? 0, column: node.mark?.column ?? 0, key: key, message: message)
    }

    // MARK: Mappings

    /// The entries of a mapping in document order, with `<<` merges applied (the mapping's own
    /// keys win over merged ones; among merged mappings, the first listed wins).
    func entries(of node: Node, at key: String, expected: String) throws(PipelineError) -> [MappingEntry] {
        guard case .mapping(let mapping) = node else {
            throw error(node, key, "expected \(expected), got \(describe(node))")
        }
        var own: [MappingEntry] = []
        var merged: [MappingEntry] = []
        for (keyNode, value) in mapping {
            if keyNode.isMergeKey {
                merged += try mergeSources(value, at: key)
                continue
            }
            guard case .scalar(let scalar) = keyNode, !keyNode.isNull else {
                throw error(keyNode, key, "keys must be plain strings, got \(describe(keyNode))")
            }
            own.append(MappingEntry(name: scalar.string, keyNode: keyNode, value: value))
        }
        var seen = Set(own.map(\.name))
        var result = own
        for entry in merged where seen.insert(entry.name).inserted {
            result.append(entry)
        }
        return result.sorted { ($0.keyNode.line, $0.keyNode.column) < ($1.keyNode.line, $1.keyNode.column) }
    }

    private func mergeSources(_ value: Node, at key: String) throws(PipelineError) -> [MappingEntry] {
        switch value {
        case .mapping:
            return try entries(of: value, at: key, expected: "a mapping")
        case .sequence(let sequence):
            var result: [MappingEntry] = []
            for item in sequence {
                guard case .mapping = item else {
                    throw error(item, key, "'<<' merges mappings only, got \(describe(item))")
                }
                result += try entries(of: item, at: key, expected: "a mapping")
            }
            return result
        default:
            throw error(value, key, "'<<' expects a mapping or a sequence of mappings, got \(describe(value))")
        }
    }

    /// An unknown key, with a suggestion when a known key is close.
    func unknownKey(_ entry: MappingEntry, at key: String, known: [String]) -> PipelineError {
        var message = "unknown key '\(entry.name)'"
        if let suggestion = KeySuggestion.closest(to: entry.name, among: known) {
            message += "; did you mean '\(suggestion)'?"
        }
        return error(entry.keyNode, key, message)
    }

    // MARK: Strings

    /// A scalar's text, nil for null. Numbers and booleans are taken as written (`1.10` stays
    /// `1.10`), so `id: 1` or `command: [sleep, 5]` mean what they look like.
    func optionalString(_ node: Node, at key: String) throws(PipelineError) -> String? {
        if node.isNull { return nil }
        guard case .scalar(let scalar) = node else {
            throw error(node, key, "expected a string, got \(describe(node))")
        }
        return scalar.string
    }

    /// A scalar's text; null is an error.
    func requiredString(_ node: Node, at key: String) throws(PipelineError) -> String {
        guard let text = try optionalString(node, at: key) else {
            throw error(node, key, "expected a string, got null")
        }
        return text
    }

    /// A string (cut into items by `split`) or a sequence of strings (one item each), each with
    /// the node it came from. Null gives nil.
    func stringList(_ node: Node, at key: String,
                    split: (String) -> [String]) throws(PipelineError) -> [(text: String, node: Node)]? {
        switch node {
        case .scalar(let scalar):
            if node.isNull { return nil }
            return split(scalar.string).map { ($0, node) }
        case .sequence(let sequence):
            var items: [(text: String, node: Node)] = []
            for (i, item) in sequence.enumerated() {
                guard case .scalar(let scalar) = item, !item.isNull else {
                    throw error(item, "\(key)[\(i)]", "expected a string, got \(describe(item))")
                }
                items.append((scalar.string, item))
            }
            return items
        default:
            throw error(node, key, "expected a string or a sequence of strings, got \(describe(node))")
        }
    }

    /// A mapping of strings to strings (scalar values taken as written); null gives nil.
    func stringMap(_ node: Node, at key: String) throws(PipelineError) -> [String: String]? {
        if node.isNull { return nil }
        var result: [String: String] = [:]
        for entry in try entries(of: node, at: key, expected: "a mapping of names to values") {
            let path = "\(key).\(entry.name)"
            if entry.name.isEmpty || entry.name.contains("=") || entry.name.contains("\0") {
                throw error(entry.keyNode, path, "invalid variable name '\(entry.name)'")
            }
            guard case .scalar(let scalar) = entry.value else {
                throw error(entry.value, path, "expected a string value, got \(describe(entry.value))")
            }
            if entry.value.isNull {
                throw error(entry.value, path, "expected a string value, got null (write \"\" for an empty value)")
            }
            result[entry.name] = scalar.string
        }
        return result
    }

    // MARK: Numbers

    /// An integer; null gives nil. Quoted numbers are strings, and an error.
    func integer(_ node: Node, at key: String) throws(PipelineError) -> Int? {
        if node.isNull { return nil }
        guard case .scalar(let scalar) = node else {
            throw error(node, key, "expected an integer, got \(describe(node))")
        }
        if node.hasTag(.int) {
            if let value = Int.construct(from: scalar) { return value }
            let digits = scalar.string.replacingOccurrences(of: "_", with: "").drop { $0 == "-" || $0 == "+" }
            if !digits.isEmpty, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber) {
                throw error(node, key, "integer '\(scalar.string)' is out of range")
            }
        }
        throw error(node, key, "expected an integer, got \(describe(node))\(quotedNumberHint(scalar))")
    }

    /// A finite number (integer or decimal); null gives nil.
    func number(_ node: Node, at key: String, expected: String) throws(PipelineError) -> Double? {
        if node.isNull { return nil }
        guard case .scalar(let scalar) = node else {
            throw error(node, key, "expected \(expected), got \(describe(node))")
        }
        let value: Double?
        if node.hasTag(.int) {
            // Too big for an Int: still a number, for the caller's range check.
            value = Int.construct(from: scalar).map(Double.init)
                ?? Double(scalar.string.replacingOccurrences(of: "_", with: ""))
        } else if node.hasTag(.float) {
            value = Double.construct(from: scalar)
        } else {
            throw error(node, key, "expected \(expected), got \(describe(node))\(quotedNumberHint(scalar))")
        }
        guard let value, value.isFinite else {
            throw error(node, key, "expected \(expected), got '\(scalar.string)'")
        }
        return value
    }

    private func quotedNumberHint(_ scalar: Node.Scalar) -> String {
        guard scalar.style != .plain, scalar.style != .any,
              scalar.string.contains(where: \.isNumber),
              Double(scalar.string.replacingOccurrences(of: "_", with: "")) != nil else { return "" }
        return " (a quoted string; remove the quotes)"
    }

    // MARK: Descriptions

    /// How a node is named in messages: `'text'`, `null`, `a sequence`, `a mapping`.
    func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar):
            if node.isNull { return "null" }
            var text = scalar.string
            if text.count > 60 { text = String(text.prefix(57)) + "..." }
            return "'\(text.replacingOccurrences(of: "\n", with: "\\n"))'"
        case .sequence: return "a sequence"
        case .mapping: return "a mapping"
        case .alias: return "an alias"
        }
    }
}

extension Node {
    var line: Int { mark?.line ?? 0 }
    var column: Int { mark?.column ?? 0 }

    func hasTag(_ name: Tag.Name) -> Bool { tag.rawValue == name.rawValue }

    /// `~`, `null`, or nothing at all (`key:`).
    var isNull: Bool {
        guard case .scalar = self else { return false }
        return hasTag(.null)
    }

    var isMergeKey: Bool {
        guard case .scalar = self else { return false }
        return hasTag(.merge)
    }
}
