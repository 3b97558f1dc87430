import ProcClient
import ProcCore
import ZeroMQ

/// One outcome of `map`: the index of its input, its job, and the output or how the call ended
/// (`RemoteError`, or the error decoding the output).
public struct MapResult<Output: Sendable>: Sendable {
    public let index: Int
    public let jobID: JobID
    public let result: Result<Output, any Error>

    /// The output, or the error.
    public func get() throws -> Output { try result.get() }
}

/// `map`: the calls submitted in batches, their final events turned into results as they come.
struct BulkCall<Function: ProcFunction> {
    let cluster: ProcCluster
    let inputs: [Function.Input]
    let queue: String?
    let timeout: Double?
    let batchSize: Int
    /// Told the ids of each batch once it is accepted (a queue counts them as its own).
    var onSubmitted: (@Sendable ([JobID]) -> Void)?

    func stream() -> AsyncThrowingStream<MapResult<Function.Output>, any Error> {
        AsyncThrowingStream { continuation in
            guard !inputs.isEmpty else { return continuation.finish() }
            let receiver = BulkReceiver<Function>(count: inputs.count, continuation: continuation)
            let task = Task { [self] in
                do {
                    let specs = try inputs.map { input in
                        JobSpec(function: Function.name, args: try FunctionCoding.encode(input), queue: queue,
                                timeout: timeout)
                    }
                    try await cluster.router.ensureRunning()
                    var start = 0
                    while start < specs.count {
                        try Task.checkCancellation()
                        let end = min(start + max(1, batchSize), specs.count)
                        let first = start
                        let ids = try await cluster.router.submit(Array(specs[start..<end]), receiver: receiver) { ids in
                            receiver.expect(ids, from: first)
                        }
                        onSubmitted?(ids)
                        start = end
                    }
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}

/// Takes the events of every job of one `map`, by id, and yields each final one as a result.
final class BulkReceiver<Function: ProcFunction>: EventReceiver, @unchecked Sendable {
    private let mutex = ZeroMQ.Mutex()
    private var indices: [JobID: Int] = [:]
    private var left: Int
    private let continuation: AsyncThrowingStream<MapResult<Function.Output>, any Error>.Continuation

    init(count: Int, continuation: AsyncThrowingStream<MapResult<Function.Output>, any Error>.Continuation) {
        left = count
        self.continuation = continuation
    }

    func expect(_ ids: [JobID], from first: Int) {
        mutex.withLock { for (offset, id) in ids.enumerated() { indices[id] = first + offset } }
    }

    func deliver(_ event: Event) {
        guard event.status?.isFinal == true, event.type != .jobLateResult, let id = event.jobID else { return }
        let (index, done) = mutex.withLock { () -> (Int?, Bool) in
            guard let index = indices.removeValue(forKey: id) else { return (nil, false) }
            left -= 1
            return (index, left == 0)
        }
        guard let index else { return }
        let result = Result { try FunctionWorker<Function>.output(of: event) }
        continuation.yield(MapResult(index: index, jobID: id, result: result))
        if done { continuation.finish() }
    }

    func feedEnded(_ error: any Error) {
        continuation.finish(throwing: error)
    }
}
