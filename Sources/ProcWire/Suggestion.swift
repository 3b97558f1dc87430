/// "did you mean …?": the known word closest to a mistyped one, when it is close enough to be the one
/// meant (an edit distance of at most a third of its length, at least 1, at most 3).
public func nearestWord(to word: String, in candidates: some Sequence<String>) -> String? {
    let typed = Array(word.lowercased().utf8)
    var best: (word: String, distance: Int)?
    for candidate in candidates {
        let distance = editDistance(typed, Array(candidate.lowercased().utf8))
        if distance < (best?.distance ?? .max) { best = (candidate, distance) }
    }
    guard let best, best.distance <= min(3, max(1, typed.count / 3)) else { return nil }
    return best.word
}

/// ", did you mean 'timeout'?" for a mistyped key, or "" when nothing is near.
public func didYouMean(_ word: String, in candidates: some Sequence<String>) -> String {
    nearestWord(to: word, in: candidates).map { "; did you mean '\($0)'?" } ?? ""
}

/// Levenshtein distance with adjacent transpositions counted as one edit ("timout", "tiemout").
func editDistance(_ a: [UInt8], _ b: [UInt8]) -> Int {
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous2 = [Int](repeating: 0, count: b.count + 1)
    var previous = Array(0...b.count)
    var current = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        current[0] = i
        for j in 1...b.count {
            let cost = a[i - 1] == b[j - 1] ? 0 : 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                current[j] = min(current[j], previous2[j - 2] + 1)
            }
        }
        (previous2, previous, current) = (previous, current, previous2)
    }
    return previous[b.count]
}
