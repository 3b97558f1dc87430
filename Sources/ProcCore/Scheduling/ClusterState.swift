import HeapModule

/// Settings of the state machine.
public struct ClusterSettings: Sendable {
    /// How many times a job may lose its run with its agent (the run is retried elsewhere) before it ends
    /// `error`/`lost`. Failures the job causes itself count against `--retries` instead.
    public var maxLostAttempts: Int = 3
    /// How long a cancelled or timed-out job has between SIGTERM and SIGKILL.
    public var cancelGraceMilliseconds: Int = 5_000
    /// Backoff before a failed job's retry (`--retries`): base × 2^(failures-1), capped.
    public var retryBackoffMilliseconds: Int = 1_000
    public var retryBackoffCapMilliseconds: Int = 60_000
    public init() {}
}

/// An agent as the scheduler sees it.
public struct AgentState: Sendable, Equatable {
    public var info: AgentInfo
    /// Slots it has asked to fill (pull-based: nothing is sent beyond this).
    public var credits: Int
    public var running: Set<JobID>
    /// Runs the agent still executes that are no longer current (the coordinator gave up on them);
    /// each holds a slot until its late result arrives.
    public var foreign: Set<RunRef> = []
    /// Restored from the journal after a coordinator restart: the agent has not reconnected yet. Its
    /// runs are kept until it does, or until `expireAwaitingAgents`.
    public var awaitingReconnect = false
    /// It is stopping (a RETURN said so): nothing more is sent to it.
    public var stopping = false
    /// The names of the functions its hosts offer.
    public var functions: Set<String> = []
}

/// A queue: its limit of running jobs across the cluster, and counts.
public struct QueueState: Sendable, Equatable {
    public var maxRunning: Int = 0
    public var running: Int = 0
    public var pending: Int = 0
}

/// The coordinator's whole state, as a state machine without I/O (STYLE: "state machines that return
/// actions"). Every mutating method returns the effects the coordinator must carry out, in order.
///
/// Scheduling: pending jobs are grouped by (queue, required labels, function); each group is a heap
/// ordered by priority (higher first), then submission order. An agent with credits gets the best head
/// among the groups whose queue is under its limit, whose labels it carries and whose function (if any)
/// it offers; agents are served round-robin, one job per pass, so a small batch spreads over the cluster.
public struct ClusterState: Sendable {
    public private(set) var jobs = JobTable()
    public private(set) var agents: [String: AgentState] = [:]
    public private(set) var queues: [String: QueueState] = [:]
    public var settings: ClusterSettings
    public private(set) var lastJobNumber: UInt64 = 0

    private struct GroupKey: Hashable, Sendable {
        var queue: String
        var labels: [String: String]
        /// A function job's function: only an agent that offers it takes the group's jobs.
        var function: String?
    }
    private struct Entry: Comparable, Sendable {
        var priority: Int
        var number: UInt64
        var id: JobID
        var attempt: Int
        static func < (a: Entry, b: Entry) -> Bool {
            a.priority != b.priority ? a.priority < b.priority : a.number > b.number
        }
    }
    private var groups: [GroupKey: Heap<Entry>] = [:]
    private var agentOrder: [String] = []
    private var nextAgentIndex = 0

    public init(settings: ClusterSettings = ClusterSettings()) {
        self.settings = settings
    }

    // MARK: submission

    /// Accepts valid specs (validate first with `JobSpec.validationProblem`).
    public mutating func submit(_ specs: [JobSpec], now: Timestamp) -> (ids: [JobID], effects: [Effect]) {
        var ids: [JobID] = []
        var effects: [Effect] = []
        ids.reserveCapacity(specs.count)
        effects.reserveCapacity(specs.count)
        for spec in specs {
            lastJobNumber += 1
            let job = JobRecord(id: Self.jobID(lastJobNumber), number: lastJobNumber, spec: spec, submittedAt: now)
            jobs[job.id] = job
            enqueue(job)
            ids.append(job.id)
            var event = Event.job(.jobSubmitted, job)
            if spec.function == nil { event.command = spec.argv }
            event.function = spec.function
            event.priority = spec.priority
            event.name = spec.name
            effects.append(.event(event))
        }
        return (ids, effects)
    }

    private mutating func enqueue(_ job: JobRecord) {
        let key = GroupKey(queue: job.queue, labels: job.spec.labels ?? [:], function: job.spec.function)
        groups[key, default: Heap()].insert(
            Entry(priority: job.spec.priority ?? 0, number: job.number, id: job.id, attempt: job.attempt))
        queues[job.queue, default: QueueState()].pending += 1
    }

    // MARK: queues

    public mutating func setQueueLimit(_ name: String, maxRunning: Int) -> [Effect] {
        queues[name, default: QueueState()].maxRunning = max(0, maxRunning)
        var event = Event(type: .queueUpdated)
        event.queue = name
        event.maxRunning = max(0, maxRunning)
        return [.event(event)]
    }

    public func queueInfos() -> [QueueInfo] {
        queues.map { QueueInfo(name: $0.key, maxRunning: $0.value.maxRunning, pending: $0.value.pending,
                               running: $0.value.running) }
            .sorted { $0.name < $1.name }
    }

    // MARK: agents

    /// An agent said HELLO. `running` is what it is still running (after a reconnect): runs that are
    /// still this agent's current attempts are kept; the rest hold slots until their (late) results come.
    public mutating func agentJoined(_ info: AgentInfo, running: [RunRef] = [], now: Timestamp) -> [Effect] {
        var keep = Set<JobID>()
        var foreign = Set<RunRef>()
        for ref in running {
            if let job = jobs[ref.jobID], job.status == .running, job.attempt == ref.attempt, job.agentID == info.id {
                keep.insert(ref.jobID)
            } else {
                foreign.insert(ref)
            }
        }
        let previous = agents[info.id]
        var effects: [Effect] = []
        if let previous = agents.removeValue(forKey: info.id) {
            // The same agent again (a reconnect or a restart): what it no longer runs is lost.
            effects += loseRuns(previous.running.subtracting(keep).sorted(), of: info.id,
                                reason: "not running on the agent after it reconnected", now: now)
        } else {
            agentOrder.append(info.id)
        }
        agents[info.id] = AgentState(
            info: info, credits: max(0, info.slots + (info.prefetch ?? 0) - keep.count - foreign.count), running: keep,
            foreign: foreign, functions: Set(info.functions?.map(\.name) ?? []))
        // A cancel asked while the agent was away is asked again.
        for jobID in keep.sorted() where jobs[jobID]!.cancelRequested {
            effects.append(.cancelRun(agentID: info.id, CancelRun(
                jobID: jobID, attempt: jobs[jobID]!.attempt, graceMilliseconds: settings.cancelGraceMilliseconds)))
        }
        // A quick reconnect that keeps every run is not news; a first join, a restart or a return is.
        if previous == nil || keep.isEmpty || previous!.awaitingReconnect {
            var event = Event(type: .agentJoined)
            event.agentID = info.id
            event.slots = info.slots
            event.labels = info.labels
            event.hostname = info.hostname
            if let offers = info.functions, !offers.isEmpty { event.functions = offers.map(\.name) }
            effects.append(.event(event))
        }
        return effects
    }

    /// The agent is gone (heartbeats stopped, said BYE, or was replaced). Its runs are lost: each job
    /// runs again elsewhere while it has attempts left, else ends `error`/`lost`.
    public mutating func agentLeft(_ agentID: String, reason: String, now: Timestamp) -> [Effect] {
        guard let agent = agents.removeValue(forKey: agentID) else { return [] }
        agentOrder.removeAll { $0 == agentID }
        var event = Event(type: .agentLeft)
        event.agentID = agentID
        event.reason = reason
        event.hostname = agent.info.hostname
        return [.event(event)] + loseRuns(agent.running.sorted(), of: agentID, reason: reason, now: now)
    }

    private mutating func loseRuns(_ jobIDs: [JobID], of agentID: String, reason: String, now: Timestamp) -> [Effect] {
        var effects: [Effect] = []
        for jobID in jobIDs {
            guard var job = jobs[jobID], job.status == .running, job.agentID == agentID else { continue }
            queues[job.queue]?.running -= 1
            effects.append(.event(Self.settleLostRun(&job, .agentGone(agentID: agentID, reason: reason), settings: settings,
                                                     now: now)))
            jobs[jobID] = job
            if job.status == .pending { enqueue(job) }
        }
        return effects
    }

    /// How a run ended that did not end by itself.
    enum LostRun {
        /// Its agent is gone (heartbeats stopped, BYE, replaced, or a restart it did not come back from).
        case agentGone(agentID: String, reason: String)
        /// Its agent ended it because the agent was stopping (a result `error`/`lost`).
        case endedByStop(RunResult, agentID: String)
        /// Its agent gave it back before starting it (RETURN).
        case returned(agentID: String)
    }

    /// The one place a run that did not end by itself is decided: a cancel asked meanwhile wins
    /// (`cancelled`); a run given back unstarted goes back to pending with nothing counted against the job;
    /// a run lost with its agent goes back to pending as the next attempt while the job has lost fewer than
    /// `maxLostAttempts`, and ends `error`/`lost` after that. Returns the event, applied to `job`
    /// (`job.status` is `.pending` when the caller must queue the job again).
    static func settleLostRun(_ job: inout JobRecord, _ loss: LostRun, settings: ClusterSettings, now: Timestamp) -> Event {
        var run: RunResult?
        if case .endedByStop(let result, _) = loss { run = result }
        func event(_ type: EventType) -> Event {
            run.map { Event.ending(type, job, run: $0) } ?? Event.job(type, job)
        }
        var result: Event
        if job.cancelRequested {
            result = event(.jobCancelled)
            result.status = .cancelled
            switch loss {
            case .agentGone(let agentID, _):
                result.reason = FailureReason.lost.rawValue
                result.message = "agent \(agentID) lost while cancelling"
            case .endedByStop: result.message = "cancelled"
            case .returned: result.message = "cancelled before it started"
            }
        } else if case .returned(let agentID) = loss {
            result = event(.jobRetrying)
            result.status = .pending
            result.attempt = job.attempt + 1
            result.agentID = nil
            result.reason = returnedReason
            result.message = "agent \(agentID) is stopping and gave the run back before starting it; attempt "
                + "\(job.attempt + 1) queued"
        } else {
            let why: String = switch loss {
            case .agentGone(let agentID, let reason): "agent \(agentID) lost (\(reason))"
            case .endedByStop(let run, _): "attempt \(job.attempt) \(run.message ?? "was lost with its agent")"
            case .returned: ""
            }
            if job.lostAttempts + 1 < settings.maxLostAttempts {
                result = event(.jobRetrying)
                result.status = .pending
                result.attempt = job.attempt + 1
                result.agentID = nil
                result.message = "\(why); attempt \(job.attempt + 1) queued"
            } else {
                result = event(.jobFailed)
                result.status = .error
                result.message = "\(why); the run was lost \(job.lostAttempts + 1) times (at most \(settings.maxLostAttempts))"
            }
            result.reason = FailureReason.lost.rawValue
        }
        if let value = job.result { result.result = value }
        job.apply(result, at: now)
        return result
    }

    /// Runs an agent held and will not start (RETURN): each current one goes back to pending at once as a
    /// new attempt (`job.retrying`, reason `returned`), with nothing counted against the job: it never
    /// ran. A run that is not the job's current attempt on this agent is ignored. `stopping`: the agent
    /// gets nothing more.
    public mutating func returned(_ runs: [RunRef], stopping: Bool, from agentID: String, now: Timestamp) -> [Effect] {
        guard let index = agents.index(forKey: agentID) else { return [] }
        var effects: [Effect] = []
        for ref in runs {
            guard var job = jobs[ref.jobID], job.status == .running, job.attempt == ref.attempt,
                job.agentID == agentID
            else { continue }
            withAgent(at: index) { agent in
                if agent.running.remove(ref.jobID) != nil { agent.credits += 1 }
            }
            queues[job.queue]?.running -= 1
            effects.append(.event(Self.settleLostRun(&job, .returned(agentID: agentID), settings: settings, now: now)))
            jobs[ref.jobID] = job
            if job.status == .pending { enqueue(job) }
        }
        if stopping { withAgent(at: index) { $0.stopping = true } }
        return effects
    }

    /// The `reason` of a `job.retrying` for a run its agent gave back unstarted.
    public static let returnedReason = "returned"

    /// An agent asks for another prefetch (a RESULT's `prefetch`): its credits follow. Below what it
    /// holds already, its credits go under zero and nothing more is sent until enough runs end.
    public mutating func setPrefetch(_ prefetch: Int, of agentID: String) {
        guard let index = agents.index(forKey: agentID) else { return }
        withAgent(at: index) { agent in
            agent.credits += prefetch - (agent.info.prefetch ?? 0)
            agent.info.prefetch = prefetch
        }
    }

    // MARK: scheduling

    /// Fills agents' credits with the best pending jobs. Call after anything that may free a slot or
    /// add work.
    public mutating func schedule(now: Timestamp) -> [Effect] {
        guard !agentOrder.isEmpty, !groups.isEmpty else { return [] }
        var effects: [Effect] = []
        // Free slots first, everywhere; only then the agents' prefetch (runs they hold to start next), so
        // a job never waits behind another on one agent while a slot is free on another.
        for prefetching in [false, true] {
            var progress = true
            while progress && !groups.isEmpty {
                progress = false
                for offset in 0..<agentOrder.count {
                    let agentID = agentOrder[(nextAgentIndex + offset) % agentOrder.count]
                    // Read where it lies (`withAgent`): `agents[agentID]` copies the whole AgentState, for
                    // each of the thousand agents on each pass.
                    guard let index = agents.index(forKey: agentID),
                        let entry = withAgent(at: index, { agent -> ([String: String], Set<String>)? in
                            agent.credits > (prefetching ? 0 : max(0, agent.info.prefetch ?? 0)) && !agent.stopping
                                ? (agent.info.labels, agent.functions) : nil
                        }).flatMap({ popBest(for: $0.0, functions: $0.1) })
                    else { continue }
                    effects.append(contentsOf: start(entry.id, on: agentID, now: now))
                    progress = true
                }
                // Rotate only after a pass that dispatched: a final empty pass must not skip an agent.
                if progress { nextAgentIndex = (nextAgentIndex + 1) % agentOrder.count }
            }
        }
        return effects
    }

    /// Pops the best live head among the groups this agent may take from. The groups are walked by index
    /// and changed through `groups.values[index]`: by key, each look at a group hashed its key (a queue
    /// name and a labels dictionary) again, five times a dispatch.
    private mutating func popBest(for labels: [String: String], functions: Set<String>) -> Entry? {
        var bestIndex: [GroupKey: Heap<Entry>].Index?
        var best: Entry?
        var emptied: [GroupKey] = []
        var index = groups.startIndex
        while index != groups.endIndex {
            defer { index = groups.index(after: index) }
            let key = groups.keys[index]
            if let queue = queues[key.queue], queue.maxRunning > 0, queue.running >= queue.maxRunning { continue }
            if let function = key.function, !functions.contains(function) { continue }
            guard key.labels.allSatisfy({ labels[$0.key] == $0.value }) else { continue }
            // Drop stale heads (cancelled while pending, or a newer attempt queued).
            while let top = groups.values[index].max, !isLive(top) { _ = groups.values[index].popMax() }
            guard let top = groups.values[index].max else {
                emptied.append(key)
                continue
            }
            if best == nil || best! < top {
                best = top
                bestIndex = index
            }
        }
        let entry = bestIndex.map { groups.values[$0].popMax()! }
        if let bestIndex, groups.values[bestIndex].isEmpty { emptied.append(groups.keys[bestIndex]) }
        // Removing by key last: a removal moves entries, and the indices above would no longer hold.
        for key in emptied { groups[key] = nil }
        return entry
    }

    /// Whether a queued entry is still its job's pending attempt. Read in place (`JobTable.update`): the
    /// getter copies the whole record.
    private mutating func isLive(_ entry: Entry) -> Bool {
        jobs.update(entry.id) { $0.status == .pending && $0.attempt == entry.attempt } ?? false
    }

    private mutating func start(_ jobID: JobID, on agentID: String, now: Timestamp) -> [Effect] {
        let grace = settings.cancelGraceMilliseconds
        // In place (`JobTable.update`): this runs for every job.
        guard let (queue, effects) = jobs.update(jobID, { job -> (String, [Effect]) in
            var event = Event.job(.jobStarted, job)
            event.status = .running
            event.agentID = agentID
            if job.spec.function == nil { event.command = job.spec.argv }
            event.function = job.spec.function
            job.apply(event, at: now)
            return (job.queue, [.event(event), .dispatch(agentID: agentID, Assignment(job: job, killGraceMilliseconds: grace))])
        }) else { return [] }
        // One lookup each, then in place.
        withAgent(at: agents.index(forKey: agentID)!) { agent in
            agent.credits -= 1
            agent.running.insert(jobID)
        }
        Self.change(&queues[queue, default: QueueState()]) {
            $0.pending -= 1
            $0.running += 1
        }
        return effects
    }

    // MARK: runs

    /// Progress from a job's fd 3 channel. Ignored unless it is about the current attempt.
    public mutating func progress(_ report: ProgressReport, from agentID: String, now: Timestamp) -> [Effect] {
        guard var job = jobs[report.jobID], job.status == .running, job.attempt == report.attempt,
            job.agentID == agentID
        else { return [] }
        var event = Event.job(.jobProgress, job)
        event.progress = report.progress
        event.message = report.message
        job.apply(event, at: now)
        jobs[report.jobID] = job
        return [.event(event)]
    }

    /// An attempt ended on an agent. A result that is not about the current attempt on that agent is a
    /// late duplicate: recorded as such, never the outcome.
    public mutating func finished(_ run: RunResult, from agentID: String, now: Timestamp) -> [Effect] {
        // The slot this run held is free again, whatever the outcome (also for a job we do not know).
        // The agent and the job are each looked up once and read in place.
        if let index = agents.index(forKey: agentID) {
            let attempt = jobs.update(run.jobID) { $0.attempt }
            withAgent(at: index) { agent in
                if !agent.foreign.isEmpty, agent.foreign.remove(RunRef(jobID: run.jobID, attempt: run.attempt)) != nil {
                    agent.credits += 1
                } else if attempt == run.attempt, agent.running.remove(run.jobID) != nil {
                    agent.credits += 1
                }
            }
        }
        // Looked at first: a duplicate or a late result leaves the record as it is.
        enum Seen { case duplicate, late(Event), current }
        guard let seen = jobs.update(run.jobID, { job -> Seen in
            // Delivered again (the agent resends what was not acknowledged): already recorded.
            if job.recordedAttempts.contains(run.attempt) { return .duplicate }
            guard job.status == .running && job.attempt == run.attempt && job.agentID == agentID else {
                var late = Event.job(.jobLateResult, job)
                late.attempt = run.attempt
                late.agentID = agentID
                late.exitCode = run.exitCode
                late.signal = run.signal
                late.message = "result of attempt \(run.attempt) from \(agentID) arrived after the coordinator gave up on it"
                return .late(late)
            }
            return .current
        }) else { return [] }
        switch seen {
        case .duplicate: return []
        case .late(let event): return [.event(event)]
        case .current: break
        }
        // Then changed in place (`JobTable.update`): this runs for every job.
        let settings = settings
        guard let (queue, requeued, effects) = jobs.update(run.jobID, { job -> (String, Bool, [Effect]) in
            // Room for the event to come: an array literal of one grew by a new buffer (a malloc a job).
            var effects: [Effect] = []
            effects.reserveCapacity(3)
            effects.append(.storeOutput(job.id, attempt: run.attempt, run.output))
            let event = Self.outcome(of: run, for: &job, from: agentID, settings: settings, now: now)
            effects.append(.event(event))
            let requeued = job.status == .pending
            if requeued {
                let delay = event.reason == FailureReason.lost.rawValue ? 0 : Self.retryDelay(failures: job.failures,
                                                                                                 settings: settings)
                effects.append(.requeueLater(job.id, milliseconds: delay))
            }
            return (job.queue, requeued, effects)
        }) else { return [] }
        queues[queue]?.running -= 1
        if requeued { queues[queue, default: QueueState()].pending += 1 }
        return effects
    }

    /// The event a current attempt's result makes, applied to the job: completed; cancelled when a cancel
    /// was asked (unless it completed anyway); lost with a stopping agent (`settleLostRun`); else a failure,
    /// retried while the job has retries left.
    private static func outcome(
        of run: RunResult, for job: inout JobRecord, from agentID: String, settings: ClusterSettings, now: Timestamp
    ) -> Event {
        let resultNow = run.result ?? job.result
        var status = run.status
        if job.cancelRequested && status != .completed { status = .cancelled }
        if status == .error && run.reason == .lost {
            // Ended by its agent's stop: lost with the agent, as if it had gone, not failed.
            if let value = run.result { job.result = value }
            return settleLostRun(&job, .endedByStop(run, agentID: agentID), settings: settings, now: now)
        }
        var event: Event
        switch status {
        case .completed:
            event = Event.ending(.jobCompleted, job, run: run)
            event.status = .completed
            event.message = run.message
        case .cancelled:
            event = Event.ending(.jobCancelled, job, run: run)
            event.status = .cancelled
            event.message = run.message ?? "cancelled"
        default:
            let reason = run.reason ?? .exit
            let failures = job.failures + 1
            if failures <= (job.spec.retries ?? 0) {
                let delay = retryDelay(failures: failures, settings: settings)
                event = Event.ending(.jobRetrying, job, run: run)
                event.status = .pending
                event.attempt = job.attempt + 1
                event.agentID = nil
                event.message = "attempt \(run.attempt) failed (\(describe(run))); retry \(failures) of "
                    + "\(job.spec.retries ?? 0) in \(delay) ms"
            } else {
                event = Event.ending(.jobFailed, job, run: run)
                event.status = .error
                event.message = run.message ?? describe(run)
            }
            event.reason = reason.rawValue
        }
        event.result = resultNow
        job.apply(event, at: now)
        return event
    }

    /// Called when a retry's backoff has passed: the job becomes schedulable again.
    public mutating func requeue(_ jobID: JobID) {
        guard let job = jobs[jobID], job.status == .pending else { return }
        queues[job.queue, default: QueueState()].pending -= 1  // enqueue counts it again
        enqueue(job)
    }

    /// Reads or changes the agent at `index` where it lies. `agents.values[index]` read through its getter
    /// copies the whole AgentState (its info, labels and two sets) first; its modify accessor does not.
    private mutating func withAgent<R>(at index: [String: AgentState].Index, _ body: (inout AgentState) -> R) -> R {
        body(&agents.values[index])
    }

    /// Changes a value through one access: `queues[name, default: QueueState()]` hashes the name once.
    private static func change<T>(_ value: inout T, _ body: (inout T) -> Void) { body(&value) }

    private static func retryDelay(failures: Int, settings: ClusterSettings) -> Int {
        let exponent = min(max(failures - 1, 0), 20)
        return min(settings.retryBackoffMilliseconds << exponent, settings.retryBackoffCapMilliseconds)
    }

    private static func describe(_ run: RunResult) -> String {
        switch run.reason {
        case .exit: "exit code \(run.exitCode ?? -1)"
        case .signal: "killed by signal \(run.signal ?? 0)"
        case .timeout: "timed out"
        case .spawn: run.message ?? "could not start"
        case .lost: "agent lost"
        case .thrown: "threw \(run.errorType ?? "an error")"
        case .crashed: run.message ?? "its host crashed"
        case nil: run.status.rawValue
        }
    }

    // MARK: cancellation

    /// Cancels jobs by id. Pending ones end at once; running ones are asked to stop (SIGTERM, grace,
    /// SIGKILL) and end `cancelled` when their agent reports. Unknown ids are returned separately.
    public mutating func cancel(_ ids: [JobID], now: Timestamp) -> (reply: CancelReply, unknown: [JobID], effects: [Effect]) {
        var reply = CancelReply(cancelled: [], alreadyFinal: [])
        var unknown: [JobID] = []
        var effects: [Effect] = []
        for id in ids {
            guard var job = jobs[id] else {
                unknown.append(id)
                continue
            }
            switch job.status {
            case .pending:
                var event = Event.job(.jobCancelled, job)
                event.status = .cancelled
                event.message = "cancelled while pending"
                job.apply(event, at: now)
                jobs[id] = job
                queues[job.queue]?.pending -= 1
                effects.append(.event(event))
                reply.cancelled.append(id)
            case .running:
                if !job.cancelRequested, let agentID = job.agentID {
                    var event = Event.job(.jobCancelRequested, job)
                    event.message = "cancel asked: SIGTERM, then SIGKILL after \(settings.cancelGraceMilliseconds) ms"
                    job.apply(event, at: now)
                    jobs[id] = job
                    effects.append(.event(event))
                    effects.append(.cancelRun(agentID: agentID, CancelRun(
                        jobID: id, attempt: job.attempt, graceMilliseconds: settings.cancelGraceMilliseconds)))
                }
                reply.cancelled.append(id)
            case .completed, .error, .cancelled:
                reply.alreadyFinal.append(id)
            }
        }
        return (reply, unknown, effects)
    }

    /// Cancels every pending and running job of a queue.
    public mutating func cancel(queue: String, now: Timestamp) -> (reply: CancelReply, effects: [Effect]) {
        let ids = jobs.values.filter { $0.queue == queue && !$0.status.isFinal }.sorted { $0.number < $1.number }
            .map(\.id)
        let (reply, _, effects) = cancel(ids, now: now)
        return (reply, effects)
    }

    // MARK: queries

    /// The id of the job submitted as `number` ("j42").
    public static func jobID(_ number: UInt64) -> JobID { "j\(number)" }

    /// The newest jobs first (of one queue, if given), at most `limit`: walks back from the last number,
    /// so it costs `limit` lookups, not a sort of every job.
    public func newestJobs(limit: Int, queue: String? = nil) -> [JobRecord] {
        var found: [JobRecord] = []
        var number = lastJobNumber
        while number > 0 && found.count < limit {
            if let job = jobs[Self.jobID(number)], queue == nil || job.queue == queue { found.append(job) }
            number -= 1
        }
        return found
    }

    public func counts(queue: String? = nil) -> [String: Int] {
        var counts: [String: Int] = [:]
        for status in JobStatus.allCases { counts[status.rawValue] = 0 }
        for job in jobs.values where queue == nil || job.queue == queue { counts[job.status.rawValue, default: 0] += 1 }
        return counts
    }

    /// Why a pending job cannot run now when no agent could take it, in words: no agent offers its
    /// function, or none carries its labels (or none does both). Nil when some agent could (the job waits
    /// for a slot, its queue's limit or a retry's backoff), or the job is not pending.
    public func waitingReason(_ job: borrowing JobRecord) -> String? {
        guard job.status == .pending else { return nil }
        let labels = job.spec.labels ?? [:]
        let function = job.spec.function
        func carries(_ agent: AgentState) -> Bool { labels.allSatisfy { agent.info.labels[$0.key] == $0.value } }
        func offers(_ agent: AgentState) -> Bool { function.map { agent.functions.contains($0) } ?? true }
        let live = agents.values.filter { !$0.stopping && !$0.awaitingReconnect }
        if live.contains(where: { carries($0) && offers($0) }) { return nil }
        let labelText = labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
        if live.isEmpty { return "no agent has joined" }
        if let function {
            if !live.contains(where: offers) {
                return "no agent offers function '\(function)' (agents offer functions with --functions PATH)"
            }
            if !labels.isEmpty { return "no agent offers function '\(function)' and carries labels \(labelText)" }
        }
        return "no agent carries labels \(labelText)"
    }

    public func agentInfos() -> [AgentInfo] {
        agents.values.filter { !$0.awaitingReconnect }.map { agent in
            var info = agent.info
            info.running = agent.running.count
            return info
        }.sorted { $0.id < $1.id }
    }

    // MARK: recovery

    /// Makes room for `count` restored jobs at once.
    public mutating func reserveJobs(_ count: Int) {
        jobs.reserveCapacity(count)
    }

    /// Restores a job from the journal (a coordinator restart). Pending jobs are queued again.
    public mutating func restore(_ job: JobRecord) {
        jobs[job.id] = job
        lastJobNumber = max(lastJobNumber, job.number)
        if job.status == .pending { enqueue(job) }
        if job.status == .running { queues[job.queue, default: QueueState()].running += 1 }
    }

    /// After a coordinator restart: attaches restored running jobs to an entry for their agent, which
    /// keeps them until the agent reconnects (and says what it still runs) or `expireAwaitingAgents`.
    public mutating func awaitReconnect(of agentID: String, jobs ids: [JobID]) {
        let info = AgentInfo(id: agentID, hostname: "", slots: 0, running: ids.count, labels: [:], joinedAt: 0,
                             pid: nil)
        agents[agentID] = AgentState(info: info, credits: 0, running: Set(ids), foreign: [], awaitingReconnect: true)
        agentOrder.append(agentID)
    }

    /// `body` reads a job's record where it lies; nil if there is no such job. Mutating only to reach it
    /// through an inout access, the one way the record is read without a copy of all of it (the getter,
    /// or a closure handed it otherwise, copies it first); `body` borrows
    /// it and cannot change it.
    public mutating func withJob<R>(_ id: JobID, _ body: (borrowing JobRecord) -> R) -> R? {
        jobs.update(id) { body($0) }
    }

    /// Agents that did not come back after a coordinator restart are gone: their runs are lost.
    public mutating func expireAwaitingAgents(reason: String, now: Timestamp) -> [Effect] {
        agents.values.filter(\.awaitingReconnect).map(\.info.id).sorted().flatMap {
            agentLeft($0, reason: reason, now: now)
        }
    }
}
