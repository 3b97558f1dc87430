import ProcCore
import ZeroMQ

/// Single-host mode: the coordinator shares this agent's loop thread, so the per-job messages (JOBS,
/// ACK, RESULT, PROGRESS) travel as values through these calls instead of JSON over the inproc socket.
/// The rest of the agent protocol (HELLO, WELCOME, heartbeats, CANCEL) still uses the socket, and so
/// does everything while the agent is not welcomed. Called on the loop thread only.
extension Agent {
    /// The routing id of the connection the coordinator knows this agent by, once welcomed.
    public var linkRoute: Frame? {
        linked && welcomed && dealer != nil ? routingID : nil
    }

    /// Results not yet delivered (they stay in the outbox until acknowledged, as over the socket).
    public func takeLinkedResults() -> [RunResult] {
        guard linked, welcomed, outbox.hasUnsent else { return [] }
        return outbox.takeUnsent()
    }

    /// Progress reports since the last call (kept in order with the results: both go by the link).
    public func takeLinkedProgress() -> [ProgressReport] {
        defer { linkedProgress.removeAll() }
        return linkedProgress
    }

    /// Sends a progress report over the link when it is up, else over the socket.
    func report(_ progress: ProgressReport) {
        if linkRoute != nil && !stopping {
            linkedProgress.append(progress)
        } else {
            send(.progress, WireCoding.bytes(progress))
        }
    }

    /// Called from the coordinator's flush, after its commit.
    public func receiveJobs(_ assignments: [Assignment]) {
        lastHeard = monotonicMilliseconds()
        for assignment in assignments { launch(assignment) }
        // A run that could not start has its result already; the coordinator took this iteration's
        // results before it called, so make sure another iteration comes at once.
        if outbox.hasUnsent { loop.schedule(afterMilliseconds: 0) {} }
    }

    public func receiveAck(_ runs: [RunRef]) {
        outbox.acknowledge(runs)
    }
}

extension LocalAgentLink {
    /// The link to `agent` (which must have `linked` set before it starts).
    public static func linking(_ agent: Agent) -> LocalAgentLink {
        LocalAgentLink(
            route: { agent.linkRoute }, takeProgress: { agent.takeLinkedProgress() },
            takeResults: { agent.takeLinkedResults() },
            deliverJobs: { agent.receiveJobs($0) }, deliverAck: { agent.receiveAck($0) })
    }
}
