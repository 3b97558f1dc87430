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
        /// The jobs of `map`s.
        var mapped: [JobID] = []
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

    /// Submits a function worker to this queue. Fails after `shutdown`.
    public func submit<Function: ProcFunction>(_ worker: FunctionWorker<Function>) async throws {
        try await submit(worker.worker)
    }

    /// Calls `function` once per input on this queue, submitted in batches: the outcomes come as the calls
    /// end, each with the index of its input. Fails after `shutdown`.
    public func map<Function: ProcFunction>(
        _ function: Function.Type, _ inputs: [Function.Input], timeout: Double? = nil, batchSize: Int = 2_000
    ) -> AsyncThrowingStream<MapResult<Function.Output>, any Error> {
        guard !state.withLock({ $0.shut }) else {
            return AsyncThrowingStream { $0.finish(throwing: ProcClientError(.rejected, "queue \(name) is shut down")) }
        }
        return cluster.map(function, inputs, queue: name, timeout: timeout, batchSize: batchSize) { [state] ids in
            state.withLock { $0.mapped += ids }
        }
    }

    /// Stops accepting workers; with `wait`, returns when every submitted worker has ended.
    public func shutdown(wait: Bool = true, timeout: Double? = nil) async throws {
        let (workers, mapped) = state.withLock { state -> ([Worker], [JobID]) in
            state.shut = true
            return (state.workers, state.mapped)
        }
        guard wait else { return }
        let ids = workers.compactMap(\.id) + mapped
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
