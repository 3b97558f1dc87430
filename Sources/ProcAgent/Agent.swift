import CSpawn
import Glibc
import Logging
import ProcCore
import ProcSystem
import ServiceLifecycle
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

/// An agent: joins a coordinator, announces its slots, and runs each job it is sent as a local
/// subprocess (its own session and process group, fd 3 channel, bounded output).
///
/// Which run takes a slot, how each ends and what is reported is decided by `AgentRuns`; this class
/// carries its decisions out (processes, signals, timers) and talks to the coordinator over a socket
/// (`SocketLink`) or, in single-host mode, by calls on the same loop (`LocalCoordinatorEndpoint`). All
/// of its state is confined to its `EventLoop` thread; the public methods hop onto it.
public final class Agent: @unchecked Sendable, Service, LocalAgentEndpoint {
    public let configuration: AgentConfiguration
    public let loop: EventLoop
    let logger: Logger

    /// How the coordinator is reached.
    enum Link {
        case socket(SocketLink)
        case local(any LocalCoordinatorEndpoint)
    }
    var link: Link?
    /// Set before `start` for single-host mode: the coordinator on this loop.
    private let localCoordinator: (any LocalCoordinatorEndpoint)?
    var welcomed = false
    var runs: AgentRuns
    /// The I/O side of each running run: its process, its descriptors in the loop, its timeout.
    var processes: [JobID: RunProcess] = [:]
    /// Results until the coordinator acknowledges them.
    var outbox: Outbox!
    var runRecords: RunRecords!
    /// Held from start to stop (with a data directory): a second agent on it is refused.
    var dataDirectory: DataDirectory?
    var resultHold: ResultHold
    /// The prefetch the coordinator was last told (HELLO, or a RESULT's `prefetch`).
    var announcedPrefetch = 0
    var timers: [RepeatingTimer] = []
    /// Past `start`, before the end of `stop` (or a refusal).
    var started = false
    var finished = false

    /// Called (on the loop thread) when the coordinator says another agent joined under this name; the
    /// agent has then stopped. `proc-agent` exits non-zero.
    public var onReplaced: (@Sendable (String) -> Void)?
    /// Called (on the loop thread) when the coordinator refuses this agent's key; the agent has then
    /// stopped. `proc-agent` exits non-zero.
    public var onRefused: (@Sendable (String) -> Void)?
    /// Messages from the coordinator that could not be used (malformed, wrong types, impossible values).
    public internal(set) var malformedMessages = 0
    var malformedLoggedAt: Int64?
    var malformedSuppressed = 0
    /// Sessions of the jobs started here (a job's session id is its pid), newest last, bounded: what
    /// `reapOrphans` may reap.
    var jobSessions: Set<pid_t> = []
    var jobSessionOrder: [pid_t] = []
    /// The functions its hosts offer (asked at the start), and the host processes.
    var functionOffers: [FunctionOffer] = []
    var hostPool = HostPool(offers: [:])
    /// The host executables that mark the end of each call's output: only they get calls written ahead.
    var markedHosts: Set<String> = []
    var hostProcesses: [HostPool.HostID: HostProcess] = [:]
    /// The host running each function call.
    var callHosts: [JobID: HostPool.HostID] = [:]
    /// Held calls written to a busy host ahead of their turn, and that host.
    var aheadCalls: [JobID: HostPool.HostID] = [:]
    var sigpipeBlocked = false
    /// Yields when the coordinator told the agent to stop (replaced, refused): ends `run()`.
    private let ended = AsyncStream<Void>.makeStream()

    /// `coordinator`: single-host mode, the coordinator on this same loop (else `configuration`'s endpoint).
    public init(configuration: AgentConfiguration, loop: EventLoop, logger: Logger,
                coordinator: (any LocalCoordinatorEndpoint)? = nil) {
        self.configuration = configuration
        self.loop = loop
        self.logger = logger
        self.localCoordinator = coordinator
        runs = AgentRuns(
            slots: configuration.slots, agentName: configuration.name,
            gauge: PrefetchGauge(base: configuration.prefetch,
                                 whileShort: max(configuration.shortRunPrefetch ?? configuration.prefetch,
                                                 configuration.prefetch),
                                 whileQuickCalls: configuration.quickCallPrefetch))
        resultHold = ResultHold(holdMilliseconds: configuration.resultHoldMilliseconds)
    }

    /// The functions its hosts offer, known once it started.
    public private(set) var functionNames: [String] = []

    /// Jobs started since the agent started.
    public var jobsRun: Int { runs.started }

    // MARK: lifecycle

    /// Asks its function hosts what they offer, takes the data directory, ends what a previous agent
    /// process left running, and joins.
    public func start() async throws {
        let (offers, marked) = configuration.functionHosts.isEmpty ? ([], []) : try FunctionHosts.describe(
            configuration.functionHosts, environment: configuration.jobEnvironment(nil))
        functionNames = offers.map(\.name)
        try await loop.call { [self] in
            functionOffers = offers
            markedHosts = marked
            hostPool = HostPool(offers: Dictionary(offers.map { ($0.name, $0.host) }, uniquingKeysWith: { a, _ in a }),
                                maxCallsPerHost: configuration.maxCallsPerHost)
            try startOnLoop()
        }
    }

    private func startOnLoop() throws {
        if let path = configuration.dataDirectory {
            // Before anything in it is read: another agent's run records are its own live runs.
            dataDirectory = try Self.claim(path)
        }
        do {
            outbox = try Outbox(directory: configuration.dataDirectory)
            runRecords = try RunRecords(directory: configuration.dataDirectory)
        } catch {
            releaseDataDirectory()
            throw AgentError("--data-dir \(configuration.dataDirectory ?? ""): cannot use it: \(error)",
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
        started = true
        if let localCoordinator {
            link = .local(localCoordinator)
            sendHello()
        } else {
            let socket = SocketLink(configuration: configuration, loop: loop, logger: logger)
            socket.receive = { [unowned self] in handle($0) }
            socket.malformed = { [unowned self] in malformed($0) }
            socket.connected = { [unowned self] in
                welcomed = false
                sendHello()
            }
            socket.refused = { [unowned self] in refused($0) }
            do {
                try socket.open()
            } catch {
                releaseDataDirectory()
                throw AgentError("cannot connect to \(configuration.coordinatorEndpoint): \(error)")
            }
            link = .socket(socket)
            sendHello()
        }
        let tick = PeerLiveness.tickMilliseconds(interval: configuration.heartbeatMilliseconds)
        timers.append(loop.every(milliseconds: tick) { [unowned self] in self.tick() })
        loop.onIteration { [unowned self] in flushOutbox() }
        loop.onStop { [unowned self] in shutdownNow() }
    }

    private static func claim(_ path: String) throws(AgentError) -> DataDirectory {
        do {
            return try DataDirectory.claim(path, option: "--data-dir")
        } catch {
            throw AgentError(error.description, code: error.kind == .unusable ? .dataDirectory : .dataDirectoryInUse)
        }
    }

    /// Gives back the runs it holds, ends every running job (SIGTERM, then SIGKILL after `graceMilliseconds`)
    /// and reports them as lost with the agent (they run again elsewhere), says BYE. Returns once done.
    public func stop(graceMilliseconds: Int = 5_000) async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            loop.perform { [self] in beginStop(graceMilliseconds: graceMilliseconds) { done.resume() } }
        }
    }

    /// `stop` for a caller that cannot wait asynchronously (a `deinit`): blocks until done.
    package func stopWaiting(graceMilliseconds: Int) {
        let done = Semaphore()
        loop.perform { [self] in beginStop(graceMilliseconds: graceMilliseconds) { done.signal() } }
        _ = done.wait(timeoutSeconds: Double(graceMilliseconds) / 1000 + 5)
    }

    /// Service: starts, runs until a graceful shutdown (SIGTERM/SIGINT in a ServiceGroup) or until the
    /// coordinator tells it to stop, then stops (`stop(graceMilliseconds:)` with the configured grace).
    public func run() async throws {
        try await start()
        await serve()
    }

    /// For an agent already started: runs until a graceful shutdown or until the coordinator tells it to
    /// stop, then stops.
    public func serve() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await gracefulShutdown() }
            group.addTask { [ended] in for await _ in ended.stream { return } }
            await group.next()
            group.cancelAll()
        }
        await stop(graceMilliseconds: configuration.stopGraceMilliseconds)
    }

    private func beginStop(graceMilliseconds: Int, done: @escaping @Sendable () -> Void) {
        guard started, !finished else { return done() }
        reapExited()
        perform(runs.stop(canGiveBack: linkWelcomed))
        retireHosts()
        if case .socket(let socket) = link { socket.stopReconnecting() }
        let deadline = monotonicMilliseconds() + Int64(graceMilliseconds)
        func check() {
            reapExited()
            reapHosts(kill: false)
            if (runs.isIdle && hostsEnded) || monotonicMilliseconds() >= deadline {
                finishStop(done: done)
            } else {
                loop.schedule(afterMilliseconds: 20) { check() }
            }
        }
        check()
    }

    /// The last step of a stop: SIGKILL to what still runs, a moment for the kernel to deliver it, the
    /// results sent, BYE.
    private func finishStop(done: @escaping @Sendable () -> Void) {
        perform(runs.kill())
        reapHosts(kill: true)
        let deadline = monotonicMilliseconds() + 500
        func check() {
            reapExited()
            reapHosts(kill: false)
            if (runs.isIdle && hostsEnded) || monotonicMilliseconds() >= deadline {
                closeDown()
                done()
            } else {
                loop.schedule(afterMilliseconds: 10) { check() }
            }
        }
        check()
    }

    /// The loop is stopping under us (no graceful stop came first): everything ends now.
    private func shutdownNow() {
        guard started, !finished else { return }
        reapExited()
        _ = runs.stop(canGiveBack: linkWelcomed)
        retireHosts()
        perform(runs.kill())
        reapHosts(kill: true)
        for _ in 0..<50 where !runs.isIdle || !hostsEnded {
            reapExited()
            reapHosts(kill: false)
            if !runs.isIdle || !hostsEnded { usleep(10_000) }
        }
        closeDown()
    }

    private func closeDown() {
        guard !finished else { return }
        finished = true
        flushOutbox()
        send(.bye)
        for timer in timers { loop.cancel(timer) }
        timers.removeAll()
        closeLink()
        reapJobOrphans()
        releaseDataDirectory()
    }

    private func closeLink() {
        if case .socket(let socket) = link {
            socket.stopReconnecting()
            socket.close()
        }
        link = nil
        welcomed = false
    }

    private func releaseDataDirectory() {
        dataDirectory?.release()
        dataDirectory = nil
    }

    // MARK: the coordinator

    /// Welcomed over a link that is up: held runs can be given back.
    var linkWelcomed: Bool {
        switch link {
        case .socket(let socket): welcomed && socket.isOpen
        case .local: welcomed
        case nil: false
        }
    }

    var isLocal: Bool { if case .local = link { true } else { false } }

    func send(_ message: AgentMessage) {
        switch link {
        case .socket(let socket): socket.send(message)
        case .local(let coordinator): coordinator.receive(message, from: self)
        case nil: break
        }
    }

    private func sendHello() {
        announcedPrefetch = runs.gauge.current
        send(.hello(Hello(
            name: configuration.name, hostname: AgentConfiguration.hostname(), slots: configuration.slots,
            labels: configuration.labels, pid: getpid(), version: "1",
            // Runs still going or waiting to start, and runs whose results we keep: the coordinator holds
            // them for us.
            running: runs.refs + outbox.refs, prefetch: announcedPrefetch, acksInJobs: true,
            functions: functionOffers.isEmpty ? nil : functionOffers)))
    }

    /// Single-host mode: a message from the coordinator on this loop (after its commit).
    public func deliver(_ message: CoordinatorMessage) {
        handle(message)
    }

    func handle(_ message: CoordinatorMessage) {
        let now = currentTimestamp()
        switch message {
        case .welcome(let welcome):
            welcomed = true
            runs.coordinatorTakesReturns = welcome.takesReturns == true
            if case .socket(let socket) = link { socket.welcomed(welcome) }
            outbox.resendAll()
            // Welcomed again while stopping (a coordinator that had forgotten us): it must send nothing more.
            if runs.stopping { perform(runs.giveBackHeld()) }
            logger.info("joined the coordinator", metadata: [
                "agent.id": .string(welcome.agentID), "coordinator": .string(configuration.coordinatorEndpoint),
                "agent.slots": .stringConvertible(configuration.slots),
            ])
            if isLocal { flushOutbox() }
        case .jobs(let jobs):
            if let acks = jobs.acks { outbox.acknowledge(acks) }
            for assignment in jobs.jobs {
                if !isLocal, let problem = Self.assignmentProblem(assignment) {
                    malformed("JOBS: \(problem)")
                    continue
                }
                perform(runs.assigned(assignment, now: now))
            }
            sendAhead()
        case .cancel(let cancel):
            perform(runs.cancel(cancel, now: now))
        case .ack(let ack):
            outbox.acknowledge(ack.runs)
        case .replaced(let text):
            logger.error("stopping: \(text); only one agent may run under a name", metadata: [
                "agent.name": .string(configuration.name)])
            shutdownNow()
            onReplaced?(text)
            ended.continuation.yield()
        case .refused(let text):
            refused(text)
        case .heartbeat:
            break
        case .reconnect:
            welcomed = false
            sendHello()
        }
    }

    /// Why a run from the coordinator cannot be started as it is (nil: it can). The reader checked the
    /// ranges; what is left is what makes a file name or a command.
    static func assignmentProblem(_ assignment: Assignment) -> String? {
        guard isUsableJobID(assignment.jobID) else { return "an impossible job id" }
        if let function = assignment.function {
            if let problem = JobSpec.functionNameProblem(function) { return problem }
            return nil
        }
        guard !assignment.argv.isEmpty else { return "an empty command" }
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

    /// The coordinator will not have this agent: stop, ending runs at once (they run again elsewhere).
    private func refused(_ message: String) {
        guard started, !finished else { return }
        logger.error("stopping: \(message)", metadata: ["agent.name": .string(configuration.name)])
        shutdownNow()
        onRefused?(message)
        ended.continuation.yield()
    }

    /// Every tick: heartbeats and the coordinator's liveness (over a socket), orphan reaping.
    private func tick() {
        if case .socket(let socket) = link { socket.tick() }
        reapJobOrphans()
    }

    /// Reaps exited orphans of our jobs (only when we are their subreaper).
    func reapJobOrphans() {
        guard configuration.adoptsOrphans else { return }
        _ = reapOrphans(excluding: Set(processes.values.map(\.process.pid)), sessions: jobSessions)
    }
}
