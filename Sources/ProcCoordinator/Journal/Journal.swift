import ProcCore

/// The coordinator's durable record, with one truth: each job's spec, once (`AdmittedJob`), and every
/// event, once, in seq order. A job's record is the fold of its events over its admission
/// (`JobRecord.apply`), so nothing else about jobs is stored; a snapshot of job states may stand in for
/// the events before its seq (an upgraded data directory, and later pruned history). Outputs and queue
/// limits are kept beside them.
///
/// Kept behind this small interface so that another store (PostgreSQL, shared by an active and a standby
/// coordinator) is one more implementation: append what changed, snapshot, read back, delete by ranges.
public protocol Journal: AnyObject {
    /// Where it is, for messages.
    var path: String { get }
    /// Everything a coordinator needs to resume, read in one pass: every job (its admission, its snapshot
    /// if any, then its events), the last seq, the queue limits.
    func recover() throws -> JournalSnapshot
    /// Makes what one loop iteration changed durable, in one transaction. Nothing in it is published or
    /// acknowledged before.
    func append(_ batch: JournalBatch) throws
    /// Records every job's state as of `seq`: recovery then starts from it instead of the events up to it.
    func snapshot(_ jobs: [JobRecord], asOf seq: UInt64) throws
    /// The events with `seq >= from`, in order, as stored, at most `limit` of them and about `maxBytes`
    /// (at least one).
    func events(from seq: UInt64, limit: Int, maxBytes: Int) throws -> [StoredEvent]
    /// The captured output of a job's latest attempt that has one.
    func output(of number: UInt64) throws -> JobOutput?
    /// Deletes jobs (admission, snapshot state, outputs) and events by ranges of numbers and seqs: the whole
    /// history of jobs that are done with (retention).
    func delete(jobs: [ClosedRange<UInt64>], events: [ClosedRange<UInt64>]) throws
    func close()
}

/// What the coordinator changed during one loop iteration: committed as one transaction (group commit).
/// It holds encoded bodies rather than records: copying records into the batch and out again cost
/// more than encoding them where they lie.
public struct JournalBatch: Sendable {
    public var events: [StoredEvent] = []
    /// Jobs admitted in this iteration, in number order (`AdmittedJob`, encoded).
    public var admitted: [AdmittedRow] = []
    public var outputs: [(number: UInt64, attempt: Int, output: JobOutput)] = []
    public var queueLimits: [(name: String, maxRunning: Int)] = []

    public init() {}

    public var isEmpty: Bool { events.isEmpty && admitted.isEmpty && outputs.isEmpty && queueLimits.isEmpty }
}

/// An event as journaled: its seq and type, and its body without the job's command (the command is the
/// job's spec, stored once with its admission, and put back in the bodies published and replayed).
public struct StoredEvent: Sendable, Equatable {
    public var seq: UInt64
    public var body: [UInt8]

    public init(seq: UInt64, body: [UInt8]) {
        self.seq = seq
        self.body = body
    }
}

/// A job's admission, encoded.
public struct AdmittedRow: Sendable {
    public var number: UInt64
    public var body: [UInt8]

    public init(number: UInt64, body: [UInt8]) {
        self.number = number
        self.body = body
    }

    public init(_ admitted: AdmittedJob) { self.init(number: admitted.number, body: admitted.jsonBytes) }
}

/// What a journal gives back when the coordinator starts.
public struct JournalSnapshot: Sendable {
    /// Every job, in number order, as of `lastSeq`.
    public var jobs: [JobRecord]
    public var lastSeq: UInt64
    public var queueLimits: [String: Int]
    /// Events up to this seq were stored with their commands (written before version 6): nothing is put
    /// back in them.
    public var commandsStoredThrough: UInt64
}
