import Foundation
import GRDB
import ProcCore

/// Data directories written by earlier versions are upgraded when opened; each step is a migration that
/// runs once, in order. Versions 2 to 5 were for speed (one b-tree per table, events in chunks, jobs
/// admitted and ended in chunks); version 6 keeps one truth: each job's spec once, and the events.
extension SQLiteJournal {
    static var migrator: DatabaseMigrator {
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
        // v2, for speed: every index is a b-tree written on each commit. Nothing reads
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
        // v3, for speed:
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
        // v4, for speed: a job admitted by a commit is journaled with the
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
        // v5, for speed: a job that ends is journaled with the others that
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
        // v6: one truth. Each job's spec once (`specs`: its admission), the events once (`events`, without
        // the commands, which are the specs'), and a job's record the fold of its events. The jobs of an
        // older journal become admissions plus a snapshot of their states at its last seq (their events
        // before it hold their commands already: `commands_through`). Outputs are keyed by job number, so
        // that a job's whole history is deleted by ranges.
        migrator.registerMigration("v6") { db in
            let (jobs, lastSeq) = try Version5.recover(in: db)
            try db.execute(sql: """
                CREATE TABLE specs (
                    first_number INTEGER PRIMARY KEY,
                    last_number INTEGER NOT NULL,
                    records BLOB NOT NULL
                );
                CREATE TABLE events (
                    first_seq INTEGER PRIMARY KEY,
                    last_seq INTEGER NOT NULL,
                    bodies BLOB NOT NULL
                );
                INSERT INTO events (first_seq, last_seq, bodies) SELECT first_seq, last_seq, bodies FROM event_chunks;
                CREATE TABLE snapshots (
                    seq INTEGER NOT NULL,
                    first_number INTEGER NOT NULL,
                    last_number INTEGER NOT NULL,
                    records BLOB NOT NULL,
                    PRIMARY KEY (seq, first_number)
                ) WITHOUT ROWID;
                CREATE TABLE outputs_v6 (
                    number INTEGER NOT NULL,
                    attempt INTEGER NOT NULL,
                    body BLOB NOT NULL,
                    PRIMARY KEY (number, attempt)
                ) WITHOUT ROWID;
                INSERT OR REPLACE INTO outputs_v6 (number, attempt, body)
                    SELECT CAST(substr(job_id, 2) AS INTEGER), attempt, body FROM outputs WHERE job_id GLOB 'j[1-9]*';
                DROP TABLE outputs;
                ALTER TABLE outputs_v6 RENAME TO outputs;
                CREATE TABLE journal_info (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
                DROP TABLE event_chunks;
                DROP TABLE jobs;
                DROP TABLE job_chunks;
                DROP TABLE final_chunks;
                """)
            try db.execute(sql: "INSERT INTO journal_info (key, value) VALUES ('commands_through', ?)",
                           arguments: [Int64(bitPattern: lastSeq)])
            try SQLiteJournal.writeChunks(jobs.map { AdmittedRow($0.admission) }, into: "specs", extra: nil, db: db)
            if !jobs.isEmpty {
                try SQLiteJournal.writeChunks(jobs.map { AdmittedRow(number: $0.number, body: $0.state.jsonBytes) },
                                              into: "snapshots", extra: lastSeq, db: db)
            }
        }
        return migrator
    }
}

/// How version 5 kept jobs, read once to upgrade to version 6: the records of the job chunks (each job as
/// its commit admitted it), the rows (each job as of its last change since) and the final chunks (the last
/// word on each job that ended), merged; then the `job.started` events after the horizon applied to the
/// pending jobs older than them (a start was journaled by its event alone).
enum Version5 {
    /// Every job as a version 5 journal has it, and the last seq.
    static func recover(in db: Database) throws -> (jobs: [JobRecord], lastSeq: UInt64) {
        var (jobs, rowSeqs) = try Self.jobs(in: db)
        let last = try Row.fetchOne(db, sql: "SELECT last_seq, horizon FROM event_chunks ORDER BY first_seq DESC LIMIT 1")
        let lastSeq = last.map { UInt64(bitPattern: $0[0]) } ?? 0
        let horizon = last.map { UInt64(bitPattern: $0[1]) } ?? 1
        if horizon <= lastSeq { try applyRowlessStarts(from: horizon, to: &jobs, rowSeqs: rowSeqs, in: db) }
        return (jobs, lastSeq)
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
                if let index = SQLiteJournal.index(of: job.number, in: jobs) {
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
    private static func applyRowlessStarts(from horizon: UInt64, to jobs: inout [JobRecord], rowSeqs: [UInt64],
                                           in db: Database) throws {
        var pending: [JobID: Int] = [:]
        for index in jobs.indices where jobs[index].status == .pending { pending[jobs[index].id] = index }
        guard !pending.isEmpty else { return }
        let marker = Array(EventType.jobStarted.rawValue.utf8)
        var bodies: [[UInt8]] = []
        let chunks = try Row.fetchCursor(
            db, sql: "SELECT first_seq, bodies FROM event_chunks WHERE last_seq >= ? ORDER BY first_seq",
            arguments: [Int64(bitPattern: horizon)])
        while let chunk = try chunks.next() {
            var seq = UInt64(bitPattern: chunk[0])
            try JSONLinesChunk.forEachLine(of: chunk, atIndex: 1) { body in
                defer { seq += 1 }
                if seq >= horizon { bodies.append(Array(body)) }
                return true
            }
        }
        for body in bodies where body.contains(marker) {
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
}
