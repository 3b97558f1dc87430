import Glibc
import ProcWire
import ZeroMQ

/// Protocol messages as frames, made from the generated types: what the tests, the fuzzers and
/// proc-bench send, instead of JSON written by hand (which drifts from the schema unseen).
public enum WireFrames {
    /// A client request: protocol, command, request id, body.
    public static func request<Body: WireWritable>(_ command: Wire.ClientCommand, id: [UInt8], _ body: Body) -> [[UInt8]] {
        [Wire.clientProtocolBytes, command.frame, id, body.jsonBytes]
    }

    /// A job that completed with exit 0 just now, as an agent reports it.
    public static func completed(_ assignment: Assignment) -> RunResult {
        let now = currentTimestamp()
        return RunResult(jobID: assignment.jobID, attempt: assignment.attempt, status: .completed, exitCode: 0,
                         startedAt: now, finishedAt: now)
    }
}

/// A DEALER that speaks the agent protocol as it is told: for tests of the coordinator that need an agent
/// doing exactly what they say, and the bench's simulated agents.
public final class RawAgent {
    public let socket: ZMQSocket

    /// Connects to `endpoint` and says `hello`. `unbounded`: no high-water marks (the bench).
    public init(context: ZMQContext, endpoint: String, hello: Hello, routingID: [UInt8]? = nil, unbounded: Bool = false) throws {
        socket = try ZMQSocket(context: context, type: .dealer)
        if unbounded {
            socket.setOption(ZMQ_SNDHWM, 0)
            socket.setOption(ZMQ_RCVHWM, 0)
        }
        if let routingID { socket.setOption(ZMQ_ROUTING_ID, routingID) }
        try socket.connect(endpoint)
        try send(.hello(hello))
    }

    public func send(_ message: AgentMessage) throws {
        _ = try socket.send(message.frames)
    }

    /// The coordinator's next message other than WELCOME and HEARTBEAT, waiting up to `timeoutMilliseconds`
    /// for each (nil: none came); frames that are not a coordinator message are skipped.
    public func next(timeoutMilliseconds: Int = 10_000) throws -> CoordinatorMessage? {
        while let frames = try socket.receive(timeoutMilliseconds: timeoutMilliseconds) {
            guard let message = Self.decode(frames) else { continue }
            switch message {
            case .welcome, .heartbeat: continue
            default: return message
            }
        }
        return nil
    }

    /// A coordinator message from the frames a DEALER receives; nil if they are not one.
    public static func decode(_ frames: [[UInt8]]) -> CoordinatorMessage? {
        guard frames.count == 3, frames[0] == Wire.agentProtocolBytes, let command = Wire.AgentCommand(frame: frames[1])
        else { return nil }
        return (try? CoordinatorMessage(command, body: frames[2])) ?? nil
    }

    /// Reports each of `assignments` completed (exit 0), in one RESULT.
    public func complete(_ assignments: [Assignment]) throws {
        try send(.results(ResultsMessage(results: assignments.map(WireFrames.completed))))
    }

    public func close() { socket.close() }
}

/// A ROUTER bound on loopback that speaks the coordinator's side of the agent protocol as it is told, to
/// the last agent that wrote to it.
public final class RawCoordinator {
    public let router: ZMQSocket
    /// The route of the agent that sent the last message received.
    public private(set) var route: [UInt8] = []
    /// The port it listens on.
    public let port: String

    public init(context: ZMQContext, unbounded: Bool = false) throws {
        router = try ZMQSocket(context: context, type: .router)
        if unbounded { router.setOption(ZMQ_SNDHWM, 0) }
        try router.bind("tcp://127.0.0.1:*")
        port = String(router.lastEndpoint.split(separator: ":").last ?? "")
    }

    /// The next agent message, waiting up to `timeoutMilliseconds`; frames that are not one are skipped.
    public func receive(timeoutMilliseconds: Int) throws -> AgentMessage? {
        while let frames = try router.receive(timeoutMilliseconds: timeoutMilliseconds) {
            guard frames.count == 4, frames[1] == Wire.agentProtocolBytes, let command = Wire.AgentCommand(frame: frames[2]),
                let message = (try? AgentMessage(command, body: frames[3])) ?? nil
            else { continue }
            route = frames[0]
            return message
        }
        return nil
    }

    /// Sends to the agent of the last message received.
    public func send(_ message: CoordinatorMessage) throws {
        _ = try router.send([route] + message.frames)
    }

    public func close() { router.close() }
}
