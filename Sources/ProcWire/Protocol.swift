/// The wire protocol's frames (zguide's mdp.h is the model; the bodies are in `Generated/`, the reference
/// in docs/wire.md and docs/contracts.md).
///
/// Everything travels over the coordinator's ROUTER (control, default port 5555). After the routing
/// envelope, the first frame names the protocol and its version; the second is the command. Then:
///
///     client → coordinator:  [PROC-CLIENT/1] [COMMAND] [request id] [JSON body]
///     coordinator → client:  [PROC-CLIENT/1] [COMMAND | ERROR] [request id] [JSON body]
///     agent ↔ coordinator:   [PROC-AGENT/1] [COMMAND] [JSON body]
///
/// A message with another protocol frame is answered with ERROR (clients) or dropped and counted.
public enum Wire {
    public static let clientProtocol = "PROC-CLIENT/1"
    public static let agentProtocol = "PROC-AGENT/1"
    public static let clientProtocolBytes = Array(clientProtocol.utf8)
    public static let agentProtocolBytes = Array(agentProtocol.utf8)
}

extension Wire.AgentCommand {
    /// The command frame's bytes, made once: the coordinator sends and reads one per agent message.
    public var frame: [UInt8] { Self.frames.first { $0.command == self }!.frame }
    private static let frames = allCases.map { (command: $0, frame: Array($0.rawValue.utf8)) }

    /// The command a frame names, without making a String of it first.
    public init?(frame: [UInt8]) {
        guard let known = Self.frames.first(where: { $0.frame == frame }) else { return nil }
        self = known.command
    }
}

extension Wire.ClientCommand {
    public var frame: [UInt8] { Array(rawValue.utf8) }
}
