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

    public func submit(_ spec: JobSpec) async throws -> JobID {
        try await submit([spec])[0]
    }

    public func status(_ ids: [JobID] = [], queue: String? = nil, limit: Int? = nil) async throws -> StatusReply {
        try await request(.status, StatusRequest(ids: ids.isEmpty ? nil : ids, queue: queue, limit: limit),
                          as: StatusReply.self)
    }

    public func result(_ id: JobID) async throws -> ResultReply {
        try await request(.result, ResultRequest(id: id), as: ResultReply.self)
    }

    /// Waits until every job is final (or `timeout` seconds pass; nil waits as long as it takes) and
    /// returns them. `onUpdate` sees the jobs each time the coordinator answers (about once a second).
    public func wait(
        _ ids: [JobID], timeout: Double? = nil, onUpdate: (@Sendable ([JobSummary]) -> Void)? = nil
    ) async throws -> [JobSummary] {
        let start = monotonicSeconds()
        var latest: [JobID: JobSummary] = [:]
        var remaining = Array(Set(ids))
        var asked = false
        while !remaining.isEmpty {
            var slice = 1_000
            if let timeout {
                let left = timeout - (monotonicSeconds() - start)
                // Ask at least once, so every job has a summary even with a zero timeout.
                if left <= 0 && asked { break }
                slice = min(slice, max(10, Int(left * 1000)))
            }
            let reply = try await request(
                .wait, WaitRequest(ids: remaining, timeoutMilliseconds: slice), as: WaitReply.self,
                timeout: requestTimeout + Double(slice) / 1000)
            asked = true
            for job in reply.jobs { latest[job.id] = job }
            remaining = reply.jobs.filter { !$0.status.isFinal }.map(\.id)
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
