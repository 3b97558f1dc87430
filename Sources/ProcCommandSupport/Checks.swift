import ArgumentParser
import Logging
import ProcCore

/// A flag's number checked against its bound (`Bounds`): out of range, NaN or infinite is a usage error
/// (exit 64) that says what is allowed. Call from `validate()`.
public func checkFlag(_ value: Double?, _ flag: String, _ bound: Bound<Double>) throws {
    guard let value else { return }
    do { _ = try bound.check(value, flag) } catch { throw ValidationError(error.description) }
}

public func checkFlag<T: FixedWidthInteger>(_ value: T?, _ flag: String, _ bound: Bound<T>) throws {
    guard let value else { return }
    do { _ = try bound.check(value, flag) } catch { throw ValidationError(error.description) }
}

/// Seconds from a flag or a file, checked, as whole milliseconds.
public func milliseconds(_ seconds: Double, _ name: String, _ bound: Bound<Double>) throws(CommandError) -> Int {
    do { return try bound.milliseconds(seconds, name) } catch { throw CommandError(error.description, exitCode: 64) }
}

/// `--log-level` (or `PROC_LOG_LEVEL`): one of swift-log's levels.
public func logLevel(_ text: String?, source: String = "--log-level") throws(CommandError) -> Logger.Level? {
    guard let text else { return nil }
    guard let level = Logger.Level(rawValue: text.lowercased()) else {
        let levels = Logger.Level.allCases.map(\.rawValue)
        throw CommandError("\(source) '\(text)' is not a log level: one of \(levels.joined(separator: ", "))"
            + didYouMean(text.lowercased(), in: levels), exitCode: 64)
    }
    return level
}

/// An agent name from a flag or a file, checked (`AgentName`).
public func checkAgentName(_ name: String, source: String) throws(CommandError) {
    if let problem = AgentName.problem(name) { throw CommandError("\(source): \(problem)", exitCode: 64) }
}
