import ProcClient
import ProcCore

/// One event subscription per cluster, routing job events to the workers that have callbacks.
/// Events for a job id not registered yet (the feed can be faster than the submit reply) wait briefly.
final class EventRouter: Sendable {
    private let client: ProcClient
    private let state = Locked(State())

    private struct State {
        var task: Task<Void, Never>?
        var starting = false
        var workers: [JobID: Worker] = [:]
        var early: [JobID: [Event]] = [:]
        var earlyOrder: [JobID] = []
    }

    init(client: ProcClient) { self.client = client }

    /// Starts following the feed (once), from the current seq, so nothing after this call is missed.
    func ensureRunning() async throws {
        guard state.withLock({ $0.task == nil }) else { return }
        let from = try await client.info().lastSeq + 1
        state.withLock { state in
            guard state.task == nil else { return }
            let stream = client.events(topics: ["job."], from: from)
            state.task = Task { [weak self] in
                do {
                    for try await event in stream { self?.route(event) }
                } catch {}
            }
        }
    }

    func register(_ worker: Worker, id: JobID) {
        let early = state.withLock { state -> [Event] in
            state.workers[id] = worker
            return state.early.removeValue(forKey: id) ?? []
        }
        for event in early { worker.deliver(event) }
    }

    private func route(_ event: Event) {
        guard let id = event.jobID else { return }
        let worker = state.withLock { state -> Worker? in
            if let worker = state.workers[id] {
                if event.status?.isFinal == true && event.type != .jobLateResult { state.workers[id] = nil }
                return worker
            }
            state.early[id, default: []].append(event)
            state.earlyOrder.append(id)
            // Bounded: events of jobs that are not ours are forgotten.
            if state.earlyOrder.count > 10_000 {
                for id in state.earlyOrder.prefix(5_000) { state.early[id] = nil }
                state.earlyOrder.removeFirst(5_000)
            }
            return nil
        }
        worker?.deliver(event)
    }

    func stop() {
        state.withLock { $0.task?.cancel() }
    }
}
