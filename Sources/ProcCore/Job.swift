/// A job's identifier, as printed by `proc submit` ("j42").
public typealias JobID = String

/// The five states of DESIGN §2: `pending → running → completed | error | cancelled`.
public enum JobStatus: String, Codable, Sendable, CaseIterable {
    case pending, running, completed, error, cancelled

    public var isFinal: Bool { self == .completed || self == .error || self == .cancelled }
}

/// Why a job ended in `error`.
public enum FailureReason: String, Codable, Sendable {
    /// The command exited with a non-zero code.
    case exit
    /// The command was killed by a signal it did not ask for.
    case signal
    /// The job ran longer than its `--timeout`.
    case timeout
    /// The command could not start: not found, not executable, bad working directory.
    case spawn
    /// The agent running it was lost and no attempts are left.
    case lost
}

/// What a user submits: an argv plus options. A line of `proc submit --batch` is this object, or a
/// bare JSON array (the argv).
public struct JobSpec: Codable, Sendable, Equatable {
    public var argv: [String]
    public var env: [String: String]?
    public var cwd: String?
    public var queue: String?
    public var priority: Int?
    /// Seconds; the job is ended as `error`/`timeout` after this long.
    public var timeout: Double?
    /// How many times to run the job again when it fails by itself (exit, signal, timeout, spawn).
    public var retries: Int?
    /// Labels an agent must carry to run this job (`gpu=1`).
    public var labels: [String: String]?
    /// A name for humans; shown by `proc status`.
    public var name: String?

    public init(
        argv: [String], env: [String: String]? = nil, cwd: String? = nil, queue: String? = nil,
        priority: Int? = nil, timeout: Double? = nil, retries: Int? = nil, labels: [String: String]? = nil,
        name: String? = nil
    ) {
        self.argv = argv
        self.env = env
        self.cwd = cwd
        self.queue = queue
        self.priority = priority
        self.timeout = timeout
        self.retries = retries
        self.labels = labels
        self.name = name
    }

    private enum CodingKeys: String, CodingKey {
        case argv, command, env, cwd, queue, priority, timeout, retries, labels, name
    }

    public init(from decoder: any Decoder) throws {
        // A bare array is an argv.
        if let argv = try? decoder.singleValueContainer().decode([String].self) {
            self.init(argv: argv)
            return
        }
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let argv = try container.decodeIfPresent([String].self, forKey: .argv)
            ?? container.decodeIfPresent([String].self, forKey: .command)
        guard let argv else {
            throw DecodingError.keyNotFound(
                CodingKeys.argv, .init(codingPath: container.codingPath, debugDescription: "a job needs \"argv\""))
        }
        self.init(
            argv: argv,
            env: try container.decodeIfPresent([String: String].self, forKey: .env),
            cwd: try container.decodeIfPresent(String.self, forKey: .cwd),
            queue: try container.decodeIfPresent(String.self, forKey: .queue),
            priority: try container.decodeIfPresent(Int.self, forKey: .priority),
            timeout: try container.decodeIfPresent(Double.self, forKey: .timeout),
            retries: try container.decodeIfPresent(Int.self, forKey: .retries),
            labels: try container.decodeIfPresent([String: String].self, forKey: .labels),
            name: try container.decodeIfPresent(String.self, forKey: .name))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(argv, forKey: .argv)
        try container.encodeIfPresent(env, forKey: .env)
        try container.encodeIfPresent(cwd, forKey: .cwd)
        try container.encodeIfPresent(queue, forKey: .queue)
        try container.encodeIfPresent(priority, forKey: .priority)
        try container.encodeIfPresent(timeout, forKey: .timeout)
        try container.encodeIfPresent(retries, forKey: .retries)
        try container.encodeIfPresent(labels, forKey: .labels)
        try container.encodeIfPresent(name, forKey: .name)
    }

    /// The keys a job object may have (`proc submit --batch` refuses any other).
    public static let keys = ["argv", "command", "env", "cwd", "queue", "priority", "timeout", "retries", "labels", "name"]

    public static let maxTimeoutSeconds: Double = Bounds.jobTimeout.range.upperBound
    public static let maxRetries = Bounds.retries.range.upperBound
    /// Queue names, label names and values, and job names: at most this many bytes.
    public static let maxNameBytes = 256

    /// Checks what the coordinator can check; returns a message saying what is wrong, or nil.
    public func validationProblem(maxArgvBytes: Int = 1 << 20) -> String? {
        if argv.isEmpty { return "empty command: a job needs at least a program name" }
        if argv[0].isEmpty { return "empty program name" }
        if argv.reduce(0, { $0 + $1.utf8.count }) > maxArgvBytes {
            return "command too large (over \(maxArgvBytes) bytes)"
        }
        // exec takes C strings: a NUL would cut an argument short without anyone noticing.
        if let index = argv.firstIndex(where: { $0.utf8.contains(0) }) {
            return "argument \(index) contains a NUL byte"
        }
        if let env, env.contains(where: { $0.key.utf8.contains(0) || $0.value.utf8.contains(0) }) {
            return "an environment variable contains a NUL byte"
        }
        let envBytes = env?.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count + 2 } ?? 0
        let labelBytes = labels?.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count } ?? 0
        if envBytes + labelBytes > maxArgvBytes {
            return "environment and labels too large (over \(maxArgvBytes) bytes)"
        }
        if let timeout {
            do { _ = try Bounds.jobTimeout.check(timeout, "timeout") } catch { return error.description }
        }
        if let retries {
            do { _ = try Bounds.retries.check(retries, "retries") } catch { return error.description }
        }
        if let priority {
            do { _ = try Bounds.priority.check(priority, "priority") } catch { return error.description }
        }
        if let cwd {
            if cwd.isEmpty { return "working directory is empty" }
            if cwd.utf8.contains(0) { return "working directory contains a NUL byte" }
        }
        if let queue, let problem = Self.nameProblem(queue, what: "queue name") { return problem }
        if let name, let problem = Self.nameProblem(name, what: "job name") { return problem }
        if let env, env.keys.contains(where: { $0.isEmpty || $0.contains("=") }) {
            return "environment variable names must be non-empty and contain no '='"
        }
        if let labels, let problem = Self.labelProblem(labels) { return problem }
        return nil
    }

    /// Why a queue or job name cannot be used: empty, too long, or holding a control character (a
    /// newline would break every line-based view of it).
    public static func nameProblem(_ text: String, what: String) -> String? {
        if text.isEmpty { return "\(what) is empty" }
        if text.utf8.count > maxNameBytes { return "\(what) is too long (over \(maxNameBytes) bytes)" }
        if text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            return "\(what) contains a control character (a newline, a tab, …)"
        }
        return nil
    }

    /// Why labels cannot be used: a label needs a name without '=' or control characters, and a value
    /// without control characters.
    public static func labelProblem(_ labels: [String: String]) -> String? {
        for (key, value) in labels.sorted(by: { $0.key < $1.key }) {
            if key.isEmpty { return "a label needs a name (KEY=VALUE)" }
            if key.contains("=") { return "label name '\(key)' contains '='" }
            if let problem = nameProblem(key, what: "label name") { return problem }
            if value.utf8.count > maxNameBytes { return "label '\(key)' has a value over \(maxNameBytes) bytes" }
            if value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
                return "label '\(key)' has a control character in its value"
            }
        }
        return nil
    }
}

/// Everything the coordinator knows of a job (outputs live in the journal, not here).
public struct JobRecord: Codable, Sendable, Equatable {
    public let id: JobID
    /// Submission order, unique per coordinator; also the FIFO key within a priority.
    public let number: UInt64
    public var spec: JobSpec
    public var status: JobStatus
    /// The current attempt, from 1. A result for another attempt is a late duplicate.
    public var attempt: Int
    public var reason: FailureReason?
    public var exitCode: Int32?
    public var signal: Int32?
    public var message: String?
    public var result: JSONValue?
    public var agentID: String?
    public var progress: Double?
    public var submittedAt: Timestamp
    public var startedAt: Timestamp?
    public var finishedAt: Timestamp?
    /// Set when a cancel was asked for the running attempt; the outcome becomes `cancelled`.
    public var cancelRequested: Bool
    /// How many attempts failed by themselves (counted against `spec.retries`).
    public var failures: Int
    /// How many attempts were lost with their agent (counted against the cluster's `maxLostAttempts`).
    public var lostAttempts: Int
    /// Attempts whose results were recorded: one that comes again (an agent resending what was not
    /// acknowledged) is a duplicate delivery, not news. (A lost attempt is never recorded: its result,
    /// if it ever comes, is a late result.)
    public var recordedAttempts: [Int]

    public var queue: String { spec.queue ?? defaultQueueName }

    public init(id: JobID, number: UInt64, spec: JobSpec, submittedAt: Timestamp) {
        self.id = id
        self.number = number
        self.spec = spec
        self.status = .pending
        self.attempt = 1
        self.submittedAt = submittedAt
        self.cancelRequested = false
        self.failures = 0
        self.lostAttempts = 0
        self.recordedAttempts = []
    }

    enum CodingKeys: String, CodingKey {
        case id, number, spec, status, attempt, reason, exitCode = "exit_code", signal, message, result
        case agentID = "agent_id", progress, submittedAt = "submitted_at", startedAt = "started_at"
        case finishedAt = "finished_at", cancelRequested = "cancel_requested", failures
        case lostAttempts = "lost_attempts", recordedAttempts = "recorded_attempts"
    }
}

public let defaultQueueName = "default"
