import ProcClient
import ProcCore

/// Something that takes the events of the jobs it registered for (a worker, a `map`).
protocol EventReceiver: AnyObject, Sendable {
    func deliver(_ event: Event)
}

/// One event subscription per cluster, routing job events to their receivers (workers with callbacks
/// or awaiting `join`, bulk `map`s).
///
/// The feed can be faster than a submit's reply: events for a job id not registered yet wait. While any
/// submit of this cluster is in flight they all wait (they may be its jobs); once none is, those left are
/// not ours and are dropped. So nothing of ours is lost, and what waits is bounded by what a submit in
/// flight can see.
final class EventRouter: Sendable {
    private let client: ProcClient
    private let state = Locked(State())

    private struct State {
        var task: Task<Void, Never>?
        var receivers: [JobID: any EventReceiver] = [:]
        var early: [JobID: [Event]] = [:]
        /// Submits in flight: their jobs' events may come before their ids.
        var submitting = 0
    }
    /// Receivers that want every event of their jobs (workers with callbacks), not only the final one:
    /// while there are none, the feed decodes only final events.
    private let everyEvent = Locked(0)

    init(client: ProcClient) { self.client = client }

    /// Starts following the feed (once), from the current seq, so nothing after this call is missed.
    func ensureRunning() async throws {
        guard state.withLock({ $0.task == nil }) else { return }
        let from = try await client.info().lastSeq + 1
        state.withLock { state in
            guard state.task == nil else { return }
            let everyEvent = everyEvent
            let stream = client.events(topics: ["job."], from: from, want: { topic in
                Self.finalTopics.contains(topic) || everyEvent.withLock { $0 > 0 }
            })
            state.task = Task { [weak self] in
                do {
                    for try await event in stream { self?.route(event) }
                    self?.failed(ProcClientError(.closed, "the event feed ended (the cluster was shut down)"))
                } catch {
                    self?.failed(error)
                }
            }
        }
    }

    static let finalTopics: Set<[UInt8]> = [EventType.jobCompleted.topic, EventType.jobFailed.topic,
                                            EventType.jobCancelled.topic]

    /// A receiver starts to want every event of its jobs (call before its submit), or stops (after its
    /// final event).
    func wantsEveryEvent(_ more: Bool) {
        everyEvent.withLock { $0 += more ? 1 : -1 }
    }

    /// Submits jobs whose events `receivers` take (one receiver per id, in order): registered before any
    /// of their events can be dropped.
    func submit(_ specs: [JobSpec], receivers: (_ ids: [JobID]) -> [any EventReceiver]) async throws -> [JobID] {
        state.withLock { $0.submitting += 1 }
        let ids: [JobID]
        do {
            ids = try await client.submit(specs)
        } catch {
            settle()
            throw error
        }
        register(ids: ids, receivers: receivers(ids))
        settle()
        return ids
    }

    private func register(ids: [JobID], receivers: [any EventReceiver]) {
        var early: [(any EventReceiver, [Event])] = []
        state.withLock { state in
            for (id, receiver) in zip(ids, receivers) {
                state.receivers[id] = receiver
                if let events = state.early.removeValue(forKey: id) { early.append((receiver, events)) }
            }
        }
        for (receiver, events) in early { for event in events { receiver.deliver(event) } }
    }

    /// A submit ended: with none in flight, the events still waiting are not ours.
    private func settle() {
        state.withLock { state in
            state.submitting -= 1
            if state.submitting == 0 { state.early.removeAll() }
        }
    }

    private func route(_ event: Event) {
        guard let id = event.jobID else { return }
        let receiver = state.withLock { state -> (any EventReceiver)? in
            if let receiver = state.receivers[id] {
                if event.status?.isFinal == true && event.type != .jobLateResult { state.receivers[id] = nil }
                return receiver
            }
            if state.submitting > 0 { state.early[id, default: []].append(event) }
            return nil
        }
        receiver?.deliver(event)
    }

    /// The feed ended with an error (the cluster shut down): receivers waiting for an end hear of it.
    private func failed(_ error: any Error) {
        let receivers = state.withLock { state -> [any EventReceiver] in
            defer { state.receivers.removeAll() }
            return Array(state.receivers.values)
        }
        for receiver in receivers { (receiver as? FeedEndAware)?.feedEnded(error) }
    }

    func stop() {
        state.withLock { $0.task?.cancel() }
    }
}

/// A receiver that must know when the feed ends before its job did (a `join` waiting on it).
protocol FeedEndAware {
    func feedEnded(_ error: any Error)
}
