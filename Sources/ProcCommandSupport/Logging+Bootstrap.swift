import Foundation
import Logging

/// Executables bootstrap logging once (libraries only take a Logger). Logs go to stderr; the level comes
/// from `--log-level`, else `PROC_LOG_LEVEL`, else info. A level that is not one is an error (exit 64).
@discardableResult
public func bootstrapLogging(level: String?) throws(CommandError) -> Logger.Level {
    let fromFlag = try logLevel(level)
    let fromEnvironment = try logLevel(
        ProcessInfo.processInfo.environment["PROC_LOG_LEVEL"].flatMap { $0.isEmpty ? nil : $0 }, source: "PROC_LOG_LEVEL")
    let resolved = fromFlag ?? fromEnvironment ?? .info
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = resolved
        return handler
    }
    return resolved
}
