import Foundation
import Logging

/// Executables bootstrap logging once (libraries only take a Logger). Logs go to stderr; the level comes
/// from `--log-level`, else `PROC_LOG_LEVEL`, else info.
public func bootstrapLogging(level: String?) -> Logger.Level {
    let text = level ?? ProcessInfo.processInfo.environment["PROC_LOG_LEVEL"] ?? "info"
    let resolved = Logger.Level(rawValue: text.lowercased()) ?? .info
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = resolved
        return handler
    }
    return resolved
}
