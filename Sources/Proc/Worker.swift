import ProcClient
import ProcCore
import ZeroMQ

/// One unit of work: a command run as a job on the cluster. `start`, then `join` for its outcome.
public final class Worker: Sendable, CustomStringConvertible {
    public let spec: JobSpec
    let cluster: ProcCluster
    let callback: (@Sendable (Worker, WorkerStatus, JSONValue?) -> Void)?
    private let state = Locked(State())

    private struct State {
        var id: JobID?
        var queue: String?
        var status: WorkerStatus = .pending
        var result: JSONValue?
    }

    init(cluster: ProcCluster, spec: JobSpec, callback: (@Sendable (Worker, WorkerStatus, JSONValue?) -> Void)?) {
        self.cluster = cluster
        self.spec = spec
        self.callback = callback
    }

    /// The job id, once started.
    public var id: JobID? { state.withLock { $0.id } }
    /// The last state seen (from the event feed when a callback is set, else from `join`/`status()`).
    public var status: WorkerStatus { state.withLock { $0.status } }
    public var description: String { "Worker(\(id ?? "not started"), \(status.rawValue))" }

    /// Submits the worker's job.
    public func start() async throws {
        try await start(queue: nil)
    }

    func start(queue: String?) async throws {
        guard state.withLock({ $0.id == nil }) else { throw ProcClientError(.rejected, "the worker was already started") }
        var spec = self.spec
        spec.queue = queue
        if callback != nil { try await cluster.router.ensureRunning() }
        let id = try await cluster.client.submit(spec)
        state.withLock {
            $0.id = id
            $0.queue = queue
        }
        if callback != nil { cluster.router.register(self, id: id) }
    }

    /// Waits until the job ends (at most `timeout` seconds, if given) and returns its status and result.
    @discardableResult
    public func join(timeout: Double? = nil) async throws -> (WorkerStatus, JSONValue?) {
        guard let id else { throw ProcClientError(.rejected, "the worker was not started") }
        _ = try await cluster.client.wait([id], timeout: timeout)
        return try await result()
    }

    /// The job's status and result now (the result is nil until it completes, or if it set none).
    public func result() async throws -> (WorkerStatus, JSONValue?) {
        guard let id else { return (.pending, nil) }
        let reply = try await cluster.client.result(id)
        state.withLock {
            $0.status = reply.job.status
            $0.result = reply.job.result
        }
        return (reply.job.status, reply.job.result)
    }

    /// Cancels the job: at once if pending; SIGTERM, grace, SIGKILL to its process group if running.
    public func cancel() async throws {
        guard let id else { return }
        _ = try await cluster.client.cancel([id])
    }

    func deliver(_ event: Event) {
        guard let status = event.status else { return }
        var payload = event.result
        if event.type == .jobProgress {
            var object: [String: JSONValue] = [:]
            if let progress = event.progress { object["progress"] = .double(progress) }
            if let message = event.message { object["message"] = .string(message) }
            payload = .object(object)
        }
        state.withLock {
            $0.status = status
            if event.result != nil { $0.result = event.result }
        }
        callback?(self, status, payload)
    }
}
