import DequeModule
import Glibc

/// How a run's process ended, as waitpid tells it.
public enum RunExit: Sendable, Equatable {
    case exited(Int32)
    case signaled(Int32)
}

/// An agent's runs, as a machine: which run takes a slot, which waits (prefetch), how each ends and what
/// is reported. It decides; the agent's I/O code carries out its actions (spawning, signals, timers,
/// results) and tells it what happened. Times are given by the caller: seconds since 1970 for what is
/// reported, nothing read here.
///
/// - A run sent to the agent starts at once while a slot is free, else it is held and starts the moment
///   one frees (before the ended run's result is reported).
/// - A function call runs in a host process (`HostPool` says which): it ends when the host answers
///   (`returned`), or as `crashed` when the host dies during the call. A held call may be bound to a busy
///   host (written to its stdin ahead, `bind`): it then starts only when that host's call ends (the
///   caller names it as `next`), and a cancel waits for it to start (it is in the host already).
/// - Cancel and timeout end a run in steps: SIGTERM to its process group, SIGKILL after the grace.
/// - A stop gives the held runs back (when the coordinator takes them), SIGTERMs the running ones and
///   reports them as lost with the agent; a run that completes meanwhile keeps its outcome.
public struct AgentRuns: Sendable {
    public struct Run: Sendable, Equatable {
        public let assignment: Assignment
        /// Its process (and process group); nil until the spawn is done.
        public internal(set) var pid: Int32?
        public internal(set) var startedAt: Timestamp
        /// The result it set on fd 3 (the last one wins).
        public internal(set) var result: JSONValue?
        public internal(set) var cancelled = false
        /// Ended because the agent stopped: reported lost, so the job runs again elsewhere.
        public internal(set) var endedByStop = false
        public internal(set) var timedOut = false

        public var ref: RunRef { RunRef(jobID: assignment.jobID, attempt: assignment.attempt) }
        /// A function call (its process is a function host's), not a command.
        public var isFunction: Bool { assignment.function != nil }
    }

    public enum Action: Sendable, Equatable {
        /// Start this run's process (a command's, or a function host's for a call), then say `spawned` or
        /// `spawnFailed`.
        case spawn(Assignment)
        /// A signal to a run's process group.
        case signal(pid: Int32, signal: Int32)
        /// SIGKILL to the process group after the grace (also if its leader has exited by then: children
        /// that ignored SIGTERM die too).
        case killLater(pid: Int32, afterMilliseconds: Int)
        /// Call `timedOut` for this run after this long.
        case timeoutLater(RunRef, afterMilliseconds: Int)
        /// Send (and keep until acknowledged) this result.
        case report(RunResult)
        /// Give these held runs back to the coordinator (RETURN, stopping).
        case giveBack([RunRef])
    }

    public let slots: Int
    public let agentName: String
    /// Between SIGTERM and SIGKILL when an assignment names no grace.
    public static let defaultGraceMilliseconds = 5_000

    public private(set) var running: [JobID: Run] = [:]
    /// Runs sent beyond the slots, in order.
    public private(set) var held: Deque<Assignment> = []
    /// Held calls bound to a busy host: they start only as that host's next call.
    public private(set) var bound: Set<JobID> = []
    /// Bound calls cancelled before they started: ended (SIGTERM, this grace, SIGKILL) once they do.
    private var cancelWhenStarted: [JobID: Int] = [:]
    public private(set) var stopping = false
    /// The coordinator's WELCOME said `takes_returns`: held runs are given back at a stop, and runs a stop
    /// ends are reported lost. An older coordinator gets neither (held runs are lost at BYE, ended runs
    /// reported `cancelled`).
    public var coordinatorTakesReturns = false
    /// How long the recent runs took, and so the prefetch asked for.
    public private(set) var gauge: PrefetchGauge
    /// Runs started, in all.
    public private(set) var started = 0

    public init(slots: Int, agentName: String, gauge: PrefetchGauge) {
        self.slots = slots
        self.agentName = agentName
        self.gauge = gauge
    }

    public var isIdle: Bool { running.isEmpty }
    public var slotsBusy: Bool { running.count >= slots }
    /// Every run the agent has, running or held, for HELLO.
    public var refs: [RunRef] {
        running.values.map(\.ref) + held.map { RunRef(jobID: $0.jobID, attempt: $0.attempt) }
    }

    // MARK: inputs

    /// A run sent by the coordinator.
    public mutating func assigned(_ assignment: Assignment, now: Timestamp) -> [Action] {
        // Already running or holding this job (a duplicate dispatch): never run it twice at once.
        guard running[assignment.jobID] == nil, !held.contains(where: { $0.jobID == assignment.jobID }) else { return [] }
        if stopping && coordinatorTakesReturns {
            // Sent before the coordinator read our RETURN: it runs elsewhere.
            return [.giveBack([RunRef(jobID: assignment.jobID, attempt: assignment.attempt)])]
        }
        if stopping || running.count >= slots {
            held.append(assignment)  // while stopping, lost at BYE, as an older coordinator expects
            return []
        }
        return [startRun(assignment, now: now)]
    }

    private mutating func startRun(_ assignment: Assignment, now: Timestamp) -> Action {
        var run = Run(assignment: assignment, pid: nil, startedAt: now)
        run.cancelled = cancelWhenStarted[assignment.jobID] != nil
        running[assignment.jobID] = run
        started += 1
        return .spawn(assignment)
    }

    /// A held call was written to a busy host ahead of its turn: it starts as that host's next call.
    public mutating func bind(_ jobID: JobID) {
        if held.contains(where: { $0.jobID == jobID }) { bound.insert(jobID) }
    }

    /// A bound call's host died before it started: it is a held run like any other again, or, cancelled
    /// meanwhile, it ends now (it never started).
    public mutating func unbind(_ jobID: JobID, now: Timestamp) -> [Action] {
        bound.remove(jobID)
        guard cancelWhenStarted.removeValue(forKey: jobID) != nil,
            let index = held.firstIndex(where: { $0.jobID == jobID })
        else { return [] }
        let assignment = held.remove(at: index)
        return [.report(RunResult(jobID: jobID, attempt: assignment.attempt, status: .cancelled,
                                  message: "cancelled before it started", startedAt: now, finishedAt: now))]
    }

    /// The spawn asked for was done.
    public mutating func spawned(_ jobID: JobID, pid: Int32) -> [Action] {
        guard running[jobID] != nil else { return [] }
        running[jobID]!.pid = pid
        let run = running[jobID]!
        var actions: [Action] = []
        if let timeout = run.assignment.timeout {
            actions.append(.timeoutLater(run.ref, afterMilliseconds: Int((timeout * 1000).rounded())))
        }
        if let grace = cancelWhenStarted.removeValue(forKey: jobID) { actions += terminate(jobID, graceMilliseconds: grace) }
        return actions
    }

    /// The spawn asked for failed before a process existed: reported at once, and the slot goes to the
    /// next held run.
    public mutating func spawnFailed(_ jobID: JobID, message: String, now: Timestamp) -> [Action] {
        guard let run = running.removeValue(forKey: jobID) else { return [] }
        let result = RunResult(
            jobID: run.assignment.jobID, attempt: run.assignment.attempt, status: run.cancelled ? .cancelled : .error,
            reason: run.cancelled ? nil : .spawn, message: run.cancelled ? "cancelled" : message,
            startedAt: run.startedAt, finishedAt: now)
        return startHeld(now: now) + [.report(result)]
    }

    /// A CANCEL from the coordinator. A held run ends at once (it never starts); a running one in steps;
    /// a bound call once it starts.
    public mutating func cancel(_ cancel: CancelRun, now: Timestamp) -> [Action] {
        if let index = held.firstIndex(where: { $0.jobID == cancel.jobID && $0.attempt == cancel.attempt }) {
            if bound.contains(cancel.jobID) {
                cancelWhenStarted[cancel.jobID] = cancel.graceMilliseconds
                return []
            }
            let assignment = held.remove(at: index)
            return [.report(RunResult(jobID: assignment.jobID, attempt: assignment.attempt, status: .cancelled,
                                      message: "cancelled before it started", startedAt: now, finishedAt: now))]
        }
        guard running[cancel.jobID]?.assignment.attempt == cancel.attempt else { return [] }
        running[cancel.jobID]!.cancelled = true
        return terminate(cancel.jobID, graceMilliseconds: cancel.graceMilliseconds)
    }

    /// A run's timeout passed.
    public mutating func timedOut(_ ref: RunRef) -> [Action] {
        guard let run = running[ref.jobID], run.assignment.attempt == ref.attempt else { return [] }
        running[ref.jobID]!.timedOut = true
        return terminate(ref.jobID, graceMilliseconds: run.assignment.killGraceMilliseconds ?? Self.defaultGraceMilliseconds)
    }

    private func terminate(_ jobID: JobID, graceMilliseconds: Int) -> [Action] {
        guard let pid = running[jobID]?.pid else { return [] }
        return [.signal(pid: pid, signal: SIGTERM),
                .killLater(pid: pid, afterMilliseconds: min(max(0, graceMilliseconds), 86_400_000))]
    }

    /// What the run wrote as its result on fd 3.
    public mutating func setResult(_ jobID: JobID, _ value: JSONValue) {
        running[jobID]?.result = value
    }

    /// A function call's host answered: the call returned `result` (nil: JSON null) or threw `thrown`. The
    /// freed slot goes to a held run first; then the result is reported.
    /// `next`: the call bound to this host, which takes the freed slot.
    public mutating func returned(
        _ jobID: JobID, result: JSONValue?, thrown: ThrownError?, output: JobOutput, now: Timestamp,
        next: JobID? = nil
    ) -> [Action] {
        guard let run = running[jobID], run.isFunction else { return [] }
        running[jobID] = nil
        let next = startHeld(now: now, preferring: next)
        var report = RunResult(jobID: jobID, attempt: run.assignment.attempt, status: .completed,
                               result: result ?? .null, output: output, startedAt: run.startedAt, finishedAt: now)
        if let thrown {
            report.status = .error
            report.reason = .thrown
            report.errorType = thrown.type
            report.message = thrown.message
            report.result = nil
        }
        // What was done to the call meanwhile wins, as for a command (a stop leaves a call that returned as
        // it ended).
        if run.cancelled {
            (report.status, report.reason, report.errorType, report.message, report.result) =
                (.cancelled, nil, nil, "cancelled", nil)
        } else if run.timedOut {
            (report.status, report.reason, report.errorType, report.message, report.result) =
                (.error, .timeout, nil, "timed out after \(run.assignment.timeout ?? 0) s", nil)
        }
        gauge.ran(seconds: report.finishedAt - report.startedAt,
                  warmCall: run.assignment.function != nil && run.assignment.isolated != true)
        return next + [.report(report)]
    }

    /// A run's process was reaped, with its output and, if the child could not exec after all, why. The
    /// freed slot goes to a held run first; then the result is reported. For a function call, its host
    /// died during the call.
    public mutating func exited(
        _ jobID: JobID, _ exit: RunExit, output: JobOutput, spawnFailure: String?, now: Timestamp,
        next: JobID? = nil
    ) -> [Action] {
        guard let run = running.removeValue(forKey: jobID) else { return [] }
        let next = startHeld(now: now, preferring: next)
        let result = Self.outcome(of: run, exit, output: output, spawnFailure: spawnFailure, now: now,
                                  takesReturns: coordinatorTakesReturns, agentName: agentName)
        gauge.ran(seconds: result.finishedAt - result.startedAt)
        return next + [.report(result)]
    }

    /// Free slots go to held runs in order, `preferring` first; a bound call only when preferred.
    private mutating func startHeld(now: Timestamp, preferring: JobID? = nil) -> [Action] {
        var actions: [Action] = []
        var preferred = preferring
        while !stopping, running.count < slots {
            let index = preferred.flatMap { id in held.firstIndex { $0.jobID == id } }
                ?? held.firstIndex { !bound.contains($0.jobID) }
            preferred = nil
            guard let index else { break }
            let assignment = held.remove(at: index)
            bound.remove(assignment.jobID)
            actions.append(startRun(assignment, now: now))
        }
        return actions
    }

    /// The agent stops: its held runs go back when it can give them back (welcomed by a coordinator that
    /// takes them); its running ones get SIGTERM and are reported lost (or as they really end).
    public mutating func stop(canGiveBack: Bool) -> [Action] {
        stopping = true
        var actions: [Action] = []
        if canGiveBack, coordinatorTakesReturns { actions += giveBackHeld() }
        for jobID in running.keys.sorted() {
            running[jobID]!.endedByStop = true
            if let pid = running[jobID]!.pid { actions.append(.signal(pid: pid, signal: SIGTERM)) }
        }
        return actions
    }

    /// Held runs given back now (a stopping agent welcomed again, or one that stops).
    public mutating func giveBackHeld() -> [Action] {
        guard coordinatorTakesReturns else { return [] }
        let refs = held.map { RunRef(jobID: $0.jobID, attempt: $0.attempt) }
        held.removeAll()
        bound.removeAll()
        cancelWhenStarted.removeAll()
        return [.giveBack(refs)]
    }

    /// The last step of a stop: SIGKILL to what still runs.
    public mutating func kill() -> [Action] {
        stopping = true
        var actions: [Action] = []
        for jobID in running.keys.sorted() {
            running[jobID]!.endedByStop = true
            if let pid = running[jobID]!.pid { actions.append(.signal(pid: pid, signal: SIGKILL)) }
        }
        return actions
    }

    // MARK: outcome

    /// How a run ended, as reported: its exit, then what was done to it (a cancel, the agent's stop, a
    /// timeout), in that order of precedence.
    public static func outcome(
        of run: Run, _ exit: RunExit, output: JobOutput, spawnFailure: String?, now: Timestamp, takesReturns: Bool,
        agentName: String
    ) -> RunResult {
        let (jobID, attempt) = (run.assignment.jobID, run.assignment.attempt)
        if let spawnFailure {
            // The child could not exec (its report came after the spawn returned): as if the spawn had failed.
            return RunResult(jobID: jobID, attempt: attempt, status: run.cancelled ? .cancelled : .error,
                             reason: run.cancelled ? nil : .spawn, message: run.cancelled ? "cancelled" : spawnFailure,
                             startedAt: run.startedAt, finishedAt: now)
        }
        var result = RunResult(jobID: jobID, attempt: attempt, status: .completed, result: run.result, output: output,
                               startedAt: run.startedAt, finishedAt: now)
        switch exit {
        case .exited(let code) where run.isFunction:
            // A host ends only when told to, between calls: an exit during a call, even 0, is a crash.
            result.exitCode = code
            result.status = .error
            result.reason = .crashed
            result.message = "its function host exited with code \(code) during the call"
        case .signaled(let signal) where run.isFunction:
            result.signal = signal
            result.status = .error
            result.reason = .crashed
            result.message = "its function host was killed by signal \(signal) (\(signalName(signal))) during the call"
        case .exited(let code):
            result.exitCode = code
            if code != 0 {
                result.status = .error
                result.reason = .exit
                result.message = "exited with code \(code)"
            }
        case .signaled(let signal):
            result.signal = signal
            result.status = .error
            result.reason = .signal
            result.message = "killed by signal \(signal) (\(signalName(signal)))"
        }
        if run.cancelled {
            result.status = .cancelled
            result.reason = nil
            result.message = "cancelled"
        } else if run.endedByStop && result.status != .completed && !run.timedOut {
            // Not the job's doing, nor the user's: the coordinator counts it as a run lost with its agent. (A
            // run that still completed keeps its outcome; one that timed out meanwhile is a timeout.) An
            // older coordinator, which would count it as a failure, gets `cancelled`.
            if takesReturns {
                result.status = .error
                result.reason = .lost
                result.message = "ended when agent \(agentName) stopped"
            } else {
                result.status = .cancelled
                result.reason = nil
                result.message = "cancelled"
            }
        } else if run.timedOut {
            result.status = .error
            result.reason = .timeout
            result.message = "timed out after \(run.assignment.timeout ?? 0) s"
        }
        return result
    }
}

/// "SIGTERM" for 15; "signal 40" for one without a name here.
public func signalName(_ signal: Int32) -> String {
    switch signal {
    case SIGHUP: "SIGHUP"
    case SIGINT: "SIGINT"
    case SIGQUIT: "SIGQUIT"
    case SIGABRT: "SIGABRT"
    case SIGKILL: "SIGKILL"
    case SIGSEGV: "SIGSEGV"
    case SIGPIPE: "SIGPIPE"
    case SIGALRM: "SIGALRM"
    case SIGTERM: "SIGTERM"
    case SIGBUS: "SIGBUS"
    case SIGFPE: "SIGFPE"
    case SIGILL: "SIGILL"
    case SIGUSR1: "SIGUSR1"
    case SIGUSR2: "SIGUSR2"
    case SIGTRAP: "SIGTRAP"
    default: "signal \(signal)"
    }
}
