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
        return migrator
    }

    public func recover() throws -> JournalSnapshot {
        try pool.read { db in
            var jobs: [JobRecord] = []
            let rows = try Row.fetchCursor(db, sql: "SELECT record FROM jobs ORDER BY number")
            while let row = try rows.next() {
                let data: Data = row[0]
                jobs.append(try JSONDecoder().decode(JobRecord.self, from: data))
            }
            let lastSeq = try UInt64.fetchOne(db, sql: "SELECT MAX(seq) FROM events") ?? 0
            var limits: [String: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT name, max_running FROM queues") {
                limits[row[0]] = row[1]
            }
            return JournalSnapshot(jobs: jobs, lastSeq: lastSeq, queueLimits: limits)
        }
    }

    /// The commit path's statements, prepared once on the writer connection (`SQLiteStatements`).
    private var statements: SQLiteStatements?

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
                for event in batch.events {
                    let statement = statements.insertEvent
                    sqlite3_bind_int64(statement, 1, Int64(bitPattern: event.seq))
                    bindText(statement, 2, event.type.rawValue)
                    if let jobID = event.jobID { bindText(statement, 3, jobID) } else { sqlite3_bind_null(statement, 3) }
                    bindBlob(statement, 4, event.body)
                    try statements.run(statement)
                }
                for job in batch.jobs {
                    let statement = statements.upsertJob
                    sqlite3_bind_int64(statement, 1, Int64(bitPattern: job.number))
                    bindText(statement, 2, job.id)
                    bindText(statement, 3, job.status.rawValue)
                    bindBlob(statement, 4, job.record)
                    try statements.run(statement)
                }
                for (jobID, attempt, output) in batch.outputs {
                    let statement = statements.upsertOutput
                    bindText(statement, 1, jobID)
                    sqlite3_bind_int64(statement, 2, Int64(attempt))
                    bindBlob(statement, 3, output.jsonBytes)
                    try statements.run(statement)
                }
                for (name, maxRunning) in batch.queueLimits {
                    let statement = statements.upsertQueue
                    bindText(statement, 1, name)
                    sqlite3_bind_int64(statement, 2, Int64(maxRunning))
                    try statements.run(statement)
                }
                try statements.run(statements.commit)
            } catch {
                _ = try? statements.run(statements.rollback)
                throw error
            }
        }
    }

    public func eventBodies(from seq: UInt64, limit: Int, maxBytes: Int) throws -> [[UInt8]] {
        try pool.read { db in
            var bodies: [[UInt8]] = []
            var bytes = 0
            let cursor = try Row.fetchCursor(
                db, sql: "SELECT body FROM events WHERE seq >= ? ORDER BY seq LIMIT ?",
                arguments: [Int64(clamping: seq), limit])
            while bytes < maxBytes, let row = try cursor.next() {
                let data: Data = row[0]
                bodies.append(Array(data))
                bytes += data.count
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
            return try JSONDecoder().decode(JobOutput.self, from: data)
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
    let insertEvent: OpaquePointer
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
        insertEvent = try prepare("INSERT INTO events (seq, type, job_id, body) VALUES (?, ?, ?, ?)")
        upsertJob = try prepare("""
            INSERT INTO jobs (number, id, status, record) VALUES (?, ?, ?, ?)
            ON CONFLICT (number) DO UPDATE SET status = excluded.status, record = excluded.record
            """)
        upsertOutput = try prepare("INSERT OR REPLACE INTO outputs (job_id, attempt, body) VALUES (?, ?, ?)")
        upsertQueue = try prepare("INSERT OR REPLACE INTO queues (name, max_running) VALUES (?, ?)")
    }

    deinit {
        for statement in [begin, commit, rollback, insertEvent, upsertJob, upsertOutput, upsertQueue] {
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

/// SQLITE_TRANSIENT: SQLite copies the bytes before the call returns.
private let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

private func bindText(_ statement: OpaquePointer, _ index: Int32, _ text: String) {
    var text = text
    text.withUTF8 { utf8 in
        guard let base = utf8.baseAddress, utf8.count > 0 else {
            _ = sqlite3_bind_text(statement, index, "", 0, transient)  // a null pointer would store NULL
            return
        }
        _ = base.withMemoryRebound(to: CChar.self, capacity: utf8.count) {
            sqlite3_bind_text(statement, index, $0, Int32(utf8.count), transient)
        }
    }
}

private func bindBlob(_ statement: OpaquePointer, _ index: Int32, _ bytes: [UInt8]) {
    bytes.withUnsafeBytes { raw in
        // A zero-length blob still needs a non-null pointer, or SQLite stores NULL.
        _ = sqlite3_bind_blob(statement, index, raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(raw.count), transient)
    }
}
