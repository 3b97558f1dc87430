import ServiceLifecycle

/// Runs a started component until graceful shutdown (SIGTERM/SIGINT through a ServiceGroup), then
/// stops it: the coordinator closes its journal, the agent ends its jobs. No orphaned children.
public struct StopOnShutdown: Service {
    private let stop: @Sendable () -> Void
    private let ended: AsyncStream<Void>?

    /// `ended`: the service also returns when this yields (the program decided to stop by itself; a
    /// signal to itself would kill it if it came before the service group handles signals).
    public init(ended: AsyncStream<Void>? = nil, stop: @escaping @Sendable () -> Void) {
        self.stop = stop
        self.ended = ended
    }

    public func run() async throws {
        // Returns when shutdown is requested, or throws when the task is cancelled: stop either way.
        defer { stop() }
        guard let ended else {
            try? await gracefulShutdown()
            return
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await gracefulShutdown() }
            group.addTask { for await _ in ended { return } }
            await group.next()
            group.cancelAll()
        }
    }
}
