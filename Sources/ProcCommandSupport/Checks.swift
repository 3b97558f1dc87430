import Foundation
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

/// `--functions PATH…` as given: no empty path, no path twice.
public func checkFunctionHosts(_ paths: [String]) throws {
    if paths.contains(where: \.isEmpty) { throw ValidationError("--functions: a path is empty") }
    if Set(paths).count != paths.count { throw ValidationError("--functions: a path is given twice") }
}

/// Function host paths made absolute (a host may run in another working directory) and checked: each must
/// be an executable file. A name without a slash is looked up in PATH, as the agent's spawn would.
public func functionHostPaths(_ paths: [String]) throws(CommandError) -> [String] {
    var resolved: [String] = []
    for path in paths {
        guard !path.isEmpty else { throw CommandError("--functions: a path is empty", exitCode: 64) }
        var candidates = [path]
        if !path.contains("/") {
            let search = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
            candidates = search.split(separator: ":").map { "\($0)/\(path)" }
        }
        guard let found = candidates.first(where: { access($0, X_OK) == 0 }) else {
            let why = candidates.count == 1 && access(path, F_OK) == 0 ? "it is not executable" : "no such file"
            throw CommandError("--functions \(path): \(why); give the path of a function host executable "
                               + "(one built on ProcFunctionHost.main)", exitCode: 64)
        }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: found, isDirectory: &isDirectory), isDirectory.boolValue {
            throw CommandError("--functions \(path): it is a directory; give the host executable in it", exitCode: 64)
        }
        let absolute = found.hasPrefix("/") ? found : FileManager.default.currentDirectoryPath + "/" + found
        resolved.append(URL(fileURLWithPath: absolute).standardizedFileURL.path)
    }
    return resolved
}
