import Foundation
import GRDB
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
    }

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

    public func commit(_ batch: JournalBatch) throws {
        guard !batch.isEmpty else { return }
        try pool.write { db in
            if !batch.events.isEmpty {
                let statement = try db.cachedStatement(
                    sql: "INSERT INTO events (seq, type, job_id, body) VALUES (?, ?, ?, ?)")
                for (event, body) in batch.events {
                    try statement.execute(arguments: [
                        Int64(event.seq), event.type.rawValue, event.jobID, Data(body),
                    ])
                }
            }
            if !batch.jobs.isEmpty {
                let statement = try db.cachedStatement(
                    sql: "INSERT OR REPLACE INTO jobs (number, id, status, record) VALUES (?, ?, ?, ?)")
                for job in batch.jobs {
                    try statement.execute(arguments: [
                        Int64(job.number), job.id, job.status.rawValue, Data(job.jsonBytes),
                    ])
                }
            }
            if !batch.outputs.isEmpty {
                let statement = try db.cachedStatement(
                    sql: "INSERT OR REPLACE INTO outputs (job_id, attempt, body) VALUES (?, ?, ?)")
                for (jobID, attempt, output) in batch.outputs {
                    try statement.execute(arguments: [jobID, attempt, Data(output.jsonBytes)])
                }
            }
            for (name, maxRunning) in batch.queueLimits {
                try db.execute(
                    sql: "INSERT OR REPLACE INTO queues (name, max_running) VALUES (?, ?)",
                    arguments: [name, maxRunning])
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
        try? pool.close()
    }
}
