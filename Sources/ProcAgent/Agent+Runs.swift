import Glibc
import ProcCore
import ZeroMQ

/// The I/O side of a running run: its process, its descriptors in the loop and its timeout.
final class RunProcess {
    let process: JobProcess
    var tokens: [Int32: EventLoop.RegistrationToken] = [:]
    var timeout: TimerToken?
    init(process: JobProcess) { self.process = process }
}

extension Agent {
    /// Carries out what `AgentRuns` decided, in order.
    func perform(_ actions: [AgentRuns.Action]) {
        for action in actions {
            switch action {
            case .spawn(let assignment): spawn(assignment)
            case .signal(let pid, let signal):
                hostSignalled(pid: pid)
                signalGroup(pid, signal)
            case .killLater(let pid, let milliseconds):
                // The process is kept for this: its group is signalled also once the leader is reaped, so
                // children that ignored SIGTERM die too.
                guard let process = processes.values.first(where: { $0.process.pid == pid })?.process else { break }
                loop.schedule(afterMilliseconds: Int64(milliseconds)) { process.signalGroup(SIGKILL) }
            case .timeoutLater(let ref, let milliseconds):
                processes[ref.jobID]?.timeout = loop.schedule(afterMilliseconds: Int64(milliseconds)) { [weak self] in
                    guard let self else { return }
                    perform(runs.timedOut(ref))
                }
            case .report(let result): report(result)
            case .giveBack(let refs):
                send(.returned(ReturnMessage(runs: refs, stopping: true)))
                if !refs.isEmpty {
                    logger.info("gave held runs back to the coordinator", metadata: ["runs": .stringConvertible(refs.count)])
                }
            }
        }
    }

    /// A signal to the process group of a run that is still ours (a pid we reaped may be reused).
    private func signalGroup(_ pid: Int32, _ signal: Int32) {
        guard let process = processes.values.first(where: { $0.process.pid == pid })?.process else { return }
        process.signalGroup(signal)
    }

    /// Starts a run's process; one that cannot start is reported at once as `error`/`spawn`.
    private func spawn(_ assignment: Assignment) {
        if let function = assignment.function { return startCall(assignment, function: function) }
        var environment = configuration.jobEnvironment(assignment.env)
        environment["PROC_JOB_ID"] = assignment.jobID
        environment["PROC_ATTEMPT"] = String(assignment.attempt)
        environment["PROC_CHANNEL_FD"] = "3"
        environment["PROC_QUEUE"] = assignment.queue
        let spec = SpawnSpec(argv: assignment.argv, environment: environment, workingDirectory: assignment.cwd,
                             user: configuration.runAs)
        let process: JobProcess
        do {
            process = try JobProcess(spec: spec, outputLimit: configuration.outputLimit)
        } catch {
            return perform(runs.spawnFailed(assignment.jobID, message: spawnFailureMessage(assignment, error),
                                            now: currentTimestamp()))
        }
        let run = RunProcess(process: process)
        processes[assignment.jobID] = run
        runRecords.add(.init(jobID: assignment.jobID, attempt: assignment.attempt, pid: process.pid,
                             startTime: configuration.dataDirectory == nil ? nil : RunRecords.bootTicks()))
        noteJobSession(process.pid)
        register(run, jobID: assignment.jobID)
        perform(runs.spawned(assignment.jobID, pid: process.pid))
    }

    /// A session (a job's, or a function host's) whose orphans `reapOrphans` may reap; bounded.
    func noteJobSession(_ pid: Int32) {
        jobSessions.insert(pid)
        jobSessionOrder.append(pid)
        if jobSessionOrder.count > 20_000 {
            for pid in jobSessionOrder.prefix(10_000) { jobSessions.remove(pid) }
            jobSessionOrder.removeFirst(10_000)
        }
    }

    func spawnFailureMessage(_ assignment: Assignment, _ failure: SpawnFailure) -> String {
        "could not start \(assignment.argv.first ?? ""): \(failure.message)"
    }

    /// Registers each descriptor of a new run with the loop, in the order of `pollDescriptors` (the loop calls
    /// handlers in that order): the pipes before the pidfd.
    private func register(_ run: RunProcess, jobID: JobID) {
        for fd in run.process.pollDescriptors {
            run.tokens[fd] = loop.register(fd: fd, hangUpAware: { [unowned self, unowned run] hungUp in
                readable(run, jobID: jobID, fd, hungUp: hungUp)
            })
        }
    }

    /// A pipe with output or at its end, or the pidfd (the child exited). Only the pidfd reaps: it is
    /// registered until the child is reaped, and a pipe's end says nothing about the child's (a background
    /// grandchild may hold it, or the child may close it early).
    private func readable(_ run: RunProcess, jobID: JobID, _ fd: Int32, hungUp: Bool) {
        if fd == run.process.pidfd {
            reap(jobID)  // which unregisters them all
        } else {
            handle(run.process.handleReadable(fd, hungUp: hungUp), of: jobID)
        }
        // A pipe at its end is closed: it leaves the loop (after a reap, `tokens` is empty already).
        if !run.process.isOpen(fd), let token = run.tokens.removeValue(forKey: fd) {
            loop.unregister(token)
        }
    }

    private func handle(_ messages: [ChannelMessage], of jobID: JobID) {
        guard let attempt = runs.running[jobID]?.assignment.attempt else { return }
        for message in messages {
            switch message {
            case .progress(let progress, let text):
                send(.progress(ProgressReport(jobID: jobID, attempt: attempt, progress: progress, message: text)))
            case .message(let text):
                send(.progress(ProgressReport(jobID: jobID, attempt: attempt, progress: nil, message: text)))
            case .result(let value), .done(.some(let value)):
                runs.setResult(jobID, value)
            case .invalid(let line), .tooLong(let line):
                logger.debug("invalid fd 3 line", metadata: ["job.id": .string(jobID), "line": .string(line)])
            case .done(nil), .thrown:
                break  // a function host's words; a command's `done` with a result is a result
            }
        }
    }

    /// Collects every run whose process has exited already (a stop must not take their outcome for its own).
    func reapExited() {
        for jobID in Array(processes.keys) { reap(jobID) }
    }

    /// If the run's process has exited: its last output, then its outcome.
    private func reap(_ jobID: JobID) {
        if let host = callHosts[jobID] { return reapHost(host) }
        guard let run = processes[jobID], let status = run.process.reapIfExited() else { return }
        handle(run.process.takeDrainedMessages(), of: jobID)
        for token in run.tokens.values { loop.unregister(token) }
        run.tokens.removeAll()
        if let timeout = run.timeout { loop.cancel(timeout) }
        processes[jobID] = nil
        let attempt = runs.running[jobID]?.assignment.attempt ?? 0
        let exit: RunExit = switch status {
        case .exited(let code): .exited(code)
        case .signaled(let signal): .signaled(signal)
        }
        let process = run.process
        let failure = process.spawnFailure.map { failure in
            runs.running[jobID].map { spawnFailureMessage($0.assignment, failure) } ?? failure.message
        }
        let output = JobOutput(stdout: process.stdoutTail, stderr: process.stderrTail,
                               stdoutTruncated: process.stdoutTruncated, stderrTruncated: process.stderrTruncated)
        // The freed slot goes to a held run first (the machine puts its spawn before the result), and that
        // run's record is written over the ended run's: one write for both.
        runRecords.release(jobID, attempt)
        perform(runs.exited(jobID, exit, output: output, spawnFailure: failure, now: currentTimestamp()))
        runRecords.settle()
    }

    /// A result, kept until the coordinator acknowledges it and sent with the iteration's others.
    private func report(_ result: RunResult) {
        outbox.add(result)
        // Single-host: straight to the coordinator, which commits it at the end of this iteration.
        if isLocal { flushOutbox() }
    }

    /// Sends the results gathered this iteration in one message, unless they may wait for the next ones.
    func flushOutbox() {
        guard outbox.hasUnsent, link != nil, welcomed || runs.stopping else { return }
        if !isLocal {
            switch resultHold.decide(unsent: outbox.unsentCount, slotsBusy: runs.slotsBusy,
                                     runsAreShort: runs.gauge.runsAreShort, stopping: runs.stopping,
                                     now: monotonicMilliseconds()) {
            case .send: break
            case .hold(let wakeAt):
                // Wakes the loop then; the iteration ends here again.
                if let wakeAt { loop.schedule(afterMilliseconds: wakeAt - monotonicMilliseconds()) {} }
                return
            }
        }
        // A changed prefetch rides on the results (a reconnect's HELLO says it too).
        var prefetch: Int?
        if runs.gauge.current != announcedPrefetch {
            prefetch = runs.gauge.current
            announcedPrefetch = runs.gauge.current
        }
        send(.results(ResultsMessage(results: outbox.takeUnsent(), prefetch: prefetch)))
    }
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
