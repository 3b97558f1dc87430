import ProcClient
import ProcCore

/// An execution queue: workers run in order (by priority, then submission), at most `maxWorkers` at
/// once across the cluster (the original `create_queue(max_workers=…)`).
public final class WorkQueue: Sendable {
    public let name: String
    public let maxWorkers: Int
    private let cluster: ProcCluster
    private let state = Locked(State())

    private struct State {
        var workers: [Worker] = []
        var shut = false
    }

    init(cluster: ProcCluster, name: String, maxWorkers: Int) {
        self.cluster = cluster
        self.name = name
        self.maxWorkers = maxWorkers
    }

    /// Submits a worker to this queue. Fails after `shutdown`.
    public func submit(_ worker: Worker) async throws {
        guard !state.withLock({ $0.shut }) else {
            throw ProcClientError(.rejected, "queue \(name) is shut down")
        }
        try await worker.start(queue: name)
        state.withLock { $0.workers.append(worker) }
    }

    /// Stops accepting workers; with `wait`, returns when every submitted worker has ended.
    public func shutdown(wait: Bool = true, timeout: Double? = nil) async throws {
        let workers = state.withLock { state -> [Worker] in
            state.shut = true
            return state.workers
        }
        guard wait else { return }
        let ids = workers.compactMap(\.id)
        if !ids.isEmpty { _ = try await cluster.client.wait(ids, timeout: timeout) }
    }

    /// The status and result of one of this queue's workers.
    public func result(for id: JobID) async throws -> (WorkerStatus, JSONValue?) {
        let reply = try await cluster.client.result(id)
        return (reply.job.status, reply.job.result)
    }

    /// Cancels every pending and running worker of this queue.
    public func cancelAll() async throws {
        _ = try await cluster.client.cancel(queue: name)
    }
}
