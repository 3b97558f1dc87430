/// Event types: the topic frame of every event on the feed, and the body's `type` (DESIGN §2).
public enum EventType: String, Codable, Sendable, CaseIterable {
    case jobSubmitted = "job.submitted"
    case jobStarted = "job.started"
    case jobProgress = "job.progress"
    case jobCompleted = "job.completed"
    case jobFailed = "job.failed"
    case jobCancelled = "job.cancelled"
    case jobRetrying = "job.retrying"
    /// A result for an attempt the coordinator had already given up on. Never changes the outcome.
    case jobLateResult = "job.late_result"
    case agentJoined = "agent.joined"
    case agentLeft = "agent.left"
    case queueUpdated = "queue.updated"

    /// The topic frame's bytes, made once (publishing made an array per event).
    public var topic: [UInt8] { Self.topics[self]! }
    private static let topics = Dictionary(uniqueKeysWithValues: allCases.map { ($0, Array($0.rawValue.utf8)) })
}

/// One event of the feed. Sent as two frames: the topic (`type`), then this body as JSON.
///
/// `seq`, `time` and `type` are always present; job events add `job_id`, `status`, `queue`, `attempt`;
/// the rest where known. Fields may be added; none is ever renamed or removed.
public struct Event: Codable, Sendable, Equatable {
    public var seq: UInt64
    public var time: String
    public var type: EventType
    public var jobID: JobID?
    public var status: JobStatus?
    public var queue: String?
    public var attempt: Int?
    public var agentID: String?
    public var exitCode: Int32?
    public var signal: Int32?
    public var reason: String?
    public var result: JSONValue?
    public var progress: Double?
    public var message: String?
    /// job.submitted: the argv; job.started: the argv too, for a human watching.
    public var command: [String]?
    public var priority: Int?
    public var name: String?
    /// Seconds the attempt ran (final events).
    public var duration: Double?
    /// agent.joined: what the agent offers.
    public var slots: Int?
    public var labels: [String: String]?
    public var hostname: String?
    /// queue.updated: the limit of running jobs (0 = none).
    public var maxRunning: Int?
    /// agent.joined: how the coordinator's connections are secured: "curve", "insecure" (a network port
    /// without CURVE, by --insecure) or "local" (loopback, inproc or ipc only).
    public var security: String?

    public init(type: EventType) {
        self.seq = 0
        self.time = ""
        self.type = type
    }

    enum CodingKeys: String, CodingKey {
        case seq, time, type, jobID = "job_id", status, queue, attempt, agentID = "agent_id"
        case exitCode = "exit_code", signal, reason, result, progress, message, command, priority, name
        case duration, slots, labels, hostname, maxRunning = "max_running", security
    }

    /// A job event with the fields every job event carries.
    public static func job(_ type: EventType, _ job: JobRecord) -> Event {
        var event = Event(type: type)
        event.jobID = job.id
        event.status = job.status
        event.queue = job.queue
        event.attempt = job.attempt
        event.agentID = job.agentID
        return event
    }
}

extension Event {
    /// The seq of an event body as the coordinator writes it, first: `{"seq":123,`. Nil for anything
    /// else (decode the body in full then). Lets a subscriber keep count of events it does not decode.
    public static func leadingSeq(_ body: [UInt8]) -> UInt64? {
        let prefix: StaticString = #"{"seq":"#
        guard body.count > prefix.utf8CodeUnitCount + 1 else { return nil }
        for index in 0..<prefix.utf8CodeUnitCount where body[index] != prefix.utf8Start[index] { return nil }
        var value: UInt64 = 0
        var index = prefix.utf8CodeUnitCount
        while index < body.count, body[index] >= 48, body[index] <= 57 {
            let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times.addingReportingOverflow(UInt64(body[index] - 48))
            guard !overflow1, !overflow2 else { return nil }
            value = sum
            index += 1
        }
        guard index > prefix.utf8CodeUnitCount, index < body.count, body[index] == UInt8(ascii: ",") else { return nil }
        return value
    }
}
