import Glibc
import ProcCore
import ZeroMQ

extension Agent {
    /// Starts a run sent by the coordinator, or holds it until a slot frees (prefetch).
    func launch(_ assignment: Assignment) {
        // Already running or holding this job (a duplicate dispatch): never run it twice at once.
        guard runs[assignment.jobID] == nil, !waiting.contains(where: { $0.jobID == assignment.jobID }) else { return }
        if stopping && coordinatorTakesReturns {
            // Sent before the coordinator read our RETURN: it runs elsewhere.
            returnRuns([RunRef(jobID: assignment.jobID, attempt: assignment.attempt)])
        } else if stopping {
            waiting.append(assignment)  // lost at BYE, as an older coordinator expects
        } else if runs.count < configuration.slots {
            spawn(assignment)
        } else {
            waiting.append(assignment)
        }
    }

    /// Gives the held runs back to the coordinator and asks for nothing more: the agent is stopping. They run
    /// elsewhere at once, with no attempt lost (design note 8). Without a connection they stay held, and are
    /// lost with the agent as before.
    func returnHeldRuns() {
        guard welcomed, dealer != nil, coordinatorTakesReturns else { return }
        let held = waiting.map { RunRef(jobID: $0.jobID, attempt: $0.attempt) }
        waiting.removeAll()
        returnRuns(held)
    }

    private func returnRuns(_ refs: [RunRef]) {
        send(.returned, WireCoding.bytes(ReturnMessage(runs: refs, stopping: true)))
        if !refs.isEmpty {
            logger.info("gave held runs back to the coordinator", metadata: ["runs": .stringConvertible(refs.count)])
        }
    }

    /// Collects the runs whose process has exited already: a stop must not take their outcome for its own.
    func reapExited() {
        for run in Array(runs.values) { reap(run) }
    }

    /// Starts held runs while slots are free.
    func startWaiting() {
        while !stopping, runs.count < configuration.slots, !waiting.isEmpty {
            spawn(waiting.removeFirst())
        }
    }

    /// Starts one run. A command that cannot start is reported at once as `error`/`spawn`.
    private func spawn(_ assignment: Assignment) {
        var environment = configuration.jobEnvironment(assignment.env)
        environment["PROC_JOB_ID"] = assignment.jobID
        environment["PROC_ATTEMPT"] = String(assignment.attempt)
        environment["PROC_CHANNEL_FD"] = "3"
        environment["PROC_QUEUE"] = assignment.queue
        let spec = SpawnSpec(argv: assignment.argv, environment: environment, workingDirectory: assignment.cwd,
                             user: configuration.runAs)
        let startedAt = currentTimestamp()
        let process: JobProcess
        do {
            process = try JobProcess(spec: spec, outputLimit: configuration.outputLimit)
        } catch {
            outbox.add(RunResult(
                jobID: assignment.jobID, attempt: assignment.attempt, status: .error, reason: .spawn,
                message: spawnFailureMessage(assignment, error), startedAt: startedAt, finishedAt: currentTimestamp()))
            return
        }
        let run = Run(assignment: assignment, process: process, startedAt: startedAt)
        runs[assignment.jobID] = run
        jobsRun += 1
        runRecords.add(.init(jobID: assignment.jobID, attempt: assignment.attempt, pid: process.pid,
                             startTime: configuration.dataDirectory == nil ? nil : RunRecords.bootTicks()))
        jobSessions.insert(process.pid)
        jobSessionOrder.append(process.pid)
        if jobSessionOrder.count > 20_000 {
            for pid in jobSessionOrder.prefix(10_000) { jobSessions.remove(pid) }
            jobSessionOrder.removeFirst(10_000)
        }
        register(run)
        if let timeout = assignment.timeout {  // in `Bounds.jobTimeout` (checked when it came)
            run.timeoutTimer = loop.schedule(afterMilliseconds: Int64((timeout * 1000).rounded())) { [weak self, weak run] in
                guard let self, let run, runs[run.assignment.jobID] === run else { return }
                terminate(run, graceMilliseconds: assignment.killGraceMilliseconds ?? 5_000) { $0.timedOut = true }
            }
        }
    }

    func spawnFailureMessage(_ assignment: Assignment, _ failure: SpawnFailure) -> String {
        "could not start \(assignment.argv.first ?? ""): \(failure.message)"
    }

    /// SIGTERM to the run's process group now, SIGKILL to the group after the grace period (also if the
    /// leader is gone by then: children that ignored SIGTERM die too).
    func terminate(_ run: Run, graceMilliseconds: Int, mark: (Run) -> Void) {
        mark(run)
        run.process.signalGroup(SIGTERM)
        let process = run.process
        loop.schedule(afterMilliseconds: Int64(min(max(0, graceMilliseconds), 86_400_000))) {
            process.signalGroup(SIGKILL)
        }
    }

    /// Registers each descriptor of a new run with the loop, in the order of `pollDescriptors` (the loop calls
    /// handlers in that order): the pipes before the pidfd.
    private func register(_ run: Run) {
        for fd in run.process.pollDescriptors {
            run.tokens[fd] = loop.register(fd: fd, hangUpAware: { [unowned self, unowned run] hungUp in
                readable(run, fd, hungUp: hungUp)
            })
        }
    }

    /// A pipe with output or at its end, or the pidfd (the child exited). Only the pidfd reaps: it is
    /// registered until the child is reaped, and a pipe's end says nothing about the child's (a background
    /// grandchild may hold it, or the child may close it early).
    private func readable(_ run: Run, _ fd: Int32, hungUp: Bool) {
        if fd == run.process.pidfd {
            reap(run)  // which unregisters them all
        } else {
            handle(run.process.handleReadable(fd, hungUp: hungUp), of: run)
        }
        // A pipe at its end is closed: it leaves the loop (after a reap, `tokens` is empty already).
        if !run.process.isOpen(fd), let token = run.tokens.removeValue(forKey: fd) {
            loop.unregister(token)
        }
    }

    private func handle(_ messages: [ChannelMessage], of run: Run) {
        for message in messages {
            switch message {
            case .progress(let progress, let text):
                report(ProgressReport(
                    jobID: run.assignment.jobID, attempt: run.assignment.attempt, progress: progress, message: text))
            case .message(let text):
                report(ProgressReport(
                    jobID: run.assignment.jobID, attempt: run.assignment.attempt, progress: nil, message: text))
            case .result(let value):
                run.result = value
            case .invalid(let line):
                logger.debug("invalid fd 3 line", metadata: ["job.id": .string(run.assignment.jobID), "line": .string(line)])
            }
        }
    }

    /// If the run's process has exited: collect the last output and report the outcome.
    func reap(_ run: Run) {
        guard let status = run.process.reapIfExited() else { return }
        handle(run.process.takeDrainedMessages(), of: run)
        for token in run.tokens.values { loop.unregister(token) }
        run.tokens.removeAll()
        if let timer = run.timeoutTimer { loop.cancel(timer) }
        runs[run.assignment.jobID] = nil
        // The freed slot goes to a held run first: the bookkeeping below can wait, the slot need not. Its
        // record is written over the ended run's (one write for both; performance.md, item 45).
        runRecords.release(run.assignment.jobID, run.assignment.attempt)
        startWaiting()
        runRecords.settle()
        let result = outcome(of: run, status)
        prefetchGauge.ran(seconds: result.finishedAt - result.startedAt)
        outbox.add(result)
    }

    private func outcome(of run: Run, _ status: ExitStatus) -> RunResult {
        if let failure = run.process.spawnFailure {
            // The child could not exec (its report came after the spawn returned): as if the spawn had failed.
            return RunResult(
                jobID: run.assignment.jobID, attempt: run.assignment.attempt,
                status: run.cancelled ? .cancelled : .error, reason: run.cancelled ? nil : .spawn,
                message: run.cancelled ? "cancelled" : spawnFailureMessage(run.assignment, failure),
                startedAt: run.startedAt, finishedAt: currentTimestamp())
        }
        var result = RunResult(
            jobID: run.assignment.jobID, attempt: run.assignment.attempt, status: .completed, result: run.result,
            output: JobOutput(stdout: run.process.stdoutTail, stderr: run.process.stderrTail,
                              stdoutTruncated: run.process.stdoutTruncated,
                              stderrTruncated: run.process.stderrTruncated),
            startedAt: run.startedAt, finishedAt: currentTimestamp())
        switch status {
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
            // older coordinator, which would count it as a failure, gets `cancelled` as before.
            if coordinatorTakesReturns {
                result.status = .error
                result.reason = .lost
                result.message = "ended when agent \(configuration.name) stopped"
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

    /// Sends the results gathered this iteration in one message.
    func flushOutbox() {
        guard outbox.hasUnsent, dealer != nil, welcomed || stopping else { return }
        // Linked: the coordinator takes them at the start of its flush (`Agent+Link.swift`).
        if linked && !stopping { return }
        if holdsResults() { return }
        // A changed prefetch rides on the results (a reconnect's HELLO says it too).
        var prefetch: Int?
        if prefetchGauge.current != announcedPrefetch {
            prefetch = prefetchGauge.current
            announcedPrefetch = prefetchGauge.current
        }
        send(.result, WireCoding.bytes(ResultsMessage(results: outbox.takeUnsent(), prefetch: prefetch)))
    }

    /// Whether unsent results wait for the next ones (docs/performance.md, item 47): up to
    /// `configuration.resultHoldMilliseconds`, and only while every slot is busy and the recent runs are
    /// short. Then nothing waits on them to go on here (a freed slot takes a held run, with no round trip),
    /// and one RESULT carries several: the coordinator reads, commits and answers them together. A result
    /// waits on disk, as one sent and not yet acknowledged does. Long runs, a free slot or a stop send at once.
    private func holdsResults() -> Bool {
        let hold = Int64(configuration.resultHoldMilliseconds)
        guard hold > 0, !stopping, runs.count >= configuration.slots, prefetchGauge.runsAreShort,
            outbox.unsentCount < Self.mostResultsHeld
        else {
            resultsHeldSince = nil
            return false
        }
        let now = monotonicMilliseconds()
        guard let since = resultsHeldSince else {
            resultsHeldSince = now
            // Wakes the loop then; the iteration ends here again.
            _ = loop.schedule(afterMilliseconds: hold) {}
            return true
        }
        if now - since < hold { return true }
        resultsHeldSince = nil
        return false
    }

    /// More than this many results go at once, held or not.
    static let mostResultsHeld = 64
}

extension AgentConfiguration {
    /// A job's environment before `PROC_*`: the inherited variables, the run-as user's HOME, USER and LOGNAME,
    /// then the job spec's `env`, each overriding the one before.
    func jobEnvironment(_ env: [String: String]?) -> [String: String] {
        var environment = inheritedEnvironment
        if let runAs { environment.merge(runAs.environment) { $1 } }
        environment.merge(env ?? [:]) { $1 }
        return environment
    }
}

func signalName(_ signal: Int32) -> String {
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
    default: "signal \(signal)"
    }
}
