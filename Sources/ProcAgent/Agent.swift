import CSpawn
import Glibc
import Logging
import ProcCore
import ProcSystem
import ZeroMQ

/// An agent could not start; the message says what to do. A struct wrapping a code, so new codes do not
/// break users.
public struct AgentError: Error, CustomStringConvertible {
    public struct Code: Hashable, Sendable {
        fileprivate enum Value { case dataDirectoryInUse, dataDirectory, other }
        fileprivate let value: Value
        /// Another process owns the data directory (exit 2 in `proc-agent`).
        public static let dataDirectoryInUse = Code(value: .dataDirectoryInUse)
        public static let dataDirectory = Code(value: .dataDirectory)
        public static let other = Code(value: .other)
    }
    public let code: Code
    public let description: String
    init(_ description: String, code: Code = .other) {
        self.code = code
        self.description = description
    }
}

/// An agent: joins a coordinator over a DEALER, announces its slots, and runs each job it is sent as a
/// local subprocess (its own session and process group, fd 3 channel, bounded output).
///
/// Confined to its `EventLoop` thread; the public methods hop onto it.
public final class Agent: @unchecked Sendable {
    public let configuration: AgentConfiguration
    public let loop: EventLoop
    let logger: Logger

    var dealer: ZMQSocket?
    var dealerToken: EventLoop.RegistrationToken?
    /// The routing id of the current connection.
    var routingID: Frame = []
    /// Single-host mode: the coordinator on this loop takes results and delivers JOBS and ACK by calls
    /// (`Agent+Link.swift`). Set before `start`.
    public var linked = false
    /// Linked: progress reports until the coordinator takes them.
    var linkedProgress: [ProgressReport] = []
    var runs: [JobID: Run] = [:]
    /// Runs sent beyond the slots (`configuration.prefetch`), started in order as slots free.
    var waiting: [Assignment] = []
    /// Results until the coordinator acknowledges them (sent at the end of the loop iteration, batched).
    var outbox: Outbox!
    /// How long the recent runs took, and so the prefetch asked for: it follows them when
    /// `configuration.shortRunPrefetch` is set, and is `configuration.prefetch` throughout otherwise.
    var prefetchGauge: PrefetchGauge
    /// The prefetch the coordinator was last told (HELLO, or a RESULT's `prefetch`).
    var announcedPrefetch = 0
    /// Since when unsent results wait for the next ones (`holdsResults`).
    var resultsHeldSince: Int64?
    var runRecords: RunRecords!
    /// Held from start to stop (with a data directory): a second agent on it is refused.
    var dataDirectory: DataDirectory?
    var welcomed = false
    /// The coordinator's WELCOME said `takes_returns`: RETURN, and runs ended by a stop reported lost.
    var coordinatorTakesReturns = false
    var heartbeatMilliseconds: Int
    var liveness: Int
    var lastHeard: Int64 = 0
    var lastSent: Int64 = 0
    var reconnectDelay: Int
    var timers: [RepeatingTimer] = []
    var stopping = false
    public internal(set) var jobsRun = 0
    /// Called (on the loop thread) when the coordinator says another agent joined under this name; the
    /// agent has then stopped. `proc-agent` exits non-zero.
    public var onReplaced: (@Sendable (String) -> Void)?
    /// Called (on the loop thread) when the coordinator refuses this agent's key; the agent has then
    /// stopped. `proc-agent` exits non-zero.
    public var onRefused: (@Sendable (String) -> Void)?
    var monitor: SocketMonitor?
    /// Messages from the coordinator that could not be used (malformed, wrong types, impossible values).
    public internal(set) var malformedMessages = 0
    var malformedLoggedAt: Int64?
    var malformedSuppressed = 0
    var lastHandshakeComplaint: Int64?
    /// Sessions of the jobs started here (a job's session id is its pid), newest last, bounded: what
    /// `reapOrphans` may reap.
    var jobSessions: Set<pid_t> = []
    var jobSessionOrder: [pid_t] = []

    final class Run {
        let assignment: Assignment
        let process: JobProcess
        var tokens: [Int32: EventLoop.RegistrationToken] = [:]
        let startedAt: Timestamp
        var result: JSONValue?
        var cancelled = false
        /// Ended because the agent stopped: reported as lost (`error`/`lost`), so the job runs again elsewhere.
        var endedByStop = false
        var timedOut = false
        var timeoutTimer: TimerToken?
        init(assignment: Assignment, process: JobProcess, startedAt: Timestamp) {
            self.assignment = assignment
            self.process = process
            self.startedAt = startedAt
        }
    }

    public init(configuration: AgentConfiguration, loop: EventLoop, logger: Logger) {
        self.configuration = configuration
        self.loop = loop
        self.logger = logger
        self.heartbeatMilliseconds = configuration.heartbeatMilliseconds
        self.liveness = configuration.liveness
        self.reconnectDelay = configuration.reconnectMinMilliseconds
        prefetchGauge = PrefetchGauge(
            base: configuration.prefetch,
            whileShort: max(configuration.shortRunPrefetch ?? configuration.prefetch, configuration.prefetch))
    }

    // MARK: lifecycle

    public func start() throws {
        try loop.sync { [self] in
            if let path = configuration.dataDirectory {
                // Before anything in it is read: another agent's run records are its own live runs.
                dataDirectory = try Self.claim(path)
            }
            do {
                outbox = try Outbox(directory: configuration.dataDirectory)
                runRecords = try RunRecords(directory: configuration.dataDirectory)
            } catch {
                dataDirectory?.release()
                dataDirectory = nil
                throw AgentError("--data-dir \(configuration.dataDirectory ?? ""): cannot use it: \(error.localizedDescription)",
                                 code: .dataDirectory)
            }
            if configuration.adoptsOrphans { _ = cspawn_set_child_subreaper() }
            for leftover in runRecords.endLeftovers() {
                logger.warning("ended a run left by a previous agent process; the coordinator runs it again", metadata: [
                    "job.id": .string(leftover.jobID), "job.attempt": .stringConvertible(leftover.attempt),
                    "pid": .stringConvertible(leftover.pid),
                ])
            }
            if !outbox.isEmpty {
                logger.info("results kept from before, sent when welcomed", metadata: [
                    "results": .stringConvertible(outbox.refs.count)])
            }
            try connect()
            // Often enough that a heartbeat never goes out much later than its interval.
            let tickMilliseconds = Int64(max(10, min(200, configuration.heartbeatMilliseconds / 4)))
            timers.append(loop.every(milliseconds: tickMilliseconds) { [unowned self] in tick() })
            loop.onIteration { [unowned self] in flushOutbox() }
            loop.onStop { [unowned self] in shutdownOnLoop(graceMilliseconds: 0) }
        }
    }

    private static func claim(_ path: String) throws(AgentError) -> DataDirectory {
        do {
            return try DataDirectory.claim(path, option: "--data-dir")
        } catch {
            throw AgentError(error.description, code: error.kind == .unusable ? .dataDirectory : .dataDirectoryInUse)
        }
    }

    /// Gives back the runs it holds, ends every running job (SIGTERM, then SIGKILL after `graceMilliseconds`)
    /// and reports them as lost with the agent (they run again elsewhere), says BYE.
    /// Blocks until done or `graceMilliseconds` + 2 s have passed.
    public func stop(graceMilliseconds: Int = 5_000) {
        let done = Semaphore()
        loop.execute { [self] in
            stopping = true
            returnHeldRuns()
            reapExited()
            for run in runs.values {
                run.endedByStop = true
                run.process.signalGroup(SIGTERM)
            }
            let deadline = monotonicMilliseconds() + Int64(graceMilliseconds)
            func check() {
                if runs.isEmpty || monotonicMilliseconds() >= deadline {
                    shutdownOnLoop(graceMilliseconds: 0)
                    done.signal()
                } else {
                    loop.schedule(afterMilliseconds: 20) { check() }
                }
            }
            check()
        }
        _ = done.wait(timeoutSeconds: Double(graceMilliseconds) / 1000 + 2)
    }

    private func shutdownOnLoop(graceMilliseconds: Int) {
        guard !stopping || dealer != nil || !runs.isEmpty else { return }
        stopping = true
        if !waiting.isEmpty { returnHeldRuns() }
        reapExited()
        for run in runs.values {
            run.endedByStop = true
            run.process.signalGroup(SIGKILL)
        }
        // Give the kernel a moment to deliver SIGKILL, then collect what we can.
        for _ in 0..<50 where !runs.isEmpty {
            for run in Array(runs.values) { reap(run) }
            if !runs.isEmpty { usleep(10_000) }
        }
        flushOutbox()
        if let dealer {
            _ = try? dealer.send([Wire.agentProtocolBytes, Array(Wire.AgentCommand.bye.rawValue.utf8), []])
        }
        for timer in timers { loop.cancel(timer) }
        timers.removeAll()
        closeDealer()
        reapJobOrphans()
        dataDirectory?.release()
        dataDirectory = nil
    }

    // MARK: connection

    private func connect() throws {
        let dealer = try ZMQSocket(context: loop.context, type: .dealer)
        // A routing id of its own per connection: the coordinator can only reach this connection after
        // its HELLO, so no run is sent to it before the coordinator has heard what the agent runs. (A
        // stable id would let ROUTER_HANDOVER route runs to a new connection before its HELLO is read:
        // the soak run showed those runs counted as lost while the agent ran them.)
        routingID = Array("agent/\(configuration.name)/\(UInt32.random(in: 0...UInt32.max))".utf8)
        dealer.setOption(ZMQ_ROUTING_ID, routingID)
        dealer.setOption(ZMQ_SNDHWM, 0)
        dealer.setOption(ZMQ_RCVHWM, 0)
        dealer.setTCPKeepalive()
        dealer.setMaxMessageSize(configuration.maxMessageBytes)
        if let security = configuration.security {
            try dealer.makeCurveClient(security)
            monitor = try SocketMonitor(dealer, loop: loop, events: HandshakeOutcome.monitoredEvents) { [unowned self] in
                if let outcome = HandshakeOutcome($0) { handshake(outcome) }
            }
        }
        try dealer.connect(configuration.coordinatorEndpoint)
        self.dealer = dealer
        dealerToken = loop.register(dealer) { [unowned self] in readCoordinator() }
        welcomed = false
        lastHeard = monotonicMilliseconds()
        sendHello()
    }

    private func closeDealer() {
        monitor?.close()
        monitor = nil
        if let dealerToken { loop.unregister(dealerToken) }
        dealerToken = nil
        dealer?.close()
        dealer = nil
        welcomed = false
    }

    private func sendHello() {
        announcedPrefetch = prefetchGauge.current
        let hello = Hello(
            name: configuration.name, hostname: AgentConfiguration.hostname(), slots: configuration.slots,
            labels: configuration.labels, pid: getpid(), version: "1",
            // Runs still going or waiting to start, and runs whose results we keep: the coordinator holds
            // them for us.
            running: runs.values.map { RunRef(jobID: $0.assignment.jobID, attempt: $0.assignment.attempt) }
                + waiting.map { RunRef(jobID: $0.jobID, attempt: $0.attempt) } + outbox.refs,
            prefetch: announcedPrefetch, acksInJobs: true)
        send(.hello, WireCoding.bytes(hello))
    }

    func send(_ command: Wire.AgentCommand, _ body: [UInt8]) {
        guard let dealer else { return }
        do {
            try dealer.send([Wire.agentProtocolBytes, Array(command.rawValue.utf8), body])
            lastSent = monotonicMilliseconds()
        } catch {
            logger.warning("send to coordinator failed", metadata: ["error": "\(error)"])
        }
    }

    private func readCoordinator() {
        guard let dealer else { return }
        while let message = try? dealer.receive() {
            guard message.count == 3, message[0] == Wire.agentProtocolBytes,
                let command = Wire.AgentCommand(rawValue: String(decoding: message[1], as: UTF8.self))
            else {
                malformed("unknown protocol, command or frame count")
                continue
            }
            lastHeard = monotonicMilliseconds()
            handle(command, message[2])
        }
    }

    private func handle(_ command: Wire.AgentCommand, _ body: [UInt8]) {
        switch command {
        case .welcome:
            guard let welcome = try? WireCoding.decode(Welcome.self, from: body),
                Bounds.heartbeatMilliseconds.range.contains(welcome.heartbeatMilliseconds),
                Bounds.liveness.range.contains(welcome.liveness)
            else { return malformed("invalid WELCOME") }
            welcomed = true
            coordinatorTakesReturns = welcome.takesReturns == true
            heartbeatMilliseconds = welcome.heartbeatMilliseconds
            liveness = welcome.liveness
            reconnectDelay = configuration.reconnectMinMilliseconds
            outbox.resendAll()
            // Welcomed again while stopping (a coordinator that had forgotten us): it must send nothing more.
            if stopping { returnHeldRuns() }
            logger.info("joined the coordinator", metadata: [
                "agent.id": .string(welcome.agentID), "coordinator": .string(configuration.coordinatorEndpoint),
                "agent.slots": .stringConvertible(configuration.slots),
            ])
        case .jobs:
            guard let message = try? WireCoding.decode(JobsMessage.self, from: body) else { return malformed("invalid JOBS") }
            if let acks = message.acks { outbox.acknowledge(acks) }
            for assignment in message.jobs {
                if let problem = Self.assignmentProblem(assignment) {
                    malformed("JOBS: \(problem)")
                    continue
                }
                launch(assignment)
            }
        case .cancel:
            guard let cancel = try? WireCoding.decode(CancelRun.self, from: body),
                Bounds.graceMilliseconds.range.contains(cancel.graceMilliseconds)
            else { return malformed("invalid CANCEL") }
            if let index = waiting.firstIndex(where: { $0.jobID == cancel.jobID && $0.attempt == cancel.attempt }) {
                let assignment = waiting.remove(at: index)
                let now = currentTimestamp()
                outbox.add(RunResult(jobID: assignment.jobID, attempt: assignment.attempt, status: .cancelled,
                                     message: "cancelled before it started", startedAt: now, finishedAt: now))
                return
            }
            guard let run = runs[cancel.jobID], run.assignment.attempt == cancel.attempt else { return }
            terminate(run, graceMilliseconds: cancel.graceMilliseconds) { $0.cancelled = true }
        case .ack:
            guard let ack = try? WireCoding.decode(AckMessage.self, from: body) else { return malformed("invalid ACK") }
            outbox.acknowledge(ack.runs)
        case .replaced:
            let message = String(decoding: body, as: UTF8.self)
            logger.error("stopping: \(message); only one agent may run under a name", metadata: [
                "agent.name": .string(configuration.name)])
            shutdownOnLoop(graceMilliseconds: 0)
            onReplaced?(message)
        case .refused:
            refused(String(decoding: body, as: UTF8.self))
        case .heartbeat:
            break
        case .reconnect:
            sendHello()
        case .hello, .progress, .result, .bye, .returned:
            malformed("\(command.rawValue) is not sent by a coordinator")
        }
    }

    /// Why a run from the coordinator cannot be started as it is (nil: it can).
    static func assignmentProblem(_ assignment: Assignment) -> String? {
        guard isUsableJobID(assignment.jobID), assignment.attempt >= 1 else { return "an impossible job id or attempt" }
        guard !assignment.argv.isEmpty else { return "an empty command" }
        if let timeout = assignment.timeout, !Bounds.jobTimeout.range.contains(timeout) { return "a timeout out of range" }
        if let grace = assignment.killGraceMilliseconds, !Bounds.graceMilliseconds.range.contains(grace) {
            return "a kill grace out of range"
        }
        return nil
    }

    /// Job ids become file names (outbox, run records): short, printable, no path separators.
    static func isUsableJobID(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= 128
            && id.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "/") }
    }

    /// Counts a message from the coordinator that could not be used; logs the first, then at most one
    /// line every 10 s with the count since.
    func malformed(_ why: String) {
        malformedMessages += 1
        let now = monotonicMilliseconds()
        if malformedLoggedAt.map({ now - $0 >= 10_000 }) ?? true {
            logger.warning("dropped a message from the coordinator", metadata: [
                "why": .string(why), "more.since.last": .stringConvertible(malformedSuppressed),
                "total": .stringConvertible(malformedMessages)])
            malformedLoggedAt = now
            malformedSuppressed = 0
        } else {
            malformedSuppressed += 1
        }
    }

    private func handshake(_ outcome: HandshakeOutcome) {
        let endpoint = configuration.coordinatorEndpoint
        guard let problem = outcome.explanation(endpoint: endpoint, publicKey: configuration.security?.keys.publicKey)
        else { return }
        if case .refused = outcome { return refused(problem) }
        // libzmq retries by itself; say it once every 30 s, not at every retry.
        let now = monotonicMilliseconds()
        if lastHandshakeComplaint.map({ now - $0 >= 30_000 }) ?? true {
            lastHandshakeComplaint = now
            logger.error("cannot join: \(problem)")
        }
    }

    /// The coordinator will not have this agent: stop, ending runs at once (they run again elsewhere).
    private func refused(_ message: String) {
        guard !stopping else { return }
        logger.error("stopping: \(message)", metadata: ["agent.name": .string(configuration.name)])
        shutdownOnLoop(graceMilliseconds: 0)
        onRefused?(message)
    }

    /// Runs every 200 ms: heartbeats, liveness of the coordinator, orphan reaping.
    private func tick() {
        let now = monotonicMilliseconds()
        if dealer != nil {
            if now - lastHeard > Int64(heartbeatMilliseconds * liveness) {
                logger.warning("no word from the coordinator; reconnecting", metadata: [
                    "silent.ms": .stringConvertible(now - lastHeard),
                    "retry.ms": .stringConvertible(reconnectDelay),
                ])
                closeDealer()
                let jitter = Int.random(in: 0...max(1, reconnectDelay / 4))
                let delay = reconnectDelay + jitter
                reconnectDelay = min(reconnectDelay * 2, configuration.reconnectMaxMilliseconds)
                loop.schedule(afterMilliseconds: Int64(delay)) { [weak self] in
                    guard let self, !stopping, dealer == nil else { return }
                    do { try connect() } catch {
                        logger.error("reconnect failed", metadata: ["error": "\(error)"])
                    }
                }
            } else if now - lastSent >= Int64(heartbeatMilliseconds) {
                send(.heartbeat, [])
            }
        }
        reapJobOrphans()
    }

    /// Reaps exited orphans of our jobs (only when we are their subreaper).
    func reapJobOrphans() {
        guard configuration.adoptsOrphans else { return }
        _ = reapOrphans(excluding: Set(runs.values.map(\.process.pid)), sessions: jobSessions)
    }
}
