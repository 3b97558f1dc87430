import ProcCore

/// What the coordinator changed during one loop iteration: committed as one transaction (group commit).
///
/// It holds rows, encoded, rather than the coordinator's records: a JobRecord or an Event is a few
/// hundred bytes of struct, and copying each into the batch and out again cost 4% of submission.
public struct JournalBatch: Sendable {
    public var events: [EventRow] = []
    /// Rows of jobs changed since they were admitted that have not ended (a retry, a cancel asked, a long
    /// run's start, progress).
    public var jobs: [JobRow] = []
    /// Jobs admitted in this iteration, in number order, as they are at its end: journaled together as
    /// chunks of records, no row each (`SQLiteJournal`, job_chunks). A job's row, once written, wins.
    public var submitted: [JobRow] = []
    /// Jobs that ended in this iteration (completed, error, cancelled), as they are at its end: journaled
    /// together as chunks of records too (`SQLiteJournal`, final_chunks). A final record is a job's last:
    /// it wins over the job's row and its admission.
    public var finals: [JobRow] = []
    public var outputs: [(jobID: JobID, attempt: Int, output: JobOutput)] = []
    public var queueLimits: [(name: String, maxRunning: Int)] = []
    /// The first seq whose `job.started` a job's row may lack (`RowlessStarts`): recovery applies the
    /// `job.started` events from here on to the rows older than them. 0 (read them all) unless set.
    public var recoveryHorizon: UInt64 = 0

    public init() {}

    public var isEmpty: Bool {
        events.isEmpty && jobs.isEmpty && submitted.isEmpty && finals.isEmpty && outputs.isEmpty && queueLimits.isEmpty
    }
}

/// An event with its `seq` and `time` assigned, and its encoded body (the bytes published).
public struct EventRow: Sendable {
    public var seq: UInt64
    public var type: EventType
    public var body: [UInt8]

    public init(_ event: Event) {
        seq = event.seq
        type = event.type
        body = WireCoding.bytes(event)
    }
}

/// A job's row: its record, encoded, as of the event `seq` (the commit's last).
public struct JobRow: Sendable {
    public var number: UInt64
    public var id: JobID
    public var status: JobStatus
    public var record: [UInt8]
    public var seq: UInt64
}

extension JobRow {
    /// (In an extension, so that the memberwise initializer the flush uses stays synthesized.)
    public init(_ job: JobRecord, seq: UInt64 = 0) {
        self.init(number: job.number, id: job.id, status: job.status, record: job.jsonBytes, seq: seq)
    }
}

/// What a journal gives back when the coordinator starts.
public struct JournalSnapshot: Sendable {
    public var jobs: [JobRecord]
    public var lastSeq: UInt64
    public var queueLimits: [String: Int]
}

/// The coordinator's durable record: jobs, attempts, outputs and every event. The journal is the
/// truth; events are its broadcast. Kept behind this small interface so another store (PostgreSQL, for
/// an active/standby pair) can take SQLite's place.
public protocol Journal: AnyObject {
    func recover() throws -> JournalSnapshot
    /// Makes the batch durable (one transaction). Nothing in it is published or acknowledged before.
    func commit(_ batch: JournalBatch) throws
    /// The JSON bodies of the events with `seq >= from`, in order, at most `limit` of them and about
    /// `maxBytes` (at least one), as they were published.
    func eventBodies(from seq: UInt64, limit: Int, maxBytes: Int) throws -> [[UInt8]]
    /// The captured output of a job's latest attempt that has one.
    func output(of jobID: JobID) throws -> JobOutput?
    func close()
}
