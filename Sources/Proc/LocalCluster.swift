import Foundation
import Logging
import ProcAgent
import ProcCoordinator
import ProcCore
import ServiceLifecycle
import ZeroMQ

/// A coordinator, and in single-host mode an agent beside it, on one loop thread of this process: what
/// `proc-coordinator start [--standalone]` runs and what `ProcCluster.standalone` gives a Swift program.
/// The agent reaches the coordinator by calls on the loop (`LocalCoordinatorEndpoint`), not a socket.
///
/// As a Service it starts, serves until a graceful shutdown, and stops the agent (its jobs get SIGTERM,
/// the grace, SIGKILL) and then the coordinator; it throws when the coordinator stopped by itself.
public final class LocalCluster: Service, @unchecked Sendable {
    public let loop: EventLoop
    public let coordinator: Coordinator
    public let agent: Agent?
    private let temporaryDirectory: String?
    private let stopped = Locked(false)

    /// `agent`: single-host mode (its endpoint is ignored: it is the coordinator beside it).
    /// `temporaryDirectory` is removed when the cluster stops.
    public init(coordinator configuration: CoordinatorConfiguration, agent agentConfiguration: AgentConfiguration?,
                logger: Logger, agentLogger: Logger? = nil, temporaryDirectory: String? = nil) {
        loop = EventLoop(name: "proc-local", context: ZMQContext())
        loop.start()
        let coordinator = Coordinator(configuration: configuration, loop: loop, logger: logger)
        self.coordinator = coordinator
        agent = agentConfiguration.map { [loop] in
            Agent(configuration: $0, loop: loop, logger: agentLogger ?? logger, coordinator: coordinator)
        }
        self.temporaryDirectory = temporaryDirectory
    }

    /// Starts the coordinator, then the agent. On failure everything started is stopped again.
    public func start() async throws {
        do {
            try await coordinator.start()
            try await agent?.start()
        } catch {
            await stop()
            throw error
        }
    }

    /// Stops the agent (its running jobs get `graceMilliseconds` between SIGTERM and SIGKILL), then the
    /// coordinator, then the loop. Idempotent.
    public func stop(graceMilliseconds: Int? = nil) async {
        guard stopped.withLock({ stopped in
            defer { stopped = true }
            return !stopped
        }) else { return }
        if let agent { await agent.stop(graceMilliseconds: graceMilliseconds ?? agent.configuration.stopGraceMilliseconds) }
        await coordinator.stop()
        await loop.stopAndWait()
        loop.context.terminate()
        if let temporaryDirectory { try? FileManager.default.removeItem(atPath: temporaryDirectory) }
    }

    /// `stop` for a `deinit`, which cannot wait asynchronously: blocks until done (on the loop thread, not
    /// on the caller's pool).
    func stopBlocking() {
        guard stopped.withLock({ stopped in
            defer { stopped = true }
            return !stopped
        }) else { return }
        agent?.stopWaiting(graceMilliseconds: 2_000)
        coordinator.stopWaiting()
        loop.stop()
        loop.join()
        loop.context.terminate()
        if let temporaryDirectory { try? FileManager.default.removeItem(atPath: temporaryDirectory) }
    }

    public func run() async throws {
        try await start()
        try await serve()
    }

    /// For a cluster already started: serves until a graceful shutdown, then stops; throws when the
    /// coordinator stopped by itself, saying why.
    public func serve() async throws {
        let reason = await coordinator.serveUntilShutdown()
        await stop()
        if let reason { throw CoordinatorError(reason, code: .journal) }
    }
}

/// A value behind a mutex.
final class Locked<Value>: @unchecked Sendable {
    private let mutex = ZeroMQ.Mutex()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        try mutex.withLock { try body(&value) }
    }
}
