/// What a key may do, given by the coordinator's authorized-keys directory (DESIGN §3, Security).
public enum PeerRole: String, Sendable, CaseIterable, Codable {
    /// Joins and runs jobs (PROC-AGENT/1); reads like an observer.
    case agent
    /// Submits, cancels, sets queue limits, reads.
    case client
    /// Reads only: the event feed, status, results, agents, queues.
    case observer

    /// Whether this role may send `command`. `changesState` tells a QUEUE that sets a limit from one that
    /// only lists the queues.
    public func may(_ command: Wire.ClientCommand, changesState: Bool) -> Bool {
        switch command {
        case .submit, .cancel: return self == .client
        case .queue: return !changesState || self == .client
        case .info, .status, .result, .wait, .agents, .replay, .error: return true
        }
    }

    public var mayJoinAsAgent: Bool { self == .agent }
}
