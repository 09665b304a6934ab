/// "Did you mean ...?" for misspelt keys and ids.
enum KeySuggestion {
    /// The candidate closest to `word` (edit distance at most 2, or equal once camelCase and `-`
    /// are turned into snake_case), if any. Ties go to the earlier candidate.
    static func closest(to word: String, among candidates: [String]) -> String? {
        let snake = snakeCased(word)
        if snake != word, candidates.contains(snake) { return snake }
        var best: (candidate: String, distance: Int)?
        for candidate in candidates where candidate != word {
            let distance = editDistance(word, candidate)
            if distance <= 2, distance < (best?.distance ?? .max) {
                best = (candidate, distance)
            }
        }
        // A distance of 2 between very short words means little (`id` vs `ab`).
        if let best, best.distance >= min(word.count, best.candidate.count) { return nil }
        return best?.candidate
    }

    /// `dependsOn` / `depends-on` / `Depends_On` → `depends_on`.
    static func snakeCased(_ word: String) -> String {
        var result = ""
        for character in word {
            if character == "-" {
                result.append("_")
            } else if character.isUppercase {
                if !result.isEmpty, result.last != "_" { result.append("_") }
                result += character.lowercased()
            } else {
                result.append(character)
            }
        }
        return result
    }

    /// Levenshtein distance, counting adjacent transpositions as one edit.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous2 = [Int](repeating: 0, count: b.count + 1)
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                var value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    value = min(value, previous2[j - 2] + 1)
                }
                current[j] = value
            }
            (previous2, previous, current) = (previous, current, previous2)
        }
        return previous[b.count]
    }
}
