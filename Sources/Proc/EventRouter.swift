import ProcClient
import ProcCore
import ZeroMQ

/// Something that takes the events of the jobs it registered for (a worker, a `map`). Called on the
/// client's loop thread.
protocol EventReceiver: AnyObject, Sendable {
    func deliver(_ event: Event)
    /// The feed ended before the job did (the cluster shut down).
    func feedEnded(_ error: any Error)
}

/// One event subscription per cluster, routing job events to their receivers (workers with callbacks
/// or awaiting `join`, bulk `map`s). It lives on the client's loop thread: the feed is handed to it
/// there, and the submits it makes register their receivers there as their replies come, so an event
/// goes from the socket to the waiting `join` with no task or lock in between.
///
/// The feed can be faster than a submit's reply: events for a job id not registered yet wait. While any
/// submit of this cluster is in flight they all wait (they may be its jobs); once none is, those left are
/// not ours and are dropped. So nothing of ours is lost, and what waits is bounded by what a submit in
/// flight can see.
final class EventRouter: @unchecked Sendable {
    private let client: ProcClient
    private let loop: EventLoop
    /// Set once the feed is followed (read from any thread).
    private let following = Locked(false)
    // Loop-confined.
    private var receivers: [JobID: any EventReceiver] = [:]
    private var early: [JobID: [Event]] = [:]
    /// Submits in flight: their jobs' events may come before their ids.
    private var submitting = 0
    private var ended: (any Error)?
    /// Receivers that want every event of their jobs (workers with callbacks), not only the final one:
    /// while there are none, the feed decodes only final events.
    private let everyEvent = Locked(0)

    init(client: ProcClient) {
        self.client = client
        self.loop = client.loop
    }

    static let finalTopics: Set<[UInt8]> = [EventType.jobCompleted.topic, EventType.jobFailed.topic,
                                            EventType.jobCancelled.topic]

    /// Starts following the feed (once), from the current seq, so nothing after this call is missed.
    func ensureRunning() async throws {
        guard !following.withLock({ $0 }) else { return }
        let from = try await client.info().lastSeq + 1
        try await loop.call { [self] in
            guard !following.withLock({ $0 }) else { return }
            following.withLock { $0 = true }
            let everyEvent = everyEvent
            client.followEvents(
                topics: ["job."], from: from,
                want: { topic in Self.finalTopics.contains(topic) || everyEvent.withLock { $0 > 0 } },
                deliver: { [weak self] events in self?.route(events) },
                end: { [weak self] error in
                    self?.feedEnded(error ?? ProcClientError(.closed, "the event feed ended (the cluster was shut down)"))
                })
        }
    }

    /// A receiver starts to want every event of its jobs (call before its submit), or stops (after its
    /// final event).
    func wantsEveryEvent(_ more: Bool) {
        everyEvent.withLock { $0 += more ? 1 : -1 }
    }

    /// Submits one job whose events `receiver` takes, registered as the reply comes (on the loop, before
    /// any of its events can be dropped). Jobs submitted so from many tasks at once go in one SUBMIT.
    func submit(_ spec: JobSpec, receiver: any EventReceiver) async throws -> JobID {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<JobID, any Error>) in
            client.enqueueSubmit(spec, sending: { [self] in submitting += 1 }) { [self] result in
                if case .success(let id) = result { register([id], receiver: receiver) }
                settle()
                continuation.resume(with: result)
            }
        }
    }

    /// Submits jobs whose events one `receiver` takes (`expect` is told each batch's ids first).
    func submit(_ specs: [JobSpec], receiver: any EventReceiver, expect: @escaping @Sendable ([JobID]) -> Void)
        async throws -> [JobID]
    {
        try await loop.call { [self] in submitting += 1 }
        do {
            let ids = try await client.submit(specs)
            try await loop.call { [self] in
                expect(ids)
                register(ids, receiver: receiver)
                settle()
            }
            return ids
        } catch {
            _ = try? await loop.call { [self] in settle() }
            throw error
        }
    }

    /// Loop only.
    private func register(_ ids: [JobID], receiver: any EventReceiver) {
        if let ended { return receiver.feedEnded(ended) }
        for id in ids {
            receivers[id] = receiver
            if let events = early.removeValue(forKey: id) { for event in events { route(event) } }
        }
    }

    /// A submit ended: with none in flight, the events still waiting are not ours. Loop only.
    private func settle() {
        submitting -= 1
        if submitting == 0 { early.removeAll() }
    }

    private func route(_ events: [Event]) {
        for event in events { route(event) }
    }

    private func route(_ event: Event) {
        guard let id = event.jobID else { return }
        guard let receiver = receivers[id] else {
            if submitting > 0 { early[id, default: []].append(event) }
            return
        }
        if event.status?.isFinal == true && event.type != .jobLateResult { receivers[id] = nil }
        receiver.deliver(event)
    }

    /// The feed ended (the cluster shut down): receivers waiting for an end hear of it.
    private func feedEnded(_ error: any Error) {
        ended = error
        let waiting = receivers.values
        receivers.removeAll()
        var told = Set<ObjectIdentifier>()
        for receiver in waiting where told.insert(ObjectIdentifier(receiver)).inserted { receiver.feedEnded(error) }
    }

    func stop() {}
}
