import Logging
import ProcWire

/// A function that proc can call as a job: registered by `name` in a function host
/// (`ProcFunctionHost.main(functions:)`), called with a Codable `Input`, returning a Codable `Output`.
///
/// Swift cannot send a closure to another process, so a function is a type, known by its name on both
/// sides (as swift-jobs, Vapor Queues and Celery name theirs). One instance per host process serves all
/// of its calls, one at a time: what `init()` loads (a model, a connection) stays warm between calls.
///
///     struct Square: ProcFunction {
///         struct Input: Codable, Sendable { var x: Int }
///         struct Output: Codable, Sendable { var square: Int }
///         static let name = "square"
///         func run(_ input: Input, context: FunctionContext) async throws -> Output {
///             Output(square: input.x * input.x)
///         }
///     }
///
/// A thrown error ends the job `error` with reason `thrown`, the error's type and message in the job and
/// its final event. Cancel and timeout cancel the call's task (`Task.isCancelled`, `context.checkCancellation()`);
/// the host process ends after the grace if the call goes on.
public protocol ProcFunction: Sendable {
    associatedtype Input: Codable & Sendable
    associatedtype Output: Codable & Sendable
    /// The name jobs call it by (`proc submit --function NAME`): letters, digits and `_ - . :`.
    static var name: String { get }
    init()
    func run(_ input: Input, context: FunctionContext) async throws -> Output
}

/// What a call knows of itself, and how it talks to proc while it runs.
public struct FunctionContext: Sendable {
    /// The job ("j42") and its attempt (from 1: a retry, or a run lost with its agent, runs again).
    public let jobID: String
    public let attempt: Int
    /// The job's queue.
    public let queue: String?
    /// Writes to the host's stderr, which is the call's captured stderr (`proc result` shows it).
    public let logger: Logger
    let channel: HostChannel

    /// Reports progress: a `job.progress` event with `fraction` (0 to 1) and `message`.
    public func progress(_ fraction: Double, message: String? = nil) {
        var line = JSONWriter(capacity: 64)
        line.beginObject()
        if fraction.isFinite {
            line.key("progress")
            line.double(min(max(fraction, 0), 1))
        }
        if let message {
            line.key("message")
            line.string(message)
        }
        line.endObject()
        channel.writeLine(line.bytes)
    }

    /// Throws `CancellationError` once the job was cancelled or timed out.
    public func checkCancellation() throws {
        try Task.checkCancellation()
    }

    /// Whether the job was cancelled or timed out.
    public var isCancelled: Bool { Task.isCancelled }
}
