import Foundation
import GRDB
import GRDBSQLite
import ProcCore

/// The embedded journal: SQLite in WAL mode through GRDB, `synchronous=NORMAL` (a committed
/// transaction survives the process being killed; the last ones may be lost if the machine loses power).
public final class SQLiteJournal: Journal {
    private let pool: DatabasePool
    public let path: String

    /// Opens (or creates) `DIRECTORY/journal.sqlite`.
    public init(directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        path = (directory as NSString).appendingPathComponent("journal.sqlite")
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        configuration.label = "proc.journal"
        // The checkpoint thread's connection may hold a lock for a moment as a commit begins: wait for it
        // (a commit that fails stops the coordinator) rather than fail at once, GRDB's default.
        configuration.busyMode = .timeout(10)
        pool = try DatabasePool(path: path, configuration: configuration)
        try migrator.migrate(pool)
        // The writer only: 32 MiB of page cache instead of 2 MiB. A commit that dispatches and completes
        // thousands of jobs touches their rows all over the table, and with the default cache SQLite
        // spilled pages in the middle of it (8% of the 1,000-agent benchmark's samples).
        try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA cache_size = -32768") }
        let checkpointer = try Checkpointer(path: path)
        self.checkpointer = checkpointer
        pool.writeWithoutTransaction { db in
            if let writer = db.sqliteConnection { checkpointer.install(on: writer) }
        }
    }

    /// WAL checkpoints off the writer's thread.
    private var checkpointer: Checkpointer?

    private var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE events (
                    seq INTEGER PRIMARY KEY,
                    type TEXT NOT NULL,
                    job_id TEXT,
                    body BLOB NOT NULL
                );
                CREATE INDEX events_job ON events(job_id);
                CREATE TABLE jobs (
                    id TEXT PRIMARY KEY,
                    number INTEGER NOT NULL UNIQUE,
                    status TEXT NOT NULL,
                    record BLOB NOT NULL
                );
                CREATE TABLE outputs (
                    job_id TEXT NOT NULL,
                    attempt INTEGER NOT NULL,
                    body BLOB NOT NULL,
                    PRIMARY KEY (job_id, attempt)
                );
                CREATE TABLE queues (
                    name TEXT PRIMARY KEY,
                    max_running INTEGER NOT NULL
                );
                """)
        }
        // v2, for speed (docs/performance.md): every index is a b-tree written on each commit. Nothing reads
        // events by job, jobs are read only in submission order, and outputs only by their key, so each
        // table is now one b-tree: events by seq, jobs by number (the id is "j" + number), outputs by
        // (job, attempt).
        migrator.registerMigration("v2") { db in
            try db.execute(sql: """
                DROP INDEX events_job;
                CREATE TABLE jobs_v2 (
                    number INTEGER PRIMARY KEY,
                    id TEXT NOT NULL,
                    status TEXT NOT NULL,
                    record BLOB NOT NULL
                );
                INSERT INTO jobs_v2 (number, id, status, record) SELECT number, id, status, record FROM jobs;
                DROP TABLE jobs;
                ALTER TABLE jobs_v2 RENAME TO jobs;
                CREATE TABLE outputs_v2 (
                    job_id TEXT NOT NULL,
                    attempt INTEGER NOT NULL,
                    body BLOB NOT NULL,
                    PRIMARY KEY (job_id, attempt)
                ) WITHOUT ROWID;
                INSERT INTO outputs_v2 (job_id, attempt, body) SELECT job_id, attempt, body FROM outputs;
                DROP TABLE outputs;
                ALTER TABLE outputs_v2 RENAME TO outputs;
                """)
        }
        // v3, for speed (docs/performance.md, item 32):
        // - a row per event cost SQLite's per-row work (a b-tree insert, its cell, its share of the page)
        //   three times per job. Events are only ever read in seq order, so they are now stored as chunks:
        //   one row per run of consecutive events committed together, their bodies in JSON Lines (a
        //   compact JSON body never holds a raw newline);
        // - a job's start is journaled by its event alone (`RowlessStarts`): each job row says as of which
        //   seq it is, and each chunk from which seq a recovery must apply `job.started` events to older
        //   rows. Version 2 wrote a row at every change, so its rows need none.
        migrator.registerMigration("v3") { db in
            try db.execute(sql: """
                CREATE TABLE event_chunks (
                    first_seq INTEGER PRIMARY KEY,
                    last_seq INTEGER NOT NULL,
                    horizon INTEGER NOT NULL,
                    bodies BLOB NOT NULL
                );
                ALTER TABLE jobs ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
                """)
            var chunk = JSONLinesChunk()
            func write() throws {
                guard let (first, last) = chunk.range else { return }
                try db.execute(
                    sql: "INSERT INTO event_chunks (first_seq, last_seq, horizon, bodies) VALUES (?, ?, ?, ?)",
                    arguments: [Int64(bitPattern: first), Int64(bitPattern: last), Int64(bitPattern: last + 1),
                                Data(chunk.bytes)])
                chunk.removeAll()
            }
            let rows = try Row.fetchCursor(db, sql: "SELECT seq, body FROM events ORDER BY seq")
            while let row = try rows.next() {
                let seq: Int64 = row[0]
                let body: Data = row[1]
                // A gap in seq (none is ever made, but a chunk's seqs must be consecutive) starts a chunk.
                if let (_, last) = chunk.range, last + 1 != UInt64(bitPattern: seq) { try write() }
                // Outside a string, a newline in JSON is only whitespace: a space means the same.
                chunk.append(key: UInt64(bitPattern: seq), body: body.map { $0 == 0x0A ? 0x20 : $0 })
                if chunk.isFull { try write() }
            }
            try write()
            try db.execute(sql: "DROP TABLE events")
        }
        // v4, for speed (docs/performance.md, item 35): a job admitted by a commit is journaled with the
        // other jobs of that commit as one chunk of records (JSON Lines, consecutive numbers, as of the
        // commit's last seq), not as a row of its own; its row is written at its next change, and wins.
        // Most jobs now have one row, written when they end, instead of two.
        migrator.registerMigration("v4") { db in
            try db.execute(sql: """
                CREATE TABLE job_chunks (
                    first_number INTEGER PRIMARY KEY,
                    last_number INTEGER NOT NULL,
                    seq INTEGER NOT NULL,
                    records BLOB NOT NULL
                );
                """)
        }
        // v5, for speed (docs/performance.md, item 40): a job that ends is journaled with the others that
        // end in the same commit as one chunk of final records (JSON Lines, any numbers, as of the commit's
        // last seq), not as a row of its own. A final record is the job's last, so it wins over the job's
        // row and its admission. Under the 1,000 simulated agents the row at each job's end was 8% of the
        // coordinator's loop.
        migrator.registerMigration("v5") { db in
            try db.execute(sql: """
                CREATE TABLE final_chunks (
                    id INTEGER PRIMARY KEY,
                    seq INTEGER NOT NULL,
                    records BLOB NOT NULL
                );
                """)
        }
        return migrator
    }

    public func recover() throws -> JournalSnapshot {
        var (jobs, rowSeqs, lastSeq, horizon, limits) = try pool.read { db in
            let (jobs, rowSeqs) = try Self.jobs(in: db)
            let last = try Row.fetchOne(
                db, sql: "SELECT last_seq, horizon FROM event_chunks ORDER BY first_seq DESC LIMIT 1")
            let lastSeq = last.map { UInt64(bitPattern: $0[0]) } ?? 0
            var limits: [String: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT name, max_running FROM queues") {
                limits[row[0]] = row[1]
            }
            return (jobs, rowSeqs, lastSeq, last.map { UInt64(bitPattern: $0[1]) } ?? 1, limits)
        }
        if horizon <= lastSeq { try applyRowlessStarts(from: horizon, to: &jobs, rowSeqs: rowSeqs) }
        return JournalSnapshot(jobs: jobs, lastSeq: lastSeq, queueLimits: limits)
    }

    /// Every job in number order, each with the seq it is as of: the records of the job chunks (each job as
    /// its commit admitted it) and the rows (each job as of its last change since), merged, a row winning;
    /// then the final records, each the last word on its job.
    private static func jobs(in db: Database) throws -> (jobs: [JobRecord], seqs: [UInt64]) {
        var (jobs, seqs) = try admittedAndRows(in: db)
        var strays: [(job: JobRecord, seq: UInt64)] = []
        let chunks = try Row.fetchCursor(db, sql: "SELECT seq, records FROM final_chunks ORDER BY id")
        while let chunk = try chunks.next() {
            let seq = UInt64(bitPattern: chunk[0])
            try JSONLinesChunk.forEachLine(of: chunk, atIndex: 1) { record in
                let job = try WireCoding.decode(JobRecord.self, from: Array(record))
                if let index = index(of: job.number, in: jobs) {
                    jobs[index] = job
                    seqs[index] = seq
                } else {
                    // Admitted in no chunk and no row: not written so, but kept all the same.
                    strays.append((job, seq))
                }
                return true
            }
        }
        guard !strays.isEmpty else { return (jobs, seqs) }
        let merged = (zip(jobs, seqs).map { (job: $0, seq: $1) } + strays).sorted { $0.job.number < $1.job.number }
        return (merged.map(\.job), merged.map(\.seq))
    }

    /// Where job `number` is in `jobs` (in number order): at `number - 1` unless numbers were skipped.
    private static func index(of number: UInt64, in jobs: [JobRecord]) -> Int? {
        if number >= 1, number <= jobs.count, jobs[Int(number - 1)].number == number { return Int(number - 1) }
        var low = 0, high = jobs.count
        while low < high {
            let middle = (low + high) / 2
            if jobs[middle].number < number { low = middle + 1 } else { high = middle }
        }
        return low < jobs.count && jobs[low].number == number ? low : nil
    }

    /// The job chunks' records and the rows, merged in number order, a row winning.
    private static func admittedAndRows(in db: Database) throws -> (jobs: [JobRecord], seqs: [UInt64]) {
        // Room for them all at once: the largest number is the count, less any gaps (none are made).
        let count = Int(try Int64.fetchOne(db, sql: """
            SELECT MAX(IFNULL((SELECT MAX(number) FROM jobs), 0), IFNULL((SELECT MAX(last_number) FROM job_chunks), 0))
            """) ?? 0)
        var jobs: [JobRecord] = []
        var rowSeqs: [UInt64] = []
        jobs.reserveCapacity(count)
        rowSeqs.reserveCapacity(count)
        let rows = try Row.fetchCursor(db, sql: "SELECT number, record, seq FROM jobs ORDER BY number")
        // The cursor's row is valid until its next step.
        var row: Row? = nil
        var rowNumber: Int64? = nil
        func nextRow() throws {
            row = try rows.next()
            rowNumber = row.map { $0[0] }
        }
        func takeRow() throws {
            guard let row else { return }
            let record: [UInt8] = try row.withUnsafeData(atIndex: 1) { data in data.map { Array($0) } ?? [] }
            jobs.append(try WireCoding.decode(JobRecord.self, from: record))
            rowSeqs.append(UInt64(bitPattern: row[2]))
            try nextRow()
        }
        try nextRow()
        let chunks = try Row.fetchCursor(
            db, sql: "SELECT first_number, seq, records FROM job_chunks ORDER BY first_number")
        while let chunk = try chunks.next() {
            var number: Int64 = chunk[0]
            let seq = UInt64(bitPattern: chunk[1])
            try JSONLinesChunk.forEachLine(of: chunk, atIndex: 2) { record in
                defer { number += 1 }
                while let next = rowNumber, next < number { try takeRow() }
                if rowNumber == number {
                    try takeRow()
                } else {
                    jobs.append(try WireCoding.decode(JobRecord.self, from: Array(record)))
                    rowSeqs.append(seq)
                }
                return true
            }
        }
        while rowNumber != nil { try takeRow() }
        return (jobs, rowSeqs)
    }

    /// Brings pending jobs up to the `job.started` events journaled after their row or chunk (`RowlessStarts`).
    private func applyRowlessStarts(from horizon: UInt64, to jobs: inout [JobRecord], rowSeqs: [UInt64]) throws {
        var pending: [JobID: Int] = [:]
        for index in jobs.indices where jobs[index].status == .pending { pending[jobs[index].id] = index }
        guard !pending.isEmpty else { return }
        let marker = Array(EventType.jobStarted.rawValue.utf8)
        for body in try eventBodies(from: horizon, limit: .max, maxBytes: .max) where body.contains(marker) {
            guard let event = try? WireCoding.decode(Event.self, from: body), event.type == .jobStarted,
                  let jobID = event.jobID, let index = pending[jobID], event.seq > rowSeqs[index],
                  event.attempt == jobs[index].attempt, let agentID = event.agentID
            else { continue }
            jobs[index].status = .running
            jobs[index].agentID = agentID
            jobs[index].startedAt = parseRFC3339(event.time) ?? jobs[index].submittedAt
            jobs[index].progress = nil
            pending[jobID] = nil
        }
    }

    /// The commit path's statements, prepared once on the writer connection (`SQLiteStatements`).
    private var statements: SQLiteStatements?
    /// The commit's chunk of event bodies or job records, its buffer kept from one commit to the next.
    private var chunk = JSONLinesChunk()

    /// One transaction through SQLite's C interface: GRDB's statement arguments (an array of
    /// DatabaseValue per row, bound through generic code) cost as much as SQLite's own work for these
    /// small rows (docs/performance.md). GRDB still owns the connection, its queue and the migrations.
    public func commit(_ batch: JournalBatch) throws {
        guard !batch.isEmpty else { return }
        try pool.writeWithoutTransaction { db in
            guard let connection = db.sqliteConnection else { throw JournalError("the journal is closed") }
            if statements == nil { statements = try SQLiteStatements(connection) }
            guard let statements else { return }
            try statements.run(statements.begin)
            do {
                // Events are numbered in order as the batch is built, and admitted jobs too.
                try insertChunks(batch.events, key: \.seq, body: \.body, extra: batch.recoveryHorizon,
                                 statements.insertEventChunk, statements)
                if let seq = batch.submitted.first?.seq {
                    try insertChunks(batch.submitted, key: \.number, body: \.record, extra: seq,
                                     statements.insertJobChunk, statements)
                }
                if let seq = batch.finals.first?.seq {
                    // Keyed by their place in the batch: any numbers may end together.
                    try insertChunks(batch.finals.indices, key: { UInt64($0) }, body: { batch.finals[$0].record },
                                     extra: seq, statements.insertFinalChunk, statements)
                }
                for job in batch.jobs {
                    let statement = statements.upsertJob
                    sqlite3_bind_int64(statement, 1, Int64(bitPattern: job.number))
                    sqlite3_bind_int64(statement, 5, Int64(bitPattern: job.seq))
                    try withText(statement, 2, job.id) {
                        try withText(statement, 3, job.status.rawValue) {
                            try withBlob(statement, 4, job.record) { try statements.run(statement) }
                        }
                    }
                }
                for (jobID, attempt, output) in batch.outputs {
                    let statement = statements.upsertOutput
                    sqlite3_bind_int64(statement, 2, Int64(attempt))
                    try withText(statement, 1, jobID) {
                        try withBlob(statement, 3, output.jsonBytes) { try statements.run(statement) }
                    }
                }
                for (name, maxRunning) in batch.queueLimits {
                    let statement = statements.upsertQueue
                    sqlite3_bind_int64(statement, 2, Int64(maxRunning))
                    try withText(statement, 1, name) { try statements.run(statement) }
                }
                try statements.run(statements.commit)
            } catch {
                _ = try? statements.run(statements.rollback)
                throw error
            }
        }
    }

    /// Lines in chunks of consecutive keys, one row each: (first key, last key, `extra`, lines).
    private func insertChunks<Lines: Collection>(
        _ lines: Lines, key: (Lines.Element) -> UInt64, body: (Lines.Element) -> [UInt8], extra: UInt64,
        _ statement: OpaquePointer, _ statements: SQLiteStatements
    ) throws {
        var rest = lines[...]
        while !rest.isEmpty {
            chunk.removeAll()
            while let line = rest.first, !chunk.isFull, chunk.follows(key(line)) {
                chunk.append(key: key(line), body: body(line))
                rest.removeFirst()
            }
            guard let (first, last) = chunk.range else { return }
            sqlite3_bind_int64(statement, 1, Int64(bitPattern: first))
            sqlite3_bind_int64(statement, 2, Int64(bitPattern: last))
            sqlite3_bind_int64(statement, 3, Int64(bitPattern: extra))
            try withBlob(statement, 4, chunk.bytes) { try statements.run(statement) }
        }
    }

    public func eventBodies(from seq: UInt64, limit: Int, maxBytes: Int) throws -> [[UInt8]] {
        try pool.read { db in
            var bodies: [[UInt8]] = []
            var bytes = 0
            let from = Int64(clamping: seq)
            // The chunk that holds `seq` starts at or before it.
            let first = try Int64.fetchOne(
                db, sql: "SELECT first_seq FROM event_chunks WHERE first_seq <= ? ORDER BY first_seq DESC LIMIT 1",
                arguments: [from]) ?? from
            let cursor = try Row.fetchCursor(
                db, sql: "SELECT first_seq, bodies FROM event_chunks WHERE first_seq >= ? ORDER BY first_seq",
                arguments: [first])
            var full = false
            while !full, let row = try cursor.next() {
                var next: Int64 = row[0]
                try JSONLinesChunk.forEachLine(of: row, atIndex: 1) { body in
                    defer { next += 1 }
                    guard next >= from else { return true }
                    guard bodies.count < limit, bodies.isEmpty || bytes < maxBytes else {
                        full = true
                        return false
                    }
                    bodies.append(Array(body))
                    bytes += body.count
                    return true
                }
            }
            return bodies
        }
    }

    public func output(of jobID: JobID) throws -> JobOutput? {
        try pool.read { db in
            guard let data = try Data.fetchOne(
                db, sql: "SELECT body FROM outputs WHERE job_id = ? ORDER BY attempt DESC LIMIT 1",
                arguments: [jobID])
            else { return nil }
            return try WireCoding.decode(JobOutput.self, from: Array(data))
        }
    }

    public func close() {
        // Our statements first: SQLite will not close a connection with statements still prepared.
        pool.writeWithoutTransaction { db in
            statements = nil
            if let writer = db.sqliteConnection { checkpointer?.uninstall(from: writer) }
        }
        checkpointer?.stop()
        checkpointer = nil
        try? pool.close()
    }
}

struct JournalError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Prepared statements of the commit path, finalized when dropped.
private final class SQLiteStatements {
    let connection: OpaquePointer
    let begin: OpaquePointer
    let commit: OpaquePointer
    let rollback: OpaquePointer
    let insertEventChunk: OpaquePointer
    let insertJobChunk: OpaquePointer
    let insertFinalChunk: OpaquePointer
    let upsertJob: OpaquePointer
    let upsertOutput: OpaquePointer
    let upsertQueue: OpaquePointer

    init(_ connection: OpaquePointer) throws {
        self.connection = connection
        func prepare(_ sql: String) throws -> OpaquePointer {
            var statement: OpaquePointer?
            let code = sqlite3_prepare_v3(connection, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
            guard code == SQLITE_OK, let statement else {
                throw JournalError("cannot prepare \(sql): \(String(cString: sqlite3_errmsg(connection)))")
            }
            return statement
        }
        begin = try prepare("BEGIN IMMEDIATE")
        commit = try prepare("COMMIT")
        rollback = try prepare("ROLLBACK")
        insertEventChunk = try prepare(
            "INSERT INTO event_chunks (first_seq, last_seq, horizon, bodies) VALUES (?, ?, ?, ?)")
        insertJobChunk = try prepare(
            "INSERT INTO job_chunks (first_number, last_number, seq, records) VALUES (?, ?, ?, ?)")
        // The chunk's first and last keys (?1, ?2) are only places in the batch: not stored.
        insertFinalChunk = try prepare("INSERT INTO final_chunks (seq, records) VALUES (?3, ?4)")
        upsertJob = try prepare("""
            INSERT INTO jobs (number, id, status, record, seq) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT (number) DO UPDATE SET status = excluded.status, record = excluded.record, seq = excluded.seq
            """)
        upsertOutput = try prepare("INSERT OR REPLACE INTO outputs (job_id, attempt, body) VALUES (?, ?, ?)")
        upsertQueue = try prepare("INSERT OR REPLACE INTO queues (name, max_running) VALUES (?, ?)")
    }

    deinit {
        for statement in [begin, commit, rollback, insertEventChunk, insertJobChunk, insertFinalChunk, upsertJob,
                          upsertOutput, upsertQueue] {
            sqlite3_finalize(statement)
        }
    }

    /// Steps a statement to its end, then resets it (bindings are replaced by the next use).
    func run(_ statement: OpaquePointer) throws {
        let code = sqlite3_step(statement)
        sqlite3_reset(statement)
        guard code == SQLITE_DONE else {
            throw JournalError("journal write failed: \(String(cString: sqlite3_errmsg(connection))) (\(code))")
        }
    }
}

/// Consecutive events' bodies as one row of `event_chunks`, or consecutive jobs' records as one row of
/// `job_chunks`: JSON Lines keyed by the first line's seq (or number), at most `maxLines` lines and about
/// `maxBytes`, so that a replay from any seq reads little more than it returns.
struct JSONLinesChunk {
    static let maxLines = 512
    static let maxBytes = 256 << 10
    private(set) var bytes: [UInt8] = []
    private(set) var range: (first: UInt64, last: UInt64)?

    var isFull: Bool {
        guard let range else { return false }
        return range.last - range.first + 1 >= Self.maxLines || bytes.count >= Self.maxBytes
    }

    /// Whether `key` may follow: the keys of a chunk are consecutive.
    func follows(_ key: UInt64) -> Bool { range.map { $0.last + 1 == key } != false }

    /// `key` follows the last one appended; `body` holds no newline.
    mutating func append(key: UInt64, body: some Collection<UInt8>) {
        assert(!body.contains(0x0A) && follows(key))
        if range != nil { bytes.append(0x0A) }
        bytes.append(contentsOf: body)
        range = (range?.first ?? key, key)
    }

    mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
        range = nil
    }

    /// Calls `body` with each line of the chunk stored in `row`'s column `index`, in order, until it
    /// returns false. With memchr: `Data`'s own split walks the bytes one at a time (a restart with a
    /// million jobs took 10.9 s instead of 7.1, item 35).
    static func forEachLine(
        of row: Row, atIndex index: Int, _ body: (UnsafeRawBufferPointer) throws -> Bool
    ) throws {
        try row.withUnsafeData(atIndex: index) { data in
            try (data ?? Data()).withUnsafeBytes { (lines: UnsafeRawBufferPointer) in
                guard let base = lines.baseAddress, lines.count > 0 else { return }
                var start = 0
                while start <= lines.count {
                    let end = memchr(base + start, 0x0A, lines.count - start).map { base.distance(to: $0) }
                        ?? lines.count
                    guard try body(UnsafeRawBufferPointer(rebasing: lines[start..<end])) else { return }
                    start = end + 1
                }
            }
        }
    }
}

/// Binds `text` to a parameter for as long as `body` runs, without a copy (SQLITE_STATIC: SQLite reads
/// it when the statement is stepped, so `body` steps it). A copy was a malloc per column (item 36).
/// The parameter is NULL again afterwards, so nothing can read the bytes once they are gone.
private func withText<R>(
    _ statement: OpaquePointer, _ index: Int32, _ text: String, _ body: () throws -> R
) rethrows -> R {
    var text = text
    return try text.withUTF8 { utf8 in
        // A null pointer would store NULL; an empty text needs one that is not.
        let base = UnsafeRawPointer(utf8.baseAddress) ?? UnsafeRawPointer(bitPattern: 1)!
        _ = sqlite3_bind_text(statement, index, base.assumingMemoryBound(to: CChar.self), Int32(utf8.count), nil)
        defer { sqlite3_bind_null(statement, index) }
        return try body()
    }
}

/// `withText` for a blob.
private func withBlob<R>(
    _ statement: OpaquePointer, _ index: Int32, _ bytes: [UInt8], _ body: () throws -> R
) rethrows -> R {
    try bytes.withUnsafeBytes { raw in
        // A zero-length blob still needs a non-null pointer, or SQLite stores NULL.
        _ = sqlite3_bind_blob(statement, index, raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(raw.count), nil)
        defer { sqlite3_bind_null(statement, index) }
        return try body()
    }
}

/// A journal failure in words: SQLite's code and message, and what usually causes it.
func describeJournalError(_ error: any Error) -> String {
    guard let error = error as? DatabaseError else { return "\(error)" }
    let base = "SQLite error \(error.resultCode.rawValue) (\(error.message ?? "no message"))"
    switch error.resultCode.primaryResultCode {
    case .SQLITE_CANTOPEN, .SQLITE_PERM, .SQLITE_AUTH:
        return base + ": the data directory must be a writable directory on a local file system"
    case .SQLITE_READONLY:
        return base + ": the journal is read-only; check the permissions of the data directory and its files"
    case .SQLITE_FULL:
        return base + ": the disk is full"
    case .SQLITE_IOERR:
        return base + ": the disk or file system failed"
    case .SQLITE_NOTADB, .SQLITE_CORRUPT:
        return base + ": journal.sqlite is not a proc journal, or it is damaged"
    case .SQLITE_BUSY, .SQLITE_LOCKED:
        return base + ": another process holds the journal"
    default:
        return base
    }
}
