import Foundation

/// Long runs of plain words on the command line (20,000 job ids for `proc wait`, a command with 20,000
/// arguments after `--`), kept out of swift-argument-parser, which removes each positional value it
/// uses by a linear search: 20,000 of them took 9 s of CPU. `compact` folds every run of two or more
/// plain words (not starting with '-') into its first word and one placeholder; `expand` puts the run
/// back into a positional array after parsing. The first word stays as it was, since it may be an
/// option's value (`--timeout 5 j1 j2`); the rest of a run can only be positional, because every
/// option takes one value at most. Short command lines are not touched.
public enum ArgumentRuns {
    /// Runs longer than this are folded (shorter ones cost nothing worth saving).
    static let threshold = 64
    private static let marker = "\u{1}proc-argument-run-"
    nonisolated(unsafe) private static var runs: [[String]] = []

    /// The arguments to hand to the parser. Call once, before parsing.
    public static func compact(_ arguments: [String]) -> [String] {
        var result: [String] = []
        result.reserveCapacity(min(arguments.count, 1024))
        var index = 0
        while index < arguments.count {
            var end = index
            while end < arguments.count, isPlain(arguments[end]) { end += 1 }
            if end - index > threshold {
                result.append(arguments[index])
                result.append(marker + String(runs.count))
                runs.append(Array(arguments[(index + 1)..<end]))
                index = end
            } else if end > index {
                result.append(contentsOf: arguments[index..<end])
                index = end
            } else {
                result.append(arguments[index])
                index += 1
            }
        }
        return result
    }

    /// `values` with each placeholder replaced by the run it stands for.
    public static func expand(_ values: [String]) -> [String] {
        guard !runs.isEmpty, values.contains(where: { $0.hasPrefix(marker) }) else { return values }
        var result: [String] = []
        for value in values {
            if value.hasPrefix(marker), let number = Int(value.dropFirst(marker.count)), runs.indices.contains(number) {
                result.append(contentsOf: runs[number])
            } else {
                result.append(value)
            }
        }
        return result
    }

    private static func isPlain(_ argument: String) -> Bool {
        !argument.hasPrefix("-") && !argument.hasPrefix(marker)
    }
}
