import DequeModule
import Glibc
import ProcCore
import ZeroMQ

/// A function host process: warm between calls, one call at a time (`HostPool` decides which takes a
/// call). Its stdin carries the calls, its fd 3 the answers (docs/contracts.md, "The function host
/// protocol").
final class HostProcess {
    let id: HostPool.HostID
    let path: String
    /// The process and its registrations; also `processes[job]` while it runs a call, so signals, the
    /// timeout and the stop treat it as that run's process.
    let run: RunProcess
    /// When the process started, in clock ticks since boot: its calls' run records say so.
    let startTicks: UInt64?
    /// The call it runs now, and its attempt.
    var call: RunRef?
    /// Held calls written to it ahead of their turn, in the order it reads them: the first is its next call.
    var ahead: Deque<RunRef> = []
    /// Bytes of the call line not yet written (the pipe was full).
    var unsent: [UInt8] = []

    init(id: HostPool.HostID, path: String, process: JobProcess, startTicks: UInt64?) {
        self.id = id
        self.path = path
        self.run = RunProcess(process: process)
        self.startTicks = startTicks
    }

    var process: JobProcess { run.process }
}

/// What an agent knows of the hosts it may run: `--functions PATH…`, each asked once what it offers.
public enum FunctionHosts {
    /// The protocol this agent speaks with its hosts.
    public static let protocolVersion = 1

    /// Runs `PATH --proc-describe` for each path and returns what each offers. A host that cannot start,
    /// fails, says nothing usable, speaks another protocol, or offers a function another host offers too
    /// stops the agent's start, saying which and what to do.
    public static func describe(
        _ paths: [String], environment: [String: String], timeoutMilliseconds: Int = 10_000
    ) throws(AgentError) -> (offers: [FunctionOffer], markedHosts: Set<String>) {
        var offers: [FunctionOffer] = []
        var marked = Set<String>()
        var offeredBy: [String: String] = [:]
        for path in paths {
            let description = try describe(path, environment: environment, timeoutMilliseconds: timeoutMilliseconds)
            if description.outputMarks == true { marked.insert(path) }
            for name in description.functions {
                if let problem = JobSpec.functionNameProblem(name) {
                    throw AgentError("--functions \(path): it offers a function the agent cannot use: \(problem)")
                }
                if let other = offeredBy[name] {
                    throw AgentError("--functions: function '\(name)' is offered by both \(other) and \(path); "
                                     + "give each function one host")
                }
                offeredBy[name] = path
                offers.append(FunctionOffer(name: name, host: path, build: description.build))
            }
        }
        return (offers, marked)
    }

    static func describe(
        _ path: String, environment: [String: String], timeoutMilliseconds: Int
    ) throws(AgentError) -> HostDescription {
        let what = "--functions \(path)"
        let process: JobProcess
        do {
            process = try JobProcess(spec: SpawnSpec(argv: [path, "--proc-describe"], environment: environment),
                                     outputLimit: 1 << 20)
        } catch {
            throw AgentError("\(what): cannot start it: \(error.message)")
        }
        let deadline = monotonicMilliseconds() + Int64(timeoutMilliseconds)
        var status: ExitStatus?
        while status == nil {
            status = process.reapIfExited()
            if status != nil { break }
            let left = deadline - monotonicMilliseconds()
            if left <= 0 {
                process.signalGroup(SIGKILL)
                while process.reapIfExited() == nil { usleep(1_000) }
                throw AgentError("\(what): gave no description within \(timeoutMilliseconds / 1000) s of "
                                 + "`\(path) --proc-describe`")
            }
            var fds = process.pollDescriptors.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            _ = poll(&fds, nfds_t(fds.count), Int32(min(left, 100)))
            for fd in fds where fd.revents != 0 { _ = process.handleReadable(fd.fd) }
        }
        if let failure = process.spawnFailure { throw AgentError("\(what): cannot start it: \(failure.message)") }
        let stderr = process.stderrTail.split(separator: "\n").suffix(3).joined(separator: " / ")
        guard status == .exited(0) else {
            let how = switch status! {
            case .exited(let code): "exited with code \(code)"
            case .signaled(let signal): "was killed by signal \(signal) (\(signalName(signal)))"
            }
            throw AgentError("\(what): `\(path) --proc-describe` \(how)\(stderr.isEmpty ? "" : ": \(stderr)")")
        }
        let line = process.stdoutTail.split(separator: "\n").last.map(String.init) ?? ""
        let description: HostDescription
        do {
            description = try WireCoding.decode(HostDescription.self, from: Array(line.utf8))
        } catch {
            throw AgentError("\(what): `\(path) --proc-describe` printed no host description (\(error)); is it a "
                             + "function host (ProcFunctionHost.main)?")
        }
        guard description.protocolVersion == protocolVersion else {
            throw AgentError("\(what): it speaks host protocol \(description.protocolVersion); this agent speaks "
                             + "\(protocolVersion): build it against this version of proc")
        }
        return description
    }
}

extension Agent {
    /// Starts a function call: an idle host of the function's executable takes it, or a new host process;
    /// the call is written to the host's stdin.
    func startCall(_ assignment: Assignment, function: String) {
        let jobID = assignment.jobID
        if let id = aheadCalls.removeValue(forKey: jobID), let host = hostProcesses[id], host.ahead.first?.jobID == jobID {
            host.ahead.removeFirst()
            // Already in the host's stdin: it runs now that the host's call before it is over. (A host
            // retired meanwhile, by a signal, ends before it reads it: the call goes to another host.)
            if hostPool.use(id, for: jobID) { return beginCall(assignment, on: host, line: nil) }
        }
        let host: HostProcess
        switch hostPool.take(function, for: jobID, isolated: assignment.isolated == true) {
        case .unknown:
            return perform(runs.spawnFailed(jobID, message: "no function host on agent \(configuration.name) offers "
                                            + "'\(function)'", now: currentTimestamp()))
        case .use(let id):
            host = hostProcesses[id]!
        case .launch(let id, let path):
            guard let launched = launchHost(id, path: path, for: assignment) else { return }
            host = launched
        }
        beginCall(assignment, on: host, line: callLine(assignment, function: function))
    }

    private func callLine(_ assignment: Assignment, function: String) -> [UInt8] {
        var line = WireCoding.bytes(FunctionCall(jobID: assignment.jobID, attempt: assignment.attempt, function: function,
                                                 args: assignment.args, queue: assignment.queue))
        line.append(UInt8(ascii: "\n"))
        return line
    }

    /// The call is the host's now; `line` is written to it unless it was written ahead.
    private func beginCall(_ assignment: Assignment, on host: HostProcess, line: [UInt8]?) {
        let jobID = assignment.jobID
        host.process.resetOutput()
        host.call = RunRef(jobID: jobID, attempt: assignment.attempt)
        callHosts[jobID] = host.id
        processes[jobID] = host.run
        runRecords.add(.init(jobID: jobID, attempt: assignment.attempt, pid: host.process.pid,
                             startTime: host.startTicks))
        if let line {
            host.unsent += line
            writeCall(host)
        }
        perform(runs.spawned(jobID, pid: host.process.pid))
    }

    /// Writes held calls to busy hosts of their function's executable, ahead of their turn: a host that
    /// answers finds its next call waiting and does not sleep in between, and a write to a busy host wakes
    /// nobody (writing to a host asleep in read(2) cost a tenth of a call's time on the agent's thread).
    /// Only while calls are quick (`PrefetchGauge.callsAreQuick`): a bound call cannot move to another host
    /// nor end before it starts, so behind a long call it would wait, even when cancelled. Up to
    /// `quickCallsAhead` per host, written together, so that a host reads several calls for one wakeup and
    /// answers them in a row. The machine starts such a call only as that host's next one (`bind`). Only
    /// hosts that mark the end of each call's output (`HostDescription.outputMarks`) get calls ahead: the
    /// calls' output shares two pipes, and the marks say which bytes are whose.
    func sendAhead() {
        guard !runs.held.isEmpty, !runs.stopping, runs.gauge.callsAreQuick else { return }
        let depth = Self.quickCallsAhead
        // The busy hosts with room for a next call; most turns there are none, and the held runs (up to
        // the prefetch window) are not walked at all.
        var open = hostProcesses.values.filter {
            $0.call != nil && $0.process.splitsAtMarks && $0.ahead.count < depth
                && hostPool.canTakeAhead($0.id, ahead: $0.ahead.count)
        }
        guard !open.isEmpty else { return }
        var written: [HostProcess] = []
        // Binding changes only `runs.bound`, so the indices of `runs.held` hold for the whole walk.
        for index in runs.held.indices {
            guard !open.isEmpty else { break }
            let jobID = runs.held[index].jobID
            guard runs.held[index].isolated != true, !runs.bound.contains(jobID),
                let function = runs.held[index].function, let path = hostPool.offers[function],
                let slot = open.firstIndex(where: { $0.path == path })
            else { continue }
            let host = open[slot]
            let assignment = runs.held[index]
            if host.unsent.isEmpty { written.append(host) }
            host.ahead.append(RunRef(jobID: jobID, attempt: assignment.attempt))
            aheadCalls[jobID] = host.id
            runs.bind(jobID)
            host.unsent += callLine(assignment, function: function)
            // Round robin: the next call goes to the next host with room.
            open.remove(at: slot)
            if host.ahead.count < depth && hostPool.canTakeAhead(host.id, ahead: host.ahead.count) { open.append(host) }
        }
        for host in written { writeCall(host) }
    }

    /// Calls written ahead to one host while calls are quick.
    static let quickCallsAhead = 8

    /// A new host process for `path`, registered with the loop; nil (the call reported as not started)
    /// when it cannot start.
    private func launchHost(_ id: HostPool.HostID, path: String, for assignment: Assignment) -> HostProcess? {
        let isolated = assignment.isolated == true
        let marked = markedHosts.contains(path)
        var environment = configuration.jobEnvironment(isolated ? assignment.env : nil)
        environment["PROC_CHANNEL_FD"] = "3"
        environment["PROC_AGENT"] = configuration.name
        if marked { environment["PROC_OUTPUT_MARKS"] = "1" }
        let spec = SpawnSpec(argv: [path, "--proc-serve"], environment: environment,
                             workingDirectory: isolated ? assignment.cwd : nil, user: configuration.runAs)
        let process: JobProcess
        do {
            process = try JobProcess(spec: spec, outputLimit: configuration.outputLimit, input: true)
        } catch {
            _ = hostPool.ended(id)
            perform(runs.spawnFailed(assignment.jobID, message: "could not start function host \(path): \(error.message)",
                                     now: currentTimestamp()))
            return nil
        }
        blockSIGPIPE()
        process.splitsAtMarks = marked
        let host = HostProcess(id: id, path: path, process: process,
                               startTicks: configuration.dataDirectory == nil ? nil : RunRecords.bootTicks())
        hostProcesses[id] = host
        noteJobSession(process.pid)
        for fd in process.pollDescriptors {
            host.run.tokens[fd] = loop.register(fd: fd, hangUpAware: { [unowned self, unowned host] hungUp in
                hostReadable(host, fd, hungUp: hungUp)
            })
        }
        return host
    }

    /// Writes what the pipe takes of the host's pending call line; the rest a moment later.
    private func writeCall(_ host: HostProcess) {
        guard !host.unsent.isEmpty else { return }
        let written = host.unsent.withUnsafeBytes { host.process.writeInput($0) }
        guard let written else {
            // Its stdin is closed: it is dying; its reap ends the call as crashed.
            host.unsent = []
            return
        }
        host.unsent.removeFirst(written)
        if !host.unsent.isEmpty {
            loop.schedule(afterMilliseconds: 1) { [weak self, weak host] in
                guard let self, let host, hostProcesses[host.id] === host else { return }
                writeCall(host)
            }
        }
    }

    /// A write to a host whose stdin is gone must fail with EPIPE, not kill the agent: SIGPIPE is blocked
    /// in the loop thread (children start with a clean mask).
    private func blockSIGPIPE() {
        guard !sigpipeBlocked else { return }
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &set, nil)
        sigpipeBlocked = true
    }

    private func hostReadable(_ host: HostProcess, _ fd: Int32, hungUp: Bool) {
        if fd == host.process.pidfd {
            reapHost(host.id)
        } else {
            handleHost(host.process.handleReadable(fd, hungUp: hungUp), of: host)
        }
        if !host.process.isOpen(fd), let token = host.run.tokens.removeValue(forKey: fd) {
            loop.unregister(token)
        }
        // A retired host whose pipes all ended is reaped by its pidfd.
    }

    private func handleHost(_ messages: [ChannelMessage], of host: HostProcess) {
        for message in messages {
            guard let call = host.call, runs.running[call.jobID]?.assignment.attempt == call.attempt else {
                logger.debug("a function host wrote outside a call", metadata: ["host": .string(host.path)])
                continue
            }
            switch message {
            case .progress(let progress, let text):
                send(.progress(ProgressReport(jobID: call.jobID, attempt: call.attempt, progress: progress, message: text)))
            case .message(let text):
                send(.progress(ProgressReport(jobID: call.jobID, attempt: call.attempt, progress: nil, message: text)))
            case .result(let value):
                runs.setResult(call.jobID, value)
            case .done(let value):
                endCall(of: host, result: value, thrown: nil)
            case .thrown(let error):
                endCall(of: host, result: nil, thrown: error)
            case .tooLong:
                endCall(of: host, result: nil, thrown: ThrownError(
                    type: "ResultTooLarge",
                    message: "the function's answer is over \(ChannelLineSplitter.maxLine) bytes of JSON: return less "
                        + "(write a large result to a file and return its path)"))
            case .invalid(let line):
                logger.debug("invalid line from a function host", metadata: ["job.id": .string(call.jobID),
                                                                              "line": .string(line)])
            }
        }
    }

    /// The host answered its call: the call's outcome, and the host waits for the next call (or ends, when
    /// retired).
    private func endCall(of host: HostProcess, result: JSONValue?, thrown: ThrownError?) {
        guard let call = host.call else { return }
        host.process.drainOutput()
        let process = host.process
        let output = JobOutput(stdout: process.stdoutTail, stderr: process.stderrTail,
                               stdoutTruncated: process.stdoutTruncated, stderrTruncated: process.stderrTruncated)
        finishCall(call, of: host)
        if hostPool.callEnded(host.id) { host.process.closeInput() }
        let next = host.ahead.first.flatMap { runs.bound.contains($0.jobID) ? $0.jobID : nil }
        perform(runs.returned(call.jobID, result: result, thrown: thrown, output: output, now: currentTimestamp(),
                              next: next))
        runRecords.settle()
        sendAhead()
    }

    /// The call leaves its host (answered, or the host died).
    private func finishCall(_ call: RunRef, of host: HostProcess) {
        host.call = nil
        if let timeout = host.run.timeout { loop.cancel(timeout) }
        host.run.timeout = nil
        callHosts[call.jobID] = nil
        processes[call.jobID] = nil
        runRecords.release(call.jobID, call.attempt)
    }

    /// If the host's process has exited: its last answer (a call may have ended just before), then, if it
    /// died during a call, that call ends as crashed.
    func reapHost(_ id: HostPool.HostID) {
        guard let host = hostProcesses[id], let status = host.process.reapIfExited() else { return }
        handleHost(host.process.takeDrainedMessages(), of: host)
        for token in host.run.tokens.values { loop.unregister(token) }
        host.run.tokens.removeAll()
        hostProcesses[id] = nil
        host.unsent = []
        // The calls written ahead died in its stdin: held again, to run on other hosts.
        let ahead = host.ahead
        host.ahead = []
        for call in ahead {
            aheadCalls[call.jobID] = nil
            perform(runs.unbind(call.jobID, now: currentTimestamp()))
        }
        let retired = hostPool.hosts[id]?.retired ?? true
        guard let jobID = hostPool.ended(id), let call = host.call, call.jobID == jobID else {
            if !retired {
                logger.warning("a function host ended between calls; a fresh one takes the next call", metadata: [
                    "host": .string(host.path), "pid": .stringConvertible(host.process.pid), "status": "\(status)"])
            }
            return
        }
        let exit: RunExit = switch status {
        case .exited(let code): .exited(code)
        case .signaled(let signal): .signaled(signal)
        }
        let process = host.process
        let output = JobOutput(stdout: process.stdoutTail, stderr: process.stderrTail,
                               stdoutTruncated: process.stdoutTruncated, stderrTruncated: process.stderrTruncated)
        let failure = process.spawnFailure.map { "could not start function host \(host.path): \($0.message)" }
        finishCall(call, of: host)
        perform(runs.exited(jobID, exit, output: output, spawnFailure: failure, now: currentTimestamp()))
        runRecords.settle()
        sendAhead()
    }

    /// A signal for a run's process group: a host that gets one takes no more calls.
    func hostSignalled(pid: Int32) {
        if let host = hostProcesses.values.first(where: { $0.process.pid == pid }) { hostPool.retire(host.id) }
    }

    /// The agent stops: idle hosts are told to end (their stdin closes); busy ones end with their calls.
    func retireHosts() {
        for id in hostPool.retireAll() { hostProcesses[id]?.process.closeInput() }
    }

    /// Reaps the hosts that have ended; with `kill`, SIGKILL to what is left first.
    func reapHosts(kill: Bool) {
        for host in Array(hostProcesses.values) {
            if kill { host.process.signalGroup(SIGKILL) }
            reapHost(host.id)
        }
    }

    var hostsEnded: Bool { hostProcesses.isEmpty }
}
