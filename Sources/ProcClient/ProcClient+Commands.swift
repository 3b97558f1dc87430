import ProcCore
import ZeroMQ

extension ProcClient {
    public func info() async throws -> InfoReply {
        try await request(.info, Empty(), as: InfoReply.self)
    }

    /// Submits jobs and returns their ids in order. Large batches go in chunks that are all in flight
    /// at once: no round trip per job. A chunk too big for one message is split in two.
    public func submit(_ specs: [JobSpec], chunkSize: Int = 2_000) async throws -> [JobID] {
        guard !specs.isEmpty else { return [] }
        if specs.count == 1 { return [try await submit(specs[0])] }
        if specs.count <= chunkSize {
            return try await submitChunk(specs[...], timeout: nil)
        }
        let chunks = stride(from: 0, to: specs.count, by: chunkSize).map {
            specs[$0..<min($0 + chunkSize, specs.count)]
        }
        return try await withThrowingTaskGroup(of: (Int, [JobID]).self) { group in
            for (index, chunk) in chunks.enumerated() {
                group.addTask { (index, try await self.submitChunk(chunk, timeout: max(self.requestTimeout, 30))) }
            }
            var results = [[JobID]](repeating: [], count: chunks.count)
            for try await (index, ids) in group { results[index] = ids }
            return results.flatMap { $0 }
        }
    }

    private func submitChunk(_ chunk: ArraySlice<JobSpec>, timeout: Double?) async throws -> [JobID] {
        let body = WireCoding.bytes(SubmitRequest(jobs: Array(chunk)))
        if body.count > Self.maxRequestBytes && chunk.count > 1 {
            let middle = chunk.startIndex + chunk.count / 2
            let first = try await submitChunk(chunk[..<middle], timeout: timeout)
            return first + (try await submitChunk(chunk[middle...], timeout: timeout))
        }
        return try await request(.submit, encoded: body, as: SubmitReply.self, timeout: timeout).ids
    }

    /// Submits one job. Jobs submitted one at a time from many tasks at once go to the coordinator
    /// together, in one SUBMIT per turn of the client's loop (`SubmitQueue`): a worker per call is then
    /// not a request per call.
    public func submit(_ spec: JobSpec) async throws -> JobID {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<JobID, any Error>) in
            enqueueSubmit(spec, sending: nil) { continuation.resume(with: $0) }
        }
    }

    /// Queues one job for the next SUBMIT. On the loop thread: `sending` as its SUBMIT goes out, then
    /// `completion` with its id, or why it was not accepted, once the reply comes.
    package func enqueueSubmit(
        _ spec: JobSpec, sending: (() -> Void)?, completion: @escaping (Result<JobID, any Error>) -> Void
    ) {
        if submitQueue.add(SubmitQueue.Item(spec: spec, sending: sending, completion: completion)) {
            loop.perform { [self] in sendQueuedSubmits() }
        }
    }

    /// Sends what `submit(_:)` queued, in SUBMITs of at most 2,000 jobs (and of `maxRequestBytes`). One
    /// the coordinator refuses as a whole is sent again job by job: only the jobs at fault fail.
    func sendQueuedSubmits() {
        let queued = submitQueue.takeAll()
        for item in queued { item.sending?() }
        var start = 0
        while start < queued.count {
            let end = min(start + 2_000, queued.count)
            sendSubmits(queued[start..<end], retryAlone: true)
            start = end
        }
    }

    private func sendSubmits(_ queued: ArraySlice<SubmitQueue.Item>, retryAlone: Bool) {
        let body = WireCoding.bytes(SubmitRequest(jobs: queued.map(\.spec)))
        if body.count > Self.maxRequestBytes {
            guard queued.count > 1 else {
                return queued.first!.completion(.failure(ProcClientError(
                    .rejected, "SUBMIT request too large: \(body.count >> 20) MiB (at most \(Self.maxRequestBytes >> 20) MiB)")))
            }
            let middle = queued.startIndex + queued.count / 2
            sendSubmits(queued[..<middle], retryAlone: retryAlone)
            sendSubmits(queued[middle...], retryAlone: retryAlone)
            return
        }
        sendOnLoop(.submit, body, timeout: requestTimeout) { [self] result in
            let ids: [JobID]
            do {
                ids = try WireCoding.decode(SubmitReply.self, from: try result.get()).ids
                guard ids.count == queued.count else {
                    throw ProcClientError(.protocolError, "SUBMIT answered \(ids.count) ids for \(queued.count) jobs")
                }
            } catch let error as ProcClientError where error.code == .rejected && retryAlone && queued.count > 1 {
                for item in queued { sendSubmits([item], retryAlone: false) }
                return
            } catch {
                for item in queued { item.completion(.failure(error)) }
                return
            }
            for (item, id) in zip(queued, ids) { item.completion(.success(id)) }
        }
    }

    public func status(_ ids: [JobID] = [], queue: String? = nil, limit: Int? = nil) async throws -> StatusReply {
        try await request(.status, StatusRequest(ids: ids.isEmpty ? nil : ids, queue: queue, limit: limit),
                          as: StatusReply.self)
    }

    public func result(_ id: JobID) async throws -> ResultReply {
        try await request(.result, ResultRequest(id: id), as: ResultReply.self)
    }

    /// Waits until every job is final (or `timeout` seconds pass; nil waits as long as it takes) and
    /// returns them. `onUpdate` sees the jobs that ended so far each time the coordinator answers: about
    /// once a second, less often for a big batch (every `remaining / 50` ms, at most 10 s). Without it,
    /// the coordinator answers every 10 s or when all are final: each answer makes it look at every job
    /// still waited for, and on a batch of 200,000 a one-second cycle took a third of its core
    ///.
    public func wait(
        _ ids: [JobID], timeout: Double? = nil, onUpdate: (@Sendable ([JobSummary]) -> Void)? = nil
    ) async throws -> [JobSummary] {
        let start = monotonicSeconds()
        var latest: [JobID: JobSummary] = [:]
        // Each id once, in the order given (an error names the first unknown ones in that order).
        var seen = Set<JobID>()
        var remaining = ids.filter { seen.insert($0).inserted }
        var asked = false
        while !remaining.isEmpty {
            var slice = onUpdate == nil ? 10_000 : min(max(1_000, remaining.count / 50), 10_000)
            // Until the last slice, only the jobs that became final come back: the others are asked for
            // again (a reply with every job made the coordinator summarize a big batch each second).
            var last = false
            if let timeout {
                let left = timeout - (monotonicSeconds() - start)
                // Ask at least once, so every job has a summary even with a zero timeout.
                if left <= 0 && asked { break }
                let leftMilliseconds = Int(left * 1000)
                slice = min(slice, max(10, leftMilliseconds))
                last = leftMilliseconds <= slice
            }
            let reply = try await request(
                .wait, WaitRequest(ids: remaining, timeoutMilliseconds: slice, finalOnly: last ? nil : true),
                as: WaitReply.self, timeout: requestTimeout + Double(slice) / 1000)
            asked = true
            for job in reply.jobs { latest[job.id] = job }
            // A coordinator before `final_only` answers with every job: the same filter holds.
            remaining = remaining.filter { latest[$0]?.status.isFinal != true }
            onUpdate?(Array(latest.values))
            try Task.checkCancellation()
        }
        return ids.compactMap { latest[$0] }
    }

    public func cancel(_ ids: [JobID]) async throws -> CancelReply {
        try await request(.cancel, CancelRequest(ids: ids), as: CancelReply.self)
    }

    public func cancel(queue: String) async throws -> CancelReply {
        try await request(.cancel, CancelRequest(queue: queue), as: CancelReply.self)
    }

    public func agents() async throws -> [AgentInfo] {
        try await request(.agents, Empty(), as: AgentsReply.self).agents
    }

    /// Sets a queue's limit of running jobs across the cluster (0 = none).
    @discardableResult
    public func setQueueLimit(_ name: String, maxRunning: Int) async throws -> [QueueInfo] {
        try await request(.queue, QueueRequest(name: name, maxRunning: maxRunning), as: QueueReply.self).queues
    }

    public func queues() async throws -> [QueueInfo] {
        try await request(.queue, QueueRequest(), as: QueueReply.self).queues
    }

    /// Events from the journal with `seq >= from`.
    public func replay(from seq: UInt64, limit: Int = 1_000) async throws -> ReplayReply {
        try await request(.replay, ReplayRequest(fromSeq: seq, limit: limit), as: ReplayReply.self)
    }
}

func monotonicSeconds() -> Double {
    Double(monotonicMilliseconds()) / 1000
}

/// Jobs submitted one at a time, waiting for the client's loop to send them together. Any thread adds;
/// the loop takes them all at once.
final class SubmitQueue: @unchecked Sendable {
    struct Item {
        let spec: JobSpec
        let sending: (() -> Void)?
        let completion: (Result<JobID, any Error>) -> Void
    }

    private let mutex = Mutex()
    private var items: [Item] = []

    /// Queues a job; true when the queue was empty (the caller has the loop send it).
    func add(_ item: Item) -> Bool {
        mutex.withLock {
            items.append(item)
            return items.count == 1
        }
    }

    func takeAll() -> [Item] {
        mutex.withLock {
            defer { items.removeAll(keepingCapacity: true) }
            return items
        }
    }
}
