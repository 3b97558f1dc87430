import ProcCore
import ZeroMQ

/// Clients blocked in WAIT: answered when all their jobs are final, or at their deadline.
struct WaiterTable {
    private struct Waiter {
        var route: Frame
        var requestID: Frame
        var ids: [JobID]
        var remaining: Int
        var deadline: Int64
    }
    private var waiters: [Int: Waiter] = [:]
    private var byJob: [JobID: [Int]] = [:]
    private var nextID = 0
    private var ready: [Int] = []

    var count: Int { waiters.count }

    /// Registers a waiter for `ids`, of which `remaining` are not final yet.
    mutating func add(route: Frame, requestID: Frame, ids: [JobID], notFinal: [JobID], deadline: Int64) -> Int {
        nextID += 1
        let distinct = Set(notFinal)
        waiters[nextID] = Waiter(route: route, requestID: requestID, ids: ids, remaining: distinct.count,
                                 deadline: deadline)
        for id in distinct { byJob[id, default: []].append(nextID) }
        return nextID
    }

    mutating func finished(_ jobID: JobID) {
        // Most final events have nobody waiting: do not hash the id for an empty table.
        guard !byJob.isEmpty, let ids = byJob.removeValue(forKey: jobID) else { return }
        for id in ids where waiters[id] != nil {
            waiters[id]!.remaining -= 1
            if waiters[id]!.remaining == 0 { ready.append(id) }
        }
    }

    mutating func expire(_ id: Int) {
        if waiters[id] != nil { ready.append(id) }
    }

    /// Replies to every waiter that is done or expired.
    mutating func collectReplies(state: ClusterState, into outbound: inout [[Frame]]) {
        guard !ready.isEmpty else { return }
        for id in ready {
            guard let waiter = waiters.removeValue(forKey: id) else { continue }
            for jobID in Set(waiter.ids) {
                byJob[jobID]?.removeAll { $0 == id }
                if byJob[jobID]?.isEmpty == true { byJob[jobID] = nil }
            }
            let jobs = waiter.ids.compactMap { state.jobs[$0].map(JobSummary.init) }
            let reply = WaitReply(jobs: jobs, done: jobs.allSatisfy { $0.status.isFinal })
            outbound.append([
                waiter.route, Wire.clientProtocolBytes, Array(Wire.ClientCommand.wait.rawValue.utf8),
                waiter.requestID, WireCoding.bytes(reply),
            ])
        }
        ready.removeAll()
    }
}
