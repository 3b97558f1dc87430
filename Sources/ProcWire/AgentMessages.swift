/// What an agent says to its coordinator: the agent protocol's messages as values, with their frames
/// made and read here only (over a socket; single-host mode passes the values as they are).
public enum AgentMessage: Sendable, Equatable {
    case hello(Hello)
    case results(ResultsMessage)
    case progress(ProgressReport)
    case heartbeat
    case returned(ReturnMessage)
    case bye

    public var command: Wire.AgentCommand {
        switch self {
        case .hello: .hello
        case .results: .result
        case .progress: .progress
        case .heartbeat: .heartbeat
        case .returned: .returned
        case .bye: .bye
        }
    }

    /// The frames after the routing envelope: protocol, command, body.
    public var frames: [[UInt8]] {
        let body: [UInt8] = switch self {
        case .hello(let hello): hello.jsonBytes
        case .results(let results): results.jsonBytes
        case .progress(let progress): progress.jsonBytes
        case .returned(let returned): returned.jsonBytes
        case .heartbeat, .bye: []
        }
        return [Wire.agentProtocolBytes, command.frame, body]
    }

    /// The message a command frame and a body make; nil for a command only coordinators send.
    public init?(_ command: Wire.AgentCommand, body: [UInt8]) throws(WireError) {
        switch command {
        case .hello: self = .hello(try WireCoding.decode(Hello.self, from: body))
        case .result: self = .results(try WireCoding.decode(ResultsMessage.self, from: body))
        case .progress: self = .progress(try WireCoding.decode(ProgressReport.self, from: body))
        case .heartbeat: self = .heartbeat
        case .returned: self = .returned(try WireCoding.decode(ReturnMessage.self, from: body))
        case .bye: self = .bye
        case .welcome, .jobs, .cancel, .reconnect, .ack, .replaced, .refused: return nil
        }
    }
}

/// What a coordinator says to an agent.
public enum CoordinatorMessage: Sendable, Equatable {
    case welcome(Welcome)
    case jobs(JobsMessage)
    case cancel(CancelRun)
    case ack(AckMessage)
    case heartbeat
    /// I do not know you: say HELLO again.
    case reconnect
    /// Another agent joined under your name: stop (why, in words).
    case replaced(String)
    /// Your key is not (or no longer) an agent's: stop (why, in words).
    case refused(String)

    public var command: Wire.AgentCommand {
        switch self {
        case .welcome: .welcome
        case .jobs: .jobs
        case .cancel: .cancel
        case .ack: .ack
        case .heartbeat: .heartbeat
        case .reconnect: .reconnect
        case .replaced: .replaced
        case .refused: .refused
        }
    }

    /// The frames after the routing envelope: protocol, command, body.
    public var frames: [[UInt8]] {
        let body: [UInt8] = switch self {
        case .welcome(let welcome): welcome.jsonBytes
        case .jobs(let jobs): jobs.jsonBytes
        case .cancel(let cancel): cancel.jsonBytes
        case .ack(let ack): ack.jsonBytes
        case .heartbeat, .reconnect: []
        case .replaced(let text), .refused(let text): Array(text.utf8)
        }
        return [Wire.agentProtocolBytes, command.frame, body]
    }

    /// The message a command frame and a body make; nil for a command only agents send.
    public init?(_ command: Wire.AgentCommand, body: [UInt8]) throws(WireError) {
        switch command {
        case .welcome: self = .welcome(try WireCoding.decode(Welcome.self, from: body))
        case .jobs: self = .jobs(try WireCoding.decode(JobsMessage.self, from: body))
        case .cancel: self = .cancel(try WireCoding.decode(CancelRun.self, from: body))
        case .ack: self = .ack(try WireCoding.decode(AckMessage.self, from: body))
        case .heartbeat: self = .heartbeat
        case .reconnect: self = .reconnect
        case .replaced: self = .replaced(String(decoding: body, as: UTF8.self))
        case .refused: self = .refused(String(decoding: body, as: UTF8.self))
        case .hello, .progress, .result, .bye, .returned: return nil
        }
    }
}
