/// Single-host mode: the agent that shares the coordinator's loop thread, reached by calls for the
/// per-job messages (JOBS, ACK, RESULT, PROGRESS) instead of JSON over the inproc socket; profiles put those
/// messages' encoding, decoding and socket hops at about a sixth of the loop (docs/performance.md). It
/// is used only while the agent's socket connection, which carries the rest of the agent protocol, is
/// the one the coordinator knows it by. The closures run on the loop thread only, hence unchecked.
public struct LocalAgentLink: @unchecked Sendable {
    /// The routing id of the agent's current, welcomed connection (nil: not now).
    public var route: () -> [UInt8]?
    /// Progress reports, taken before the results (a run's progress comes before its result).
    public var takeProgress: () -> [ProgressReport]
    /// Results to record; they stay in the agent's outbox until acknowledged.
    public var takeResults: () -> [RunResult]
    public var deliverJobs: ([Assignment]) -> Void
    public var deliverAck: ([RunRef]) -> Void

    public init(
        route: @escaping () -> [UInt8]?, takeProgress: @escaping () -> [ProgressReport],
        takeResults: @escaping () -> [RunResult],
        deliverJobs: @escaping ([Assignment]) -> Void, deliverAck: @escaping ([RunRef]) -> Void
    ) {
        self.route = route
        self.takeProgress = takeProgress
        self.takeResults = takeResults
        self.deliverJobs = deliverJobs
        self.deliverAck = deliverAck
    }
}
