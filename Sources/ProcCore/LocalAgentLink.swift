/// Single-host mode: an agent and its coordinator on one loop thread, talking by calls instead of a socket
/// (the messages as values: no JSON, no socket hops). Each side sees the other through one of these
/// protocols; both are called on the loop thread only. The coordinator delivers to its local agent only
/// what it would send over a socket, after the same commit.
public protocol LocalAgentEndpoint: AnyObject {
    /// A message from the coordinator (after the commit that makes it true).
    func deliver(_ message: CoordinatorMessage)
}

/// The coordinator, as an agent on its loop sees it.
public protocol LocalCoordinatorEndpoint: AnyObject {
    /// A message from the agent, handled as one read from a socket would be.
    func receive(_ message: AgentMessage, from agent: any LocalAgentEndpoint)
}
