import ProcCore

/// Jobs whose start is journaled by its `job.started` event alone, without a job row (docs/performance.md,
/// item 32): a row at each start was a third of the job rows the 1,000 simulated agents cost. The row is
/// written at the job's next change, and a recovery applies the `job.started` events from `horizon` on to
/// the rows that predate them (`SQLiteJournal.recover`). So that a recovery reads few events, a job still
/// running `maxSpan` events after its start has its row written then (`due`).
struct RowlessStarts {
    static let maxSpan: UInt64 = 10_000

    /// Each rowless start's seq, by job.
    private var seqs: [JobID: UInt64] = [:]
    /// The same starts in seq order, from `head` on; an entry whose seq is no longer its job's is stale.
    private var order: [(jobID: JobID, seq: UInt64)] = []
    private var head = 0

    var count: Int { seqs.count }

    /// A job started, journaled by the event with this seq (seqs only grow).
    mutating func started(_ jobID: JobID, seq: UInt64) {
        seqs[jobID] = seq
        order.append((jobID, seq))
    }

    /// The job's row is written in this commit: its start is in it.
    mutating func written(_ jobID: JobID) {
        seqs.removeValue(forKey: jobID)
    }

    /// The jobs that started more than `maxSpan` events before `lastSeq` and have no row since: their
    /// rows are due in this commit.
    mutating func due(lastSeq: UInt64) -> [JobID] {
        var due: [JobID] = []
        while head < order.count {
            let (jobID, seq) = order[head]
            if seqs[jobID] == seq {
                guard seq + Self.maxSpan < lastSeq else { break }
                due.append(jobID)
            }
            head += 1
        }
        return due
    }

    /// The first seq a recovery must read `job.started` events from: the oldest rowless start, or
    /// `lastSeq + 1` when there is none.
    mutating func horizon(lastSeq: UInt64) -> UInt64 {
        while head < order.count, seqs[order[head].jobID] != order[head].seq { head += 1 }
        defer {
            // Drop what was passed over once it is most of the array.
            if head > 4_096 && head * 2 > order.count {
                order.removeFirst(head)
                head = 0
            }
        }
        return head < order.count ? order[head].seq : lastSeq + 1
    }
}
