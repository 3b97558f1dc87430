/// What the cluster state machine asks the coordinator's I/O code to do. The machine decides; the
/// coordinator journals, publishes and sends. Nothing leaves the coordinator before it is journaled.
public enum Effect: Sendable, Equatable {
    /// Journal, number and publish this event (`seq` and `time` are filled in by the coordinator).
    case event(Event)
    /// Send this run to this agent.
    case dispatch(agentID: String, Assignment)
    /// Ask this agent to end this attempt.
    case cancelRun(agentID: String, CancelRun)
    /// Put the job back in the queue after this many milliseconds (a retry's backoff).
    case requeueLater(JobID, milliseconds: Int)
    /// Store the run's captured output.
    case storeOutput(JobID, attempt: Int, JobOutput)
}
