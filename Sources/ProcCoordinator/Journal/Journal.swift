import ProcCore

/// What the coordinator changed during one loop iteration: committed as one transaction (group commit).
public struct JournalBatch: Sendable {
    /// Events with their `seq` and `time` assigned, and their encoded bodies (the bytes published).
    public var events: [(event: Event, body: [UInt8])] = []
    public var jobs: [JobRecord] = []
    public var outputs: [(jobID: JobID, attempt: Int, output: JobOutput)] = []
    public var queueLimits: [(name: String, maxRunning: Int)] = []

    public init() {}

    public var isEmpty: Bool { events.isEmpty && jobs.isEmpty && outputs.isEmpty && queueLimits.isEmpty }
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
