import ServiceLifecycle

/// Runs a started component until graceful shutdown (SIGTERM/SIGINT through a ServiceGroup), then
/// stops it: the coordinator closes its journal, the agent ends its jobs. No orphaned children.
public struct StopOnShutdown: Service {
    private let stop: @Sendable () -> Void

    public init(stop: @escaping @Sendable () -> Void) {
        self.stop = stop
    }

    public func run() async throws {
        // Returns when shutdown is requested, or throws when the task is cancelled: stop either way.
        defer { stop() }
        try? await gracefulShutdown()
    }
}
