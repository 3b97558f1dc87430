import Glibc
import Testing
import ZeroMQ

/// Receives one message, retrying the poll until `milliseconds` have passed (a poll may return early).
func receive(_ socket: ZMQSocket, within milliseconds: Int64 = 5_000) throws -> [Frame]? {
    let deadline = monotonicMilliseconds() + milliseconds
    while true {
        let left = deadline - monotonicMilliseconds()
        if left <= 0 { return try socket.receive() }
        if let message = try socket.receive(timeoutMilliseconds: Int(min(left, 250))) { return message }
    }
}

/// Sends, retrying while libzmq says "not now" (no pipe yet), for at most `milliseconds`.
func send(_ socket: ZMQSocket, _ frames: [Frame], within milliseconds: Int64 = 5_000) throws -> Bool {
    let deadline = monotonicMilliseconds() + milliseconds
    while monotonicMilliseconds() < deadline {
        if try socket.send(frames) { return true }
        usleep(10_000)
    }
    return false
}

func bytes(_ text: String) -> Frame { Array(text.utf8) }
func text(_ frame: Frame) -> String { String(decoding: frame, as: UTF8.self) }

/// The port of "tcp://127.0.0.1:41235".
func port(of endpoint: String) -> Int? {
    guard let colon = endpoint.lastIndex(of: ":") else { return nil }
    return Int(endpoint[endpoint.index(after: colon)...])
}

/// A value shared between the loop thread and the test thread.
final class Shared<Value: Sendable>: @unchecked Sendable {
    private let lock = Mutex()
    private var stored: Value
    init(_ value: Value) { stored = value }
    var value: Value { lock.withLock { stored } }
    func set(_ value: Value) { lock.withLock { stored = value } }
    @discardableResult
    func update<T>(_ body: (inout Value) -> T) -> T { lock.withLock { body(&stored) } }
}

/// Loop-only state handed across threads by reference (touched only on the loop thread).
final class LoopOwned<Value>: @unchecked Sendable {
    var value: Value
    init(_ value: Value) { self.value = value }
}

/// A started loop with its own context; `shutDown` stops, joins and terminates.
final class RunningLoop: Sendable {
    let context: ZMQContext
    let loop: EventLoop

    init(_ name: String = "test-loop") {
        context = ZMQContext()
        loop = EventLoop(name: name, context: context)
        loop.start()
    }

    /// Stops the loop; every socket it owns must be closed by an `onStop` hook.
    func shutDown(sourceLocation: SourceLocation = #_sourceLocation) {
        loop.stop()
        let joined = loop.join(timeoutSeconds: 10)
        #expect(joined, "loop did not stop", sourceLocation: sourceLocation)
        if joined { context.terminate() }
    }
}
