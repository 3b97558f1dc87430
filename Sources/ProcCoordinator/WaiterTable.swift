import ProcCore
import ZeroMQ

/// Clients blocked in WAIT: answered when all their jobs are final, or at their deadline.
struct WaiterTable {
    private struct Waiter {
        var route: Frame
        var requestID: Frame
        var ids: [JobID]
        /// The distinct ids that were not final when it came: its entries in `byJob`.
        var registered: Set<JobID>
        var remaining: Int
        /// Answer with the final jobs only (`WaitRequest.finalOnly`).
        var finalOnly: Bool
        var deadline: Int64
    }
    private var waiters: [Int: Waiter] = [:]
    private var byJob: [JobID: [Int]] = [:]
    private var nextID = 0
    private var ready: [Int] = []

    var count: Int { waiters.count }

    /// Registers a waiter for `ids`, of which `remaining` are not final yet.
    mutating func add(route: Frame, requestID: Frame, ids: [JobID], notFinal: [JobID], finalOnly: Bool = false,
                      deadline: Int64) -> Int {
        nextID += 1
        let distinct = Set(notFinal)
        waiters[nextID] = Waiter(route: route, requestID: requestID, ids: ids, registered: distinct,
                                 remaining: distinct.count, finalOnly: finalOnly, deadline: deadline)
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

    /// Replies to every waiter that is done or expired. Jobs are read in place (`withJob`).
    mutating func collectReplies(state: inout ClusterState, into outbound: inout [[Frame]]) {
        guard !ready.isEmpty else { return }
        for id in ready {
            guard let waiter = waiters.removeValue(forKey: id) else { continue }
            // Only the jobs still waited for are left in `byJob` (`finished` took the others).
            if waiter.remaining > 0 {
                for jobID in waiter.registered {
                    guard let index = byJob.index(forKey: jobID) else { continue }
                    byJob.values[index].removeAll { $0 == id }
                    if byJob.values[index].isEmpty { byJob.remove(at: index) }
                }
            }
            var jobs: [JobSummary] = []
            jobs.reserveCapacity(waiter.finalOnly ? waiter.ids.count - waiter.remaining : waiter.ids.count)
            var done = true
            for jobID in waiter.ids {
                state.withJob(jobID) { job in
                    let final = job.status.isFinal
                    if !final { done = false }
                    if final || !waiter.finalOnly { jobs.append(JobSummary(job)) }
                }
            }
            let reply = WaitReply(jobs: jobs, done: done)
            outbound.append([
                waiter.route, Wire.clientProtocolBytes, Array(Wire.ClientCommand.wait.rawValue.utf8),
                waiter.requestID, WireCoding.bytes(reply),
            ])
        }
        ready.removeAll()
    }
}
