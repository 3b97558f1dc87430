import Foundation

/// Why a program stopped by itself rather than by a signal (the coordinator told an agent to stop, a
/// journal could not be written), and the exit code to say it with. The first reason set wins.
public final class StopReason: @unchecked Sendable {
    private let lock = NSLock()
    private var reason: (String, Int32)?
    public init() {}
    public func set(_ message: String, exitCode: Int32) { lock.withLock { if reason == nil { reason = (message, exitCode) } } }
    public func get() -> (String, Int32)? { lock.withLock { reason } }
}
