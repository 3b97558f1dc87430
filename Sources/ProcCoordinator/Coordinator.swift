import Logging
import ProcCore
import ProcSystem
import ServiceLifecycle
import ZeroMQ

/// The coordinator: holds the queue, journals every change, publishes every event, and sends runs to
/// agents that ask for them.
///
/// All of its state is confined to its `EventLoop` thread (DESIGN §3): handlers feed the
/// `ClusterState` machine, and once per loop iteration the effects are journaled in one transaction and
/// only then published and sent (`flush`). The class is `@unchecked Sendable` because its public methods
/// hop onto the loop before touching anything.
public final class Coordinator: @unchecked Sendable, Service {
    public let configuration: CoordinatorConfiguration
    public let loop: EventLoop
    let logger: Logger

    var state: ClusterState
    var journal: (any Journal)?
    /// Held from start to stop: no other process may use the same data directory meanwhile.
    var dataDirectory: DataDirectory?
    /// Called once, on the loop thread, when the coordinator stops by itself because it cannot go on
    /// (its journal cannot be written): the reason. It has stopped serving by then.
    public var onFailure: (@Sendable (String) -> Void)?
    /// The same, for `run()`.
    let failures = AsyncStream<String>.makeStream()
    var control: ZMQSocket?
    var events: ZMQSocket?
    /// Endpoints as bound (wildcard ports resolved).
    public private(set) var boundControlEndpoints: [String] = []
    public private(set) var boundEventsEndpoint: String = ""
    var lastSeq: UInt64 = 0

    // Agents: their links, and the agent each route belongs to (`Coordinator+Agents.swift`).
    var agentLinks: [String: AgentLink] = [:]
    var agentsByRoute: [Frame: String] = [:]
    var localAgents: [ObjectIdentifier: String] = [:]
    /// Messages for agents on this loop, delivered after the commit as socket messages are sent.
    var localOutbound: [(any LocalAgentEndpoint, CoordinatorMessage)] = []
    var heartbeatTimer: RepeatingTimer?
    var controlToken: EventLoop.RegistrationToken?

    // What this iteration changed, committed and sent by `flush`.
    var batch = JournalBatch()
    /// Jobs admitted in this iteration, in number order: their admissions go into the batch at the flush.
    var submittedJobs: [JobID] = []
    /// The bodies to publish once the batch is committed (with their commands: `EventBodies`).
    var publishing: [(type: EventType, body: [UInt8])] = []
    /// Events up to this seq were journaled with their commands (before version 6): replayed as they are.
    var commandsStoredThrough: UInt64 = 0
    var outbound: [[Frame]] = []
    var outboundBytes = 0
    static let maxOutboundBytes = 8 << 20
    /// Jobs submitted in this iteration.
    var admitted = 0
    static let maxAdmittedPerIteration = 20_000
    var dispatches: [String: [Assignment]] = [:]
    /// Results journaled this iteration, acknowledged to their agents after the commit.
    var acks: [String: [RunRef]] = [:]
    var needsSchedule = false
    /// Whether an iteration's changes wait to share the next ones' transaction.
    var commitHold: CommitHold
    var waiters = WaiterTable()

    // Security (Coordinator+Security.swift).
    var zap: ZAPHandler?
    var authorized = AuthorizedKeys()
    var keysSignature = ""
    /// A changed signature seen once; the directory is re-read when it is seen again (it held still).
    var keysCandidate: String?
    var keysTimer: RepeatingTimer?
    /// The key each agent joined with (when keys are checked).
    var agentKeys: [String: String] = [:]
    var rejectLog: [String: (lastLogged: Int64?, suppressed: Int)] = [:]

    /// Counters for `proc status` and logs.
    public internal(set) var stats = Stats()
    public struct Stats: Sendable {
        public var messagesIn = 0
        /// Messages and handshakes refused (malformed, unknown protocol, forbidden, unknown key), in all
        /// and by kind.
        public var rejected = 0
        public var rejectedByKind: [String: Int] = [:]
        public var refusedHandshakes = 0
        public var eventsPublished = 0
        public var commits = 0
    }

    public init(configuration: CoordinatorConfiguration, loop: EventLoop, logger: Logger) {
        self.configuration = configuration
        self.loop = loop
        self.logger = logger
        self.state = ClusterState(settings: configuration.cluster)
        self.commitHold = CommitHold(holdMilliseconds: configuration.commitHoldMilliseconds)
    }

    // MARK: lifecycle

    /// Opens the journal, recovers, binds the sockets. Throws (with a message saying what to do) when a
    /// port is taken or the data directory cannot be used.
    public func start() async throws {
        try await loop.call { [self] in try startOnLoop() }
    }

    /// Commits what is held, closes the sockets and the journal. Safe to call more than once.
    public func stop() async {
        _ = try? await loop.call { [self] in stopOnLoop() }
    }

    /// `stop` for a caller that cannot wait asynchronously (a `deinit`): blocks until done.
    package func stopWaiting() {
        _ = try? loop.sync { [self] in stopOnLoop() }
    }

    /// Service: starts, serves until a graceful shutdown (SIGTERM/SIGINT in a ServiceGroup), then stops.
    /// Throws when it cannot start, or when it stopped by itself (`onFailure` says why).
    public func run() async throws {
        try await start()
        let reason = await serveUntilShutdown()
        await stop()
        if let reason { throw CoordinatorError(reason, code: .journal) }
    }

    /// Returns at a graceful shutdown (nil), or when the coordinator stopped by itself (why).
    public func serveUntilShutdown() async -> String? {
        await withTaskGroup(of: String?.self) { group in
            group.addTask { try? await gracefulShutdown(); return nil }
            group.addTask { [failures] in for await reason in failures.stream { return reason }; return nil }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }

    private func startOnLoop() throws {
        let snapshot = try openJournal()
        restore(snapshot)
        if let security = configuration.security {
            do { try startSecurity(security) } catch {
                closeJournal()
                throw error
            }
        }
        let control: ZMQSocket, events: ZMQSocket
        do { (control, events) = try openSockets() } catch {
            stopSecurity()
            closeJournal()
            throw error
        }
        self.control = control
        self.events = events
        controlToken = loop.register(control) { [unowned self] in readControl() }
        loop.onIteration { [unowned self] in flush() }
        loop.onStop { [unowned self] in stopOnLoop() }
        let tick = PeerLiveness.tickMilliseconds(interval: configuration.heartbeatMilliseconds)
        heartbeatTimer = loop.every(milliseconds: tick) { [unowned self] in
            heartbeat()
        }
        logger.info("coordinator listening", metadata: [
            "control": .string(boundControlEndpoints.joined(separator: ",")),
            "events": .string(boundEventsEndpoint),
            "journal": .string(journal?.path ?? ""),
            "jobs.recovered": .stringConvertible(snapshot.jobs.count),
            "seq": .stringConvertible(lastSeq),
            "security": .string(configuration.securityMode),
        ])
        if configuration.insecure {
            logger.warning(Logger.Message(stringLiteral:
                "INSECURE: no CURVE on a network port. Anyone who can reach it can run any command on every agent. "
                    + "Use --cert and --authorized-keys (see proc keygen) instead of --insecure"))
        }
        needsSchedule = true
    }

    /// Claims the data directory and opens and recovers its journal; on failure nothing stays claimed.
    private func openJournal() throws -> JournalSnapshot {
        let directory: DataDirectory
        do {
            directory = try DataDirectory.claim(configuration.dataDirectory, option: "--data-dir")
        } catch {
            throw CoordinatorError(error.description, code: error.kind == .unusable ? .dataDirectory : .dataDirectoryInUse)
        }
        let journal: SQLiteJournal
        let snapshot: JournalSnapshot
        do {
            journal = try SQLiteJournal(directory: configuration.dataDirectory)
            do { snapshot = try journal.recover() } catch {
                journal.close()
                throw error
            }
        } catch {
            directory.release()
            throw CoordinatorError("the journal in \(configuration.dataDirectory) cannot be used: \(describeJournalError(error))",
                                   code: .journal)
        }
        dataDirectory = directory
        self.journal = journal
        return snapshot
    }

    /// Undoes `openJournal` (a later step of the start failed).
    private func closeJournal() {
        journal?.close()
        journal = nil
        releaseDataDirectory()
    }

    /// The scheduler's state from the journal's snapshot, with the configured queue limits over it.
    private func restore(_ snapshot: JournalSnapshot) {
        lastSeq = snapshot.lastSeq
        commandsStoredThrough = snapshot.commandsStoredThrough
        state.reserveJobs(Int(snapshot.jobs.last?.number ?? 0))
        for job in snapshot.jobs { state.restore(job) }
        for (name, limit) in snapshot.queueLimits.merging(configuration.queueLimits, uniquingKeysWith: { $1 }) {
            _ = state.setQueueLimit(name, maxRunning: limit)
        }
        for (name, limit) in configuration.queueLimits { batch.queueLimits.append((name, limit)) }
        recoverRunningJobs()
    }

    /// The control ROUTER and the events PUB, bound (on failure, both closed again).
    private func openSockets() throws -> (control: ZMQSocket, events: ZMQSocket) {
        let control = try ZMQSocket(context: loop.context, type: .router)
        let events: ZMQSocket
        do { events = try ZMQSocket(context: loop.context, type: .pub) } catch {
            control.close()
            throw error
        }
        control.setOption(ZMQ_ROUTER_MANDATORY, 1)
        control.setOption(ZMQ_ROUTER_HANDOVER, 1)
        // A peer that stops reading may not make the coordinator hold its replies without end: past this
        // many queued messages, sends to it fail and are counted (agents that far behind are lost anyway).
        control.setOption(ZMQ_SNDHWM, 100_000)
        control.setOption(ZMQ_RCVHWM, 0)
        control.setTCPKeepalive()
        control.setMaxMessageSize(configuration.maxMessageBytes)
        events.setOption(ZMQ_SNDHWM, configuration.publishHighWaterMark)
        // Subscribers send only subscriptions; anything big from one is hostile.
        events.setMaxMessageSize(64 * 1024)
        do {
            if let security = configuration.security {
                try control.makeCurveServer(secretKey: security.keys.secretKey, zapDomain: "proc")
                try events.makeCurveServer(secretKey: security.keys.secretKey, zapDomain: "proc")
            }
            for endpoint in configuration.controlEndpoints {
                try control.bind(endpoint)
                boundControlEndpoints.append(endpoint.hasPrefix("tcp://") ? control.lastEndpoint : endpoint)
            }
            try events.bind(configuration.eventsEndpoint)
            boundEventsEndpoint = events.lastEndpoint
        } catch {
            control.close()
            events.close()
            if error.isAddressInUse {
                throw CoordinatorError(
                    "\(error.operation): address already in use; is another coordinator running? "
                        + "Stop it, or choose other ports with --listen and --events", code: .addressInUse)
            }
            throw CoordinatorError("\(error)")
        }
        return (control, events)
    }

    /// After a restart, runs that were in flight belong to agents that are not connected yet. They are
    /// kept for `reconnectGraceMilliseconds`: an agent that comes back says what it still runs (and
    /// delivers the results it kept); the runs of agents that do not come back are lost and retried.
    private func recoverRunningJobs() {
        let running = state.jobs.values.filter { $0.status == .running }
        guard !running.isEmpty else { return }
        for (agentID, jobs) in Dictionary(grouping: running, by: { $0.agentID ?? "" }) {
            state.awaitReconnect(of: agentID, jobs: jobs.map(\.id))
        }
        let grace = configuration.reconnectGraceMilliseconds
        loop.schedule(afterMilliseconds: Int64(grace)) { [unowned self] in
            let now = currentTimestamp()
            apply(state.expireAwaitingAgents(reason: "did not reconnect within \(grace) ms of the coordinator restart",
                                             now: now), at: now)
        }
        logger.info("waiting for agents to reconnect", metadata: [
            "jobs.running": .stringConvertible(running.count), "grace.ms": .stringConvertible(grace),
        ])
    }

    private func stopOnLoop() {
        guard let control else { return }
        flush(holding: false)
        if let heartbeatTimer { loop.cancel(heartbeatTimer) }
        if let controlToken { loop.unregister(controlToken) }
        controlToken = nil
        control.close()
        events?.close()
        stopSecurity()
        self.control = nil
        self.events = nil
        journal?.close()
        journal = nil
        releaseDataDirectory()
        logger.info("coordinator stopped", metadata: [
            "seq": .stringConvertible(lastSeq), "commits": .stringConvertible(stats.commits),
        ])
    }

    // MARK: the iteration

    /// Applies effects from the state machine: events are numbered and queued for the journal, runs and
    /// cancels for their agents.
    func apply(_ effects: [Effect], at now: Timestamp) {
        let time = rfc3339(now)
        for effect in effects {
            switch effect {
            case .event(var event):
                if event.type == .agentJoined { event.security = configuration.securityMode }
                lastSeq += 1
                event.seq = lastSeq
                event.time = time
                let (stored, published) = EventBodies.encode(event)
                batch.events.append(StoredEvent(seq: lastSeq, body: stored))
                publishing.append((event.type, published ?? stored))
                if let jobID = event.jobID {
                    if event.type == .jobSubmitted { submittedJobs.append(jobID) }
                    if let status = event.status, status.isFinal { waiters.finished(jobID) }
                }
                needsSchedule = true
            case .dispatch(let agentID, let assignment):
                dispatches[agentID, default: []].append(assignment)
            case .cancelRun(let agentID, let cancel):
                sendToAgent(agentID, .cancel(cancel))
            case .requeueLater(let jobID, let milliseconds):
                loop.schedule(afterMilliseconds: Int64(milliseconds)) { [unowned self] in
                    state.requeue(jobID)
                    needsSchedule = true
                }
            case .storeOutput(let jobID, let attempt, let output):
                // A first attempt that printed nothing has no row: RESULT answers an empty output for a
                // job with a recorded attempt and none stored. A later attempt always stores one, so it
                // hides an earlier attempt's output.
                if attempt == 1 && output == JobOutput.empty { break }
                guard let number = JobTable.number(of: jobID) else { break }
                batch.outputs.append((number, attempt, output))
            }
        }
    }

    /// End of a loop iteration: schedule, commit the batch (one transaction), then publish and send.
    /// Nothing is published, acknowledged or dispatched before it is durable. The commit may wait a
    /// moment for the next iterations' changes while nothing waits on it (`mayHoldCommit`).
    func flush(holding: Bool = true) {
        guard control != nil else { return }
        if needsSchedule {
            needsSchedule = false
            let now = currentTimestamp()
            apply(state.schedule(now: now), at: now)
        }
        waiters.collectReplies(state: &state, into: &outbound)
        if holding {
            let now = monotonicMilliseconds()
            switch commitHold.decide(batchShape(), now: now) {
            case .commit: break
            case .hold(let wakeAt):
                // The loop's next iteration after this timer commits, whatever else happens by then.
                if let wakeAt { loop.schedule(afterMilliseconds: wakeAt - now) {} }
                return
            }
        } else {
            commitHold.committed()
        }
        for (agentID, assignments) in dispatches { sendJobs(assignments, to: agentID) }
        dispatches.removeAll(keepingCapacity: true)
        for (agentID, runs) in acks { sendToAgent(agentID, .ack(AckMessage(runs: runs))) }
        acks.removeAll(keepingCapacity: true)
        // Jobs admitted in this iteration: their specs, once.
        for jobID in submittedJobs {
            if let row = state.withJob(jobID, { AdmittedRow(number: $0.number, body: $0.admission.jsonBytes) }) {
                batch.admitted.append(row)
            }
        }
        submittedJobs.removeAll(keepingCapacity: true)
        guard !batch.isEmpty || !outbound.isEmpty || !localOutbound.isEmpty else { return }
        if !batch.isEmpty {
            do {
                try journal?.append(batch)
                stats.commits += 1
            } catch {
                // The journal is the truth: without it nothing may be acknowledged. Nothing of this batch
                // leaves; the coordinator stops serving and says why.
                fail("journal commit failed: \(describeJournalError(error))")
                return
            }
            for (type, body) in publishing {
                _ = try? events?.send(type.topic, body)
            }
            stats.eventsPublished += publishing.count
            publishing.removeAll(keepingCapacity: true)
            batch = JournalBatch()
        }
        for message in outbound {
            do {
                if try control?.send(message) == false {
                    noteRejected("reply dropped: peer gone or not reading", peer: printable(message[0]))
                }
            } catch {
                logger.warning("send failed", metadata: ["error": "\(error)"])
            }
        }
        outbound.removeAll(keepingCapacity: true)
        outboundBytes = 0
        admitted = 0
        // Agents on this loop get theirs last: what they do with it (spawning) waits for nothing else.
        let deliveries = localOutbound
        localOutbound.removeAll(keepingCapacity: true)
        for (agent, message) in deliveries { agent.deliver(message) }
    }

    /// What the iteration's batch waits on, for `CommitHold`.
    private func batchShape() -> CommitHold.Batch {
        var agentsCanWait = true
        for (agentID, assignments) in dispatches {
            // The agent still holds a run beyond its slots without these: it cannot run dry meanwhile.
            guard let agent = state.agents[agentID],
                agent.running.count + agent.foreign.count - assignments.count > agent.info.slots
            else {
                agentsCanWait = false
                break
            }
        }
        return CommitHold.Batch(
            hasChanges: !batch.isEmpty || !submittedJobs.isEmpty || !dispatches.isEmpty || !acks.isEmpty,
            hasUrgentSends: !outbound.isEmpty || !localOutbound.isEmpty, events: batch.events.count,
            agentsCanWait: agentsCanWait, runsInFlight: state.queues.values.contains { $0.running > 0 })
    }
}

extension Coordinator {
    func releaseDataDirectory() {
        dataDirectory?.release()
        dataDirectory = nil
    }

    /// Stops serving at once, without committing or sending anything more, and reports `reason`: what
    /// is not journaled was never acknowledged, so clients and agents send it again to the next start.
    func fail(_ reason: String) {
        logger.critical("stopping: \(reason)")
        batch = JournalBatch()
        publishing.removeAll()
        outbound.removeAll()
        dispatches.removeAll()
        acks.removeAll()
        if let heartbeatTimer { loop.cancel(heartbeatTimer) }
        if let controlToken { loop.unregister(controlToken) }
        controlToken = nil
        control?.close()
        control = nil
        events?.close()
        events = nil
        stopSecurity()
        journal?.close()
        journal = nil
        releaseDataDirectory()
        onFailure?(reason)
        failures.continuation.yield(reason)
    }

}

/// A coordinator could not start or serve; the message says what to do. A struct wrapping a code, so new
/// codes do not break users.
public struct CoordinatorError: Error, CustomStringConvertible {
    public struct Code: Hashable, Sendable {
        fileprivate enum Value { case dataDirectoryInUse, dataDirectory, addressInUse, journal, other }
        fileprivate let value: Value
        /// Another process owns the data directory (exit 2 in `proc-coordinator`).
        public static let dataDirectoryInUse = Code(value: .dataDirectoryInUse)
        /// The data directory cannot be created, is not a directory, or cannot be written.
        public static let dataDirectory = Code(value: .dataDirectory)
        public static let addressInUse = Code(value: .addressInUse)
        /// The journal could not be opened, read or written.
        public static let journal = Code(value: .journal)
        public static let other = Code(value: .other)
    }
    public let code: Code
    public let description: String
    public init(_ description: String, code: Code = .other) {
        self.code = code
        self.description = description
    }
}
