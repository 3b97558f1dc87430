/// The wire protocol, in one place (zguide's mdp.h is the model).
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

    /// Requests a client may send; the reply carries the same command name (or ERROR).
    public enum ClientCommand: String, Sendable, CaseIterable {
        case info = "INFO"
        case submit = "SUBMIT"
        case status = "STATUS"
        case result = "RESULT"
        case wait = "WAIT"
        case cancel = "CANCEL"
        case agents = "AGENTS"
        case queue = "QUEUE"
        case replay = "REPLAY"
        case error = "ERROR"
    }

    /// Messages between an agent and the coordinator.
    public enum AgentCommand: String, Sendable, CaseIterable {
        /// agent → coordinator: who I am, what I offer, what I am running.
        case hello = "HELLO"
        /// coordinator → agent: accepted; heartbeat settings.
        case welcome = "WELCOME"
        /// coordinator → agent: runs to start (one or many).
        case jobs = "JOBS"
        /// coordinator → agent: end this attempt (SIGTERM, grace, SIGKILL).
        case cancel = "CANCEL"
        /// agent → coordinator: progress from a job's fd 3 channel.
        case progress = "PROGRESS"
        /// agent → coordinator: finished attempts (one or many); each frees a slot.
        case result = "RESULT"
        /// both ways, when nothing else was sent for an interval.
        case heartbeat = "HEARTBEAT"
        /// coordinator → agent: I do not know you (say HELLO again).
        case reconnect = "RECONNECT"
        /// agent → coordinator: leaving (clean shutdown).
        case bye = "BYE"
        /// coordinator → agent: these results are journaled; forget them.
        case ack = "ACK"
        /// coordinator → agent: another agent joined under your name; stop (body: a message).
        case replaced = "REPLACED"
        /// coordinator → agent: your key is not (or no longer) authorized as an agent; stop (body: a message).
        case refused = "REFUSED"
        /// agent → coordinator: held runs it will not start (`ReturnMessage`); they run elsewhere, no attempt lost.
        case returned = "RETURN"

        /// The command frame's bytes, made once: the coordinator sends and reads one per agent message.
        public var frame: [UInt8] { Self.frames.first { $0.command == self }!.frame }
        private static let frames = allCases.map { (command: $0, frame: Array($0.rawValue.utf8)) }

        /// The command a frame names, without making a String of it first.
        public init?(frame: [UInt8]) {
            guard let known = Self.frames.first(where: { $0.frame == frame }) else { return nil }
            self = known.command
        }
    }
}

// MARK: client bodies

public struct ErrorReply: Codable, Sendable, Error, CustomStringConvertible {
    public var code: String
    public var message: String
    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { message }

    public static func badRequest(_ message: String) -> ErrorReply { .init(code: "bad_request", message: message) }
    public static func notFound(_ message: String) -> ErrorReply { .init(code: "not_found", message: message) }
    /// The peer's key does not carry a role that may do this (or was removed).
    public static func forbidden(_ message: String) -> ErrorReply { .init(code: "forbidden", message: message) }
}

public struct Empty: Codable, Sendable { public init() {} }

public struct InfoReply: Codable, Sendable {
    public var version: String
    /// The port of the event feed (PUB), on the same host as the control port.
    public var eventsPort: Int?
    public var eventsEndpoint: String
    public var lastSeq: UInt64
    public var jobs: Int
    public var agents: Int
    /// "curve" (keys and roles checked), "insecure" (no CURVE on a network port, by --insecure) or
    /// "local" (loopback, inproc or ipc only, no CURVE).
    public var security: String?
    /// The role of the asking peer's key, when the coordinator checks keys.
    public var role: String?
    /// Messages and handshakes refused since the start (malformed, forbidden, unknown keys), by kind.
    public var rejected: [String: Int]?
    public init(version: String, eventsPort: Int?, eventsEndpoint: String, lastSeq: UInt64, jobs: Int, agents: Int,
                security: String? = nil, role: String? = nil, rejected: [String: Int]? = nil) {
        self.rejected = rejected
        self.security = security
        self.role = role
        self.version = version
        self.eventsPort = eventsPort
        self.eventsEndpoint = eventsEndpoint
        self.lastSeq = lastSeq
        self.jobs = jobs
        self.agents = agents
    }
    enum CodingKeys: String, CodingKey {
        case version, eventsPort = "events_port", eventsEndpoint = "events_endpoint", lastSeq = "last_seq", jobs, agents
        case security, role, rejected
    }
}

public struct SubmitRequest: Codable, Sendable {
    public var jobs: [JobSpec]
    public init(jobs: [JobSpec]) { self.jobs = jobs }
}

public struct SubmitReply: Codable, Sendable {
    public var ids: [JobID]
    public init(ids: [JobID]) { self.ids = ids }
}

public struct StatusRequest: Codable, Sendable {
    public var ids: [JobID]?
    public var queue: String?
    /// At most this many jobs (newest first) when no ids are given.
    public var limit: Int?
    public init(ids: [JobID]? = nil, queue: String? = nil, limit: Int? = nil) {
        self.ids = ids
        self.queue = queue
        self.limit = limit
    }
}

/// A job as `proc status` shows it.
public struct JobSummary: Codable, Sendable, Equatable {
    public var id: JobID
    public var status: JobStatus
    public var queue: String
    public var attempt: Int
    public var reason: FailureReason?
    public var exitCode: Int32?
    public var signal: Int32?
    public var agentID: String?
    public var progress: Double?
    public var command: [String]
    public var name: String?

    public init(_ job: borrowing JobRecord) {
        id = job.id
        status = job.status
        queue = job.queue
        attempt = job.attempt
        reason = job.reason
        exitCode = job.exitCode
        signal = job.signal
        agentID = job.agentID
        progress = job.progress
        command = job.spec.argv
        name = job.spec.name
    }

    init(id: JobID, status: JobStatus, queue: String, attempt: Int, reason: FailureReason?, exitCode: Int32?,
         signal: Int32?, agentID: String?, progress: Double?, command: [String], name: String?) {
        self.id = id
        self.status = status
        self.queue = queue
        self.attempt = attempt
        self.reason = reason
        self.exitCode = exitCode
        self.signal = signal
        self.agentID = agentID
        self.progress = progress
        self.command = command
        self.name = name
    }

    enum CodingKeys: String, CodingKey {
        case id, status, queue, attempt, reason, exitCode = "exit_code", signal, agentID = "agent_id", progress
        case command, name
    }
}

public struct StatusReply: Codable, Sendable {
    public var jobs: [JobSummary]
    /// Jobs in each state, over the whole coordinator (or the queue asked for).
    public var counts: [String: Int]
    public init(jobs: [JobSummary], counts: [String: Int]) {
        self.jobs = jobs
        self.counts = counts
    }
}

public struct ResultRequest: Codable, Sendable {
    public var id: JobID
    public init(id: JobID) { self.id = id }
}

/// Everything about one job: `proc result`.
public struct ResultReply: Codable, Sendable {
    public var job: JobRecord
    public var stdout: String?
    public var stderr: String?
    public var stdoutTruncated: Bool?
    public var stderrTruncated: Bool?
    public init(job: JobRecord, output: JobOutput?) {
        self.job = job
        stdout = output?.stdout
        stderr = output?.stderr
        stdoutTruncated = output?.stdoutTruncated
        stderrTruncated = output?.stderrTruncated
    }
    enum CodingKeys: String, CodingKey {
        case job, stdout, stderr, stdoutTruncated = "stdout_truncated", stderrTruncated = "stderr_truncated"
    }
}

/// The captured tail of a run's stdout and stderr.
public struct JobOutput: Codable, Sendable, Equatable {
    public var stdout: String
    public var stderr: String
    public var stdoutTruncated: Bool
    public var stderrTruncated: Bool
    /// Nothing printed.
    public static let empty = JobOutput(stdout: "", stderr: "")

    public init(stdout: String, stderr: String, stdoutTruncated: Bool = false, stderrTruncated: Bool = false) {
        self.stdout = stdout
        self.stderr = stderr
        self.stdoutTruncated = stdoutTruncated
        self.stderrTruncated = stderrTruncated
    }
    enum CodingKeys: String, CodingKey {
        case stdout, stderr, stdoutTruncated = "stdout_truncated", stderrTruncated = "stderr_truncated"
    }
}

public struct WaitRequest: Codable, Sendable {
    public var ids: [JobID]
    /// The coordinator answers when all are final, or after this long with where they are.
    public var timeoutMilliseconds: Int
    /// The reply carries only the jobs that are final (absent or false: every job). A client that asks
    /// again for the rest needs no more: on a big batch, the summaries of jobs still pending were most
    /// of the coordinator's work for each reply (docs/performance.md, item 44).
    public var finalOnly: Bool?
    public init(ids: [JobID], timeoutMilliseconds: Int, finalOnly: Bool? = nil) {
        self.ids = ids
        self.timeoutMilliseconds = timeoutMilliseconds
        self.finalOnly = finalOnly
    }
    enum CodingKeys: String, CodingKey { case ids, timeoutMilliseconds = "timeout_ms", finalOnly = "final_only" }
}

public struct WaitReply: Codable, Sendable {
    public var jobs: [JobSummary]
    public var done: Bool
    public init(jobs: [JobSummary], done: Bool) {
        self.jobs = jobs
        self.done = done
    }
}

public struct CancelRequest: Codable, Sendable {
    public var ids: [JobID]?
    public var queue: String?
    public init(ids: [JobID]? = nil, queue: String? = nil) {
        self.ids = ids
        self.queue = queue
    }
}

public struct CancelReply: Codable, Sendable {
    /// Pending jobs cancelled at once, and running ones asked to stop.
    public var cancelled: [JobID]
    /// Jobs that had already ended (nothing to do).
    public var alreadyFinal: [JobID]
    public init(cancelled: [JobID], alreadyFinal: [JobID]) {
        self.cancelled = cancelled
        self.alreadyFinal = alreadyFinal
    }
    enum CodingKeys: String, CodingKey { case cancelled, alreadyFinal = "already_final" }
}

public struct AgentInfo: Codable, Sendable, Equatable {
    public var id: String
    public var hostname: String
    public var slots: Int
    public var running: Int
    public var labels: [String: String]
    public var joinedAt: Timestamp
    public var pid: Int32?
    /// Runs the agent takes beyond its slots, to start the moment a slot frees (see `Hello.prefetch`).
    public var prefetch: Int?
    public init(
        id: String, hostname: String, slots: Int, running: Int, labels: [String: String], joinedAt: Timestamp,
        pid: Int32?, prefetch: Int? = nil
    ) {
        self.id = id
        self.hostname = hostname
        self.slots = slots
        self.running = running
        self.labels = labels
        self.joinedAt = joinedAt
        self.pid = pid
        self.prefetch = prefetch
    }
    enum CodingKeys: String, CodingKey {
        case id, hostname, slots, running, labels, joinedAt = "joined_at", pid, prefetch
    }
}

public struct AgentsReply: Codable, Sendable {
    public var agents: [AgentInfo]
    public init(agents: [AgentInfo]) { self.agents = agents }
}

/// Sets a queue's limit of running jobs across the cluster (`maxRunning` 0 = no limit), or only lists
/// queues when `name` is nil.
public struct QueueRequest: Codable, Sendable {
    public var name: String?
    public var maxRunning: Int?
    public init(name: String? = nil, maxRunning: Int? = nil) {
        self.name = name
        self.maxRunning = maxRunning
    }
    enum CodingKeys: String, CodingKey { case name, maxRunning = "max_running" }
}

public struct QueueInfo: Codable, Sendable, Equatable {
    public var name: String
    public var maxRunning: Int
    public var pending: Int
    public var running: Int
    public init(name: String, maxRunning: Int, pending: Int, running: Int) {
        self.name = name
        self.maxRunning = maxRunning
        self.pending = pending
        self.running = running
    }
    enum CodingKeys: String, CodingKey { case name, maxRunning = "max_running", pending, running }
}

public struct QueueReply: Codable, Sendable {
    public var queues: [QueueInfo]
    public init(queues: [QueueInfo]) { self.queues = queues }
}

public struct ReplayRequest: Codable, Sendable {
    public var fromSeq: UInt64
    public var limit: Int
    public init(fromSeq: UInt64, limit: Int) {
        self.fromSeq = fromSeq
        self.limit = limit
    }
    enum CodingKeys: String, CodingKey { case fromSeq = "from_seq", limit }
}

public struct ReplayReply: Codable, Sendable {
    public var events: [Event]
    public var lastSeq: UInt64
    public init(events: [Event], lastSeq: UInt64) {
        self.events = events
        self.lastSeq = lastSeq
    }
    enum CodingKeys: String, CodingKey { case events, lastSeq = "last_seq" }
}

// MARK: agent bodies

/// A run the agent is (or was) doing, named by its fence.
public struct RunRef: Codable, Sendable, Hashable {
    public var jobID: JobID
    public var attempt: Int
    public init(jobID: JobID, attempt: Int) {
        self.jobID = jobID
        self.attempt = attempt
    }
    enum CodingKeys: String, CodingKey { case jobID = "job_id", attempt }
}

public struct Hello: Codable, Sendable {
    public var name: String
    public var hostname: String
    public var slots: Int
    public var labels: [String: String]
    public var pid: Int32
    public var version: String
    /// Attempts still running on the agent (after a reconnect), and those it holds to start next.
    public var running: [RunRef]
    /// Runs to send beyond `slots`: the agent holds them and starts one the moment a slot frees, with
    /// no round trip to the coordinator in between. (Absent: none, as agents before it.)
    public var prefetch: Int?
    /// The agent reads the ACKs carried by JOBS (`JobsMessage.acks`): a coordinator then sends one message
    /// per agent and flush instead of two. (Absent: ACK messages only, as agents before it.)
    public var acksInJobs: Bool?
    public init(
        name: String, hostname: String, slots: Int, labels: [String: String], pid: Int32, version: String,
        running: [RunRef], prefetch: Int? = nil, acksInJobs: Bool? = nil
    ) {
        self.acksInJobs = acksInJobs
        self.name = name
        self.hostname = hostname
        self.slots = slots
        self.labels = labels
        self.pid = pid
        self.version = version
        self.running = running
        self.prefetch = prefetch
    }
    enum CodingKeys: String, CodingKey {
        case name, hostname, slots, labels, pid, version, running, prefetch, acksInJobs = "acks_in_jobs"
    }
}

public struct Welcome: Codable, Sendable {
    public var agentID: String
    public var heartbeatMilliseconds: Int
    public var liveness: Int
    /// The coordinator takes RETURN, and a result `error`/`lost` as a run lost with its agent: a stopping
    /// agent gives its held runs back, and reports the runs it ends so. Without it (an older coordinator)
    /// it does neither: held runs are lost at BYE, ended runs reported `cancelled`, as before.
    public var takesReturns: Bool?
    public init(agentID: String, heartbeatMilliseconds: Int, liveness: Int, takesReturns: Bool? = nil) {
        self.agentID = agentID
        self.heartbeatMilliseconds = heartbeatMilliseconds
        self.liveness = liveness
        self.takesReturns = takesReturns
    }
    enum CodingKeys: String, CodingKey {
        case agentID = "agent_id", heartbeatMilliseconds = "heartbeat_ms", liveness, takesReturns = "takes_returns"
    }
}

/// One run for an agent to start.
public struct Assignment: Codable, Sendable, Equatable {
    public var jobID: JobID
    public var attempt: Int
    public var argv: [String]
    public var env: [String: String]?
    public var cwd: String?
    public var timeout: Double?
    public var queue: String
    /// Between SIGTERM and SIGKILL when the run is cancelled or times out.
    public var killGraceMilliseconds: Int?
    public init(job: JobRecord, killGraceMilliseconds: Int? = nil) {
        self.killGraceMilliseconds = killGraceMilliseconds
        jobID = job.id
        attempt = job.attempt
        argv = job.spec.argv
        env = job.spec.env
        cwd = job.spec.cwd
        timeout = job.spec.timeout
        queue = job.queue
    }
    public init(
        jobID: JobID, attempt: Int, argv: [String], env: [String: String]?, cwd: String?, timeout: Double?,
        queue: String, killGraceMilliseconds: Int?
    ) {
        self.jobID = jobID
        self.attempt = attempt
        self.argv = argv
        self.env = env
        self.cwd = cwd
        self.timeout = timeout
        self.queue = queue
        self.killGraceMilliseconds = killGraceMilliseconds
    }
    enum CodingKeys: String, CodingKey { case jobID = "job_id", attempt, argv, env, cwd, timeout, queue, killGraceMilliseconds = "kill_grace_ms" }
}

public struct JobsMessage: Codable, Sendable, Equatable {
    public var jobs: [Assignment]
    /// Results journaled since the last message, for agents that said `acks_in_jobs` in their HELLO: the
    /// ACK they would otherwise get as a message of its own (absent: none).
    public var acks: [RunRef]?
    public init(jobs: [Assignment], acks: [RunRef]? = nil) {
        self.jobs = jobs
        self.acks = acks
    }
}

public struct CancelRun: Codable, Sendable, Equatable {
    public var jobID: JobID
    public var attempt: Int
    public var graceMilliseconds: Int
    public init(jobID: JobID, attempt: Int, graceMilliseconds: Int) {
        self.jobID = jobID
        self.attempt = attempt
        self.graceMilliseconds = graceMilliseconds
    }
    enum CodingKeys: String, CodingKey { case jobID = "job_id", attempt, graceMilliseconds = "grace_ms" }
}

public struct ProgressReport: Codable, Sendable {
    public var jobID: JobID
    public var attempt: Int
    public var progress: Double?
    public var message: String?
    public init(jobID: JobID, attempt: Int, progress: Double?, message: String?) {
        self.jobID = jobID
        self.attempt = attempt
        self.progress = progress
        self.message = message
    }
    enum CodingKeys: String, CodingKey { case jobID = "job_id", attempt, progress, message }
}

/// How an attempt ended, as the agent saw it.
public struct RunResult: Codable, Sendable, Equatable {
    public var jobID: JobID
    public var attempt: Int
    /// completed, error or cancelled.
    public var status: JobStatus
    public var reason: FailureReason?
    public var exitCode: Int32?
    public var signal: Int32?
    public var message: String?
    public var result: JSONValue?
    public var output: JobOutput
    public var startedAt: Timestamp
    public var finishedAt: Timestamp

    public init(
        jobID: JobID, attempt: Int, status: JobStatus, reason: FailureReason? = nil, exitCode: Int32? = nil,
        signal: Int32? = nil, message: String? = nil, result: JSONValue? = nil,
        output: JobOutput = JobOutput(stdout: "", stderr: ""), startedAt: Timestamp, finishedAt: Timestamp
    ) {
        self.jobID = jobID
        self.attempt = attempt
        self.status = status
        self.reason = reason
        self.exitCode = exitCode
        self.signal = signal
        self.message = message
        self.result = result
        self.output = output
        self.startedAt = startedAt
        self.finishedAt = finishedAt
    }

    enum CodingKeys: String, CodingKey {
        case jobID = "job_id", attempt, status, reason, exitCode = "exit_code", signal, message, result, output
        case startedAt = "started_at", finishedAt = "finished_at"
    }
}

public struct ResultsMessage: Codable, Sendable, Equatable {
    public var results: [RunResult]
    /// The agent now asks for this prefetch instead of its HELLO's (absent: unchanged). Its credits
    /// follow; runs it holds beyond a lower one are not taken back.
    public var prefetch: Int?
    public init(results: [RunResult], prefetch: Int? = nil) {
        self.results = results
        self.prefetch = prefetch
    }
}

/// Runs an agent holds and will not start, because it is stopping (design note 8): each goes back to
/// pending at once, with no lost attempt counted. `stopping`: send this agent nothing more.
public struct ReturnMessage: Codable, Sendable, Equatable {
    public var runs: [RunRef]
    public var stopping: Bool?
    public init(runs: [RunRef], stopping: Bool? = nil) {
        self.runs = runs
        self.stopping = stopping
    }
}

/// The results the coordinator has journaled (sent after the commit): the agent may forget them.
public struct AckMessage: Codable, Sendable, Equatable {
    public var runs: [RunRef]
    public init(runs: [RunRef]) { self.runs = runs }
}
