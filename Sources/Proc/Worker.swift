import Foundation
import ProcClient
import ProcCore
import ZeroMQ

/// One unit of work: a command run as a job on the cluster. `start`, then `join` for its outcome.
public final class Worker: Sendable, CustomStringConvertible {
    public let spec: JobSpec
    let cluster: ProcCluster
    let callback: (@Sendable (Worker, WorkerStatus, JSONValue?) -> Void)?
    let tracker: JobTracker

    init(cluster: ProcCluster, spec: JobSpec, callback: (@Sendable (Worker, WorkerStatus, JSONValue?) -> Void)?,
         followsEvents: Bool = false) {
        self.cluster = cluster
        self.spec = spec
        self.callback = callback
        tracker = JobTracker(followsEvents: followsEvents || callback != nil)
        tracker.onEvent = { [weak self] event, payload in
            guard let self, let status = event.status else { return }
            callback?(self, status, payload)
        }
    }

    /// The job id, once started.
    public var id: JobID? { tracker.id }
    /// The last state seen (from the event feed when a callback is set, else from `join`/`status()`).
    public var status: WorkerStatus { tracker.status }
    public var description: String { "Worker(\(id ?? "not started"), \(status.rawValue))" }

    /// Submits the worker's job.
    public func start() async throws {
        try await start(queue: nil)
    }

    func start(queue: String?) async throws {
        var spec = self.spec
        spec.queue = queue
        try await tracker.start(spec, queue: queue, cluster: cluster)
    }

    /// Waits until the job ends (at most `timeout` seconds, if given) and returns its status and result.
    @discardableResult
    public func join(timeout: Double? = nil) async throws -> (WorkerStatus, JSONValue?) {
        guard let id else { throw ProcClientError(.rejected, "the worker was not started") }
        if tracker.followsEvents {
            let event = try await tracker.finalEvent(timeout: timeout)
            return (event.status ?? .error, tracker.result)
        }
        _ = try await cluster.client.wait([id], timeout: timeout)
        return try await result()
    }

    /// The job's status and result now (the result is nil until it completes, or if it set none).
    public func result() async throws -> (WorkerStatus, JSONValue?) {
        guard let id else { return (.pending, nil) }
        let reply = try await cluster.client.result(id)
        tracker.saw(reply.job)
        return (reply.job.status, reply.job.result)
    }

    /// Cancels the job: at once if pending; SIGTERM, grace, SIGKILL to its process group if running.
    public func cancel() async throws {
        guard let id else { return }
        _ = try await cluster.client.cancel([id])
    }
}

/// A function call as a worker: `cluster.createWorker(Square.self, args: .init(x: 3))`, then
/// `try await worker.join()` for the typed output, or the `RemoteError` the call ended with.
public final class FunctionWorker<Function: ProcFunction>: Sendable, CustomStringConvertible {
    public let input: Function.Input
    let worker: Worker

    init(worker: Worker, input: Function.Input) {
        self.worker = worker
        self.input = input
    }

    public var id: JobID? { worker.id }
    public var status: WorkerStatus { worker.status }
    public var spec: JobSpec { worker.spec }
    public var description: String { "FunctionWorker<\(Function.name)>(\(id ?? "not started"), \(status.rawValue))" }

    /// Submits the call.
    public func start() async throws { try await worker.start() }

    /// Waits until the call ends (at most `timeout` seconds, if given): its output, or the call's end as
    /// `RemoteError` (thrown, crashed, cancelled, timed out, lost). A timeout of the wait itself throws
    /// `ProcClientError` with code `timedOut` (the call goes on).
    public func join(timeout: Double? = nil) async throws -> Function.Output {
        guard worker.id != nil else { throw ProcClientError(.rejected, "the worker was not started") }
        return try Self.output(of: try await worker.tracker.finalEvent(timeout: timeout))
    }

    /// The call's status and output now (nil until it completes).
    public func result() async throws -> (WorkerStatus, Function.Output?) {
        let (status, value) = try await worker.result()
        guard status == .completed, let value else { return (status, nil) }
        return (status, try FunctionCoding.decode(Function.Output.self, value))
    }

    public func cancel() async throws { try await worker.cancel() }

    /// The output in a final event, or the error it tells of.
    static func output(of event: Event) throws -> Function.Output {
        guard event.status == .completed else { throw RemoteError(event) }
        return try FunctionCoding.decode(Function.Output.self, event.result ?? .null)
    }
}

/// How a function call ended when it did not return: the job's status, the reason, and for a thrown error
/// its type and message (`error_type`, `message` in the job and its final event).
public struct RemoteError: Error, Sendable, Equatable, CustomStringConvertible {
    public let jobID: JobID
    /// `.error` or `.cancelled`.
    public let status: WorkerStatus
    /// Why it is `.error`: `thrown`, `crashed`, `timeout`, `lost`, `spawn`.
    public let reason: FailureReason?
    /// The type name of the error the function threw (`thrown`), e.g. "DecodingError".
    public let type: String?
    public let message: String

    init(_ event: Event) {
        jobID = event.jobID ?? ""
        status = event.status ?? .error
        reason = event.reason.flatMap(FailureReason.init(rawValue:))
        type = event.errorType
        message = event.message ?? status.rawValue
    }

    public var description: String {
        let what = type.map { "\($0): " } ?? reason.map { "\($0.rawValue): " } ?? "\(status.rawValue): "
        return "\(jobID) \(what)\(message)"
    }
}

/// A function's arguments and output as JSON, by the Codable conformance of their types.
enum FunctionCoding {
    static func encode<T: Encodable>(_ value: T) throws -> JSONValue { try JSONValueEncoder().encode(value) }

    static func decode<T: Decodable>(_ type: T.Type, _ value: JSONValue) throws -> T {
        try JSONValueDecoder().decode(type, from: value)
    }
}

/// A job's id, its last known state and, when it follows the event feed, its final event for `join`.
/// Shared by command and function workers and by `map`.
final class JobTracker: EventReceiver, @unchecked Sendable {
    let followsEvents: Bool
    /// Told when the final event came, when this tracker wanted every event (a callback).
    private var router: EventRouter?
    /// Called with each event (and its payload: the result, or progress as `{"progress":…,"message":…}`).
    /// Set once, before `start`; dropped after the final event (what it holds is released then).
    var onEvent: ((Event, JSONValue?) -> Void)?
    private let mutex = ZeroMQ.Mutex()
    private var state = State()

    private struct State {
        var id: JobID?
        var started = false
        var status: WorkerStatus = .pending
        var result: JSONValue?
        var final: Event?
        var feedError: (any Error)?
        var waiters: [Int: CheckedContinuation<Event, any Error>] = [:]
        var nextWaiter = 0
    }

    init(followsEvents: Bool) { self.followsEvents = followsEvents }

    private func locked<T>(_ body: (inout State) -> T) -> T { mutex.withLock { body(&state) } }

    var id: JobID? { locked { $0.id } }
    var status: WorkerStatus { locked { $0.status } }
    var result: JSONValue? { locked { $0.result } }

    func start(_ spec: JobSpec, queue: String?, cluster: ProcCluster) async throws {
        guard locked({ state in
            defer { state.started = true }
            return !state.started
        }) else { throw ProcClientError(.rejected, "the worker was already started") }
        if followsEvents {
            try await cluster.router.ensureRunning()
            let everyEvent = onEvent != nil
            if everyEvent {
                cluster.router.wantsEveryEvent(true)
                mutex.withLock { router = cluster.router }
            }
            let id: JobID
            do {
                id = try await cluster.router.submit(spec, receiver: self)
            } catch {
                if everyEvent { cluster.router.wantsEveryEvent(false) }
                throw error
            }
            locked { $0.id = id }
        } else {
            let id = try await cluster.client.submit(spec)
            locked { $0.id = id }
        }
    }

    func saw(_ job: JobRecord) {
        locked { state in
            state.status = job.status
            state.result = job.result
        }
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
        let (waiters, callback) = locked { state -> ([CheckedContinuation<Event, any Error>], ((Event, JSONValue?) -> Void)?) in
            state.status = status
            if event.result != nil { state.result = event.result }
            let callback = onEvent
            guard status.isFinal, event.type != .jobLateResult, state.final == nil else { return ([], callback) }
            state.final = event
            onEvent = nil
            defer { state.waiters.removeAll() }
            return (Array(state.waiters.values), callback)
        }
        callback?(event, payload)
        if !waiters.isEmpty || (status.isFinal && event.type != .jobLateResult) {
            if let router = takeRouter() { router.wantsEveryEvent(false) }
        }
        for waiter in waiters { waiter.resume(returning: event) }
    }

    private func takeRouter() -> EventRouter? {
        mutex.withLock {
            defer { router = nil }
            return router
        }
    }

    func feedEnded(_ error: any Error) {
        let waiters = locked { state -> [CheckedContinuation<Event, any Error>] in
            state.feedError = error
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume(throwing: error) }
    }

    /// The job's final event, once it comes (at most `timeout` seconds: then `ProcClientError.timedOut`).
    func finalEvent(timeout: Double?) async throws -> Event {
        guard let timeout else { return try await awaitFinal() }
        return try await withThrowingTaskGroup(of: Event.self) { group in
            group.addTask { try await self.awaitFinal() }
            group.addTask {
                try await Task.sleep(nanoseconds: UInt64(max(0, timeout) * 1e9))
                throw ProcClientError(.timedOut, "\(self.id ?? "the job") did not end within \(timeout) s")
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
    }

    private func awaitFinal() async throws -> Event {
        let waiter = locked { state -> Int in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Event, any Error>) in
                enum Now { case event(Event), error(any Error), wait }
                let now = locked { state -> Now in
                    if let final = state.final { return .event(final) }
                    if let error = state.feedError { return .error(error) }
                    if Task.isCancelled { return .error(CancellationError()) }
                    state.waiters[waiter] = continuation
                    return .wait
                }
                switch now {
                case .event(let event): continuation.resume(returning: event)
                case .error(let error): continuation.resume(throwing: error)
                case .wait: break
                }
            }
        } onCancel: {
            locked { $0.waiters.removeValue(forKey: waiter) }?.resume(throwing: CancellationError())
        }
    }
}
