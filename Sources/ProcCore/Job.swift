@_exported import ProcWire

extension JobSpec {
    /// The keys a job object may have (`proc submit --batch` refuses any other).
    public static let keys = wireKeys + ["command"]

    public static let maxTimeoutSeconds: Double = Bounds.jobTimeout.range.upperBound
    public static let maxRetries = Bounds.retries.range.upperBound
    /// Queue names, label names and values, and job names: at most this many bytes.
    public static let maxNameBytes = 256

    /// The most bytes a function job's `args` may take, as JSON.
    public static let maxArgsBytes = 1 << 20

    /// A function job: it names a function instead of a command.
    public var isFunction: Bool { function != nil }

    /// What the job runs, for people: the command, shell-quoted by the caller, or "square(…)".
    public var what: String {
        if let function { return function + "(" + (args.map { $0.description } ?? "") + ")" }
        return argv.joined(separator: " ")
    }

    /// Checks what the coordinator can check; returns a message saying what is wrong, or nil.
    public func validationProblem(maxArgvBytes: Int = 1 << 20) -> String? {
        if let function {
            if !argv.isEmpty { return "a job runs a command or a function, not both: give argv or function" }
            if let problem = Self.functionNameProblem(function) { return problem }
            if let args, WireCoding.bytes(args).count > Self.maxArgsBytes {
                return "args too large (over \(Self.maxArgsBytes) bytes of JSON)"
            }
            if isolated != true && (env != nil || cwd != nil) {
                return "env and cwd apply to a function call only with isolated: true (a warm host is shared)"
            }
        } else {
            if argv.isEmpty { return "empty command: a job needs at least a program name (argv), or a function" }
            if argv[0].isEmpty { return "empty program name" }
            if args != nil { return "args go with a function: this job has no function" }
            if isolated != nil { return "isolated goes with a function: this job has no function" }
        }
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
        if let timeout, let problem = Bounds.jobTimeout.problem(timeout) { return "timeout \(problem)" }
        if let retries, let problem = Bounds.retries.problem(retries) { return "retries \(problem)" }
        if let priority, let problem = Bounds.priority.problem(priority) { return "priority \(problem)" }
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

extension JobSummary {
    public init(_ job: borrowing JobRecord) {
        self.init(id: job.id, status: job.status, queue: job.queue, attempt: job.attempt, reason: job.reason,
                  exitCode: job.exitCode, signal: job.signal, agentID: job.agentID, progress: job.progress,
                  command: job.spec.argv, function: job.spec.function, name: job.spec.name)
    }
}

extension ResultReply {
    public init(job: JobRecord, output: JobOutput?, waiting: String? = nil) {
        self.init(job: job, stdout: output?.stdout, stderr: output?.stderr, stdoutTruncated: output?.stdoutTruncated,
                  stderrTruncated: output?.stderrTruncated, waiting: waiting)
    }
}

extension Assignment {
    public init(job: JobRecord, killGraceMilliseconds: Int? = nil) {
        self.init(jobID: job.id, attempt: job.attempt, argv: job.spec.argv, function: job.spec.function,
                  args: job.spec.args, isolated: job.spec.isolated, env: job.spec.env, cwd: job.spec.cwd,
                  timeout: job.spec.timeout, queue: job.queue, killGraceMilliseconds: killGraceMilliseconds)
    }
}
