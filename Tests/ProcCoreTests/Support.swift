import ProcCore
import Testing

/// A fixed clock for the state machine (it never reads the time itself).
let t0: Timestamp = 1_700_000_000

func agentInfo(_ id: String, slots: Int, labels: [String: String] = [:]) -> AgentInfo {
    AgentInfo(id: id, hostname: "host-\(id)", slots: slots, running: 0, labels: labels, joinedAt: t0, pid: 4242)
}

func job(_ argv: String..., queue: String? = nil, priority: Int? = nil, retries: Int? = nil,
         labels: [String: String]? = nil, name: String? = nil) -> JobSpec {
    JobSpec(argv: argv, queue: queue, priority: priority, retries: retries, labels: labels, name: name)
}

/// A state with these agents joined (join effects dropped).
func cluster(_ agents: AgentInfo..., settings: ClusterSettings = ClusterSettings()) -> ClusterState {
    var state = ClusterState(settings: settings)
    for agent in agents { _ = state.agentJoined(agent) }
    return state
}

extension ClusterState {
    /// Submits and returns the ids (effects checked elsewhere).
    @discardableResult
    mutating func add(_ specs: JobSpec...) -> [JobID] { submit(specs, now: t0).ids }

    func credits(_ agentID: String) -> Int? { agents[agentID]?.credits }
    func status(_ id: JobID) -> JobStatus? { jobs[id]?.status }
}

/// A run result as an agent would send it.
func runResult(_ id: JobID, attempt: Int = 1, status: JobStatus = .completed, reason: FailureReason? = nil,
               exitCode: Int32? = nil, signal: Int32? = nil, message: String? = nil,
               result: JSONValue? = nil) -> RunResult {
    RunResult(jobID: id, attempt: attempt, status: status, reason: reason, exitCode: exitCode, signal: signal,
              message: message, result: result, output: JobOutput(stdout: "out", stderr: "err"),
              startedAt: t0 + 1, finishedAt: t0 + 3.5)
}

struct Dispatch: Equatable {
    var agentID: String
    var assignment: Assignment
}

extension Array where Element == Effect {
    var events: [Event] {
        compactMap { if case .event(let event) = $0 { event } else { nil } }
    }
    var types: [EventType] { events.map(\.type) }
    func events(_ type: EventType) -> [Event] { events.filter { $0.type == type } }

    var dispatches: [Dispatch] {
        compactMap { if case .dispatch(let agentID, let a) = $0 { Dispatch(agentID: agentID, assignment: a) } else { nil } }
    }
    var dispatchedIDs: [JobID] { dispatches.map(\.assignment.jobID) }

    var cancelRuns: [(agentID: String, cancel: CancelRun)] {
        compactMap { if case .cancelRun(let agentID, let c) = $0 { (agentID, c) } else { nil } }
    }
    var requeues: [(id: JobID, milliseconds: Int)] {
        compactMap { if case .requeueLater(let id, let ms) = $0 { (id, ms) } else { nil } }
    }
}

/// The machine's calls at the fixed clock: a result is taken as the coordinator would take it the moment
/// the run ended (`finishedAt`), everything else at `t0`.
extension ClusterState {
    mutating func finished(_ run: RunResult, from agentID: String) -> [Effect] {
        finished(run, from: agentID, now: run.finishedAt)
    }
    mutating func agentJoined(_ info: AgentInfo, running: [RunRef] = []) -> [Effect] {
        agentJoined(info, running: running, now: t0)
    }
    mutating func agentLeft(_ agentID: String, reason: String) -> [Effect] { agentLeft(agentID, reason: reason, now: t0) }
    mutating func cancel(_ ids: [JobID]) -> (reply: CancelReply, unknown: [JobID], effects: [Effect]) { cancel(ids, now: t0) }
    mutating func cancel(queue: String) -> (reply: CancelReply, effects: [Effect]) { cancel(queue: queue, now: t0) }
    mutating func progress(_ report: ProgressReport, from agentID: String) -> [Effect] {
        progress(report, from: agentID, now: t0)
    }
    mutating func returned(_ runs: [RunRef], stopping: Bool, from agentID: String) -> [Effect] {
        returned(runs, stopping: stopping, from: agentID, now: t0)
    }
    mutating func expireAwaitingAgents(reason: String) -> [Effect] { expireAwaitingAgents(reason: reason, now: t0) }
}
