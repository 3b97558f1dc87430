/// A message that could not be read, said for the field where it failed: "results[2].attempt: must be at
/// least 1; got 0", "jobs[0].timeout: expected a number, found a string". The reader names the field
/// itself as the error travels up, so nothing is parsed a second time to word it.
public struct WireError: Error, Sendable, Equatable, CustomStringConvertible {
    /// From the outermost field in: keys, and "[N]" for array elements.
    public private(set) var path: [String] = []
    public let problem: String

    public init(_ problem: String) { self.problem = problem }

    /// The same error, one field further out.
    public func at(_ key: String) -> WireError {
        var error = self
        error.path.insert(key, at: 0)
        return error
    }

    /// The same error, in element `index` of an array.
    public func at(index: Int) -> WireError { at("[\(index)]") }

    /// A required key that is not there.
    public static func missing(_ key: String) -> WireError { WireError("missing \"\(key)\"") }

    /// "results[2].attempt".
    public var field: String {
        var text = ""
        for part in path {
            if part.hasPrefix("[") || text.isEmpty { text += part } else { text += "." + part }
        }
        return text
    }

    public var description: String { path.isEmpty ? problem : "\(field): \(problem)" }
}
