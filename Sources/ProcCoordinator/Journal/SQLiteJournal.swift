import Foundation
import GRDB
import GRDBSQLite
import ProcCore

/// The embedded journal: SQLite in WAL mode through GRDB, `synchronous=NORMAL` (a committed transaction
/// survives the process being killed; the last ones may be lost if the machine loses power).
///
/// Tables (schema v6):
/// - `specs`: each job's admission (`AdmittedJob`, JSON Lines), in chunks of consecutive numbers;
/// - `events`: every event, in chunks of consecutive seqs (JSON Lines, the bodies without the commands
///   of job.submitted and job.started, which are the specs');
/// - `snapshots`: job states (`JobState`) as of a seq, standing in for the events before it;
/// - `outputs`: each attempt's captured output, by job number; `queues`: queue limits;
///   `journal_info`: `commands_through`, the last seq stored with its commands (upgraded journals).
///
/// A row costs SQLite about the same whatever its size, so what one commit adds goes in a few rows: one
/// per chunk of events and of admissions, one per output. Read it with the sqlite3 tool:
/// `SELECT CAST(bodies AS TEXT) FROM events`.
public final class SQLiteJournal: Journal {
    private let pool: DatabasePool
    public let path: String
    /// WAL checkpoints off the writer's thread.
    private var checkpointer: Checkpointer?

    /// Opens (or creates, or upgrades) `DIRECTORY/journal.sqlite`.
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
        try Self.migrator.migrate(pool)
        // The writer only: 32 MiB of page cache instead of 2 MiB, so that a commit's pages stay in memory.
        try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA cache_size = -32768") }
        let checkpointer = try Checkpointer(path: path)
        self.checkpointer = checkpointer
        pool.writeWithoutTransaction { db in
            if let writer = db.sqliteConnection { checkpointer.install(on: writer) }
        }
    }

    // MARK: reading back

    public func recover() throws -> JournalSnapshot {
        try pool.read { db in
            var jobs = try Self.admissions(in: db)
            let snapshotSeq = try Self.applySnapshot(to: &jobs, in: db)
            let lastSeq = try Self.applyEvents(after: snapshotSeq, to: &jobs, in: db)
            var limits: [String: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT name, max_running FROM queues") { limits[row[0]] = row[1] }
            let through = try Int64.fetchOne(db, sql: "SELECT value FROM journal_info WHERE key = 'commands_through'")
            return JournalSnapshot(jobs: jobs, lastSeq: max(lastSeq, snapshotSeq), queueLimits: limits,
                                   commandsStoredThrough: through.map { UInt64(bitPattern: $0) } ?? 0)
        }
    }

    /// Every job as admitted, in number order.
    private static func admissions(in db: Database) throws -> [JobRecord] {
        let count = try Int64.fetchOne(db, sql: "SELECT IFNULL(MAX(last_number), 0) FROM specs") ?? 0
        var jobs: [JobRecord] = []
        jobs.reserveCapacity(Int(count))
        let chunks = try Row.fetchCursor(db, sql: "SELECT records FROM specs ORDER BY first_number")
        while let chunk = try chunks.next() {
            try JSONLinesChunk.forEachLine(of: chunk, atIndex: 0) { line in
                jobs.append(JobRecord(admitted: try WireCoding.decode(AdmittedJob.self, from: line)))
                return true
            }
        }
        return jobs
    }

    /// The latest snapshot's states over the admissions; its seq (0: none).
    private static func applySnapshot(to jobs: inout [JobRecord], in db: Database) throws -> UInt64 {
        guard let seq = try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM snapshots") else { return 0 }
        let chunks = try Row.fetchCursor(db, sql: "SELECT records FROM snapshots WHERE seq = ? ORDER BY first_number",
                                         arguments: [seq])
        while let chunk = try chunks.next() {
            try JSONLinesChunk.forEachLine(of: chunk, atIndex: 0) { line in
                let state = try WireCoding.decode(JobState.self, from: line)
                if let index = index(of: state.number, in: jobs) { jobs[index].restore(state) }
                return true
            }
        }
        return UInt64(bitPattern: seq)
    }

    /// The events after `seq` folded into the jobs (`JobRecord.apply`); the last seq.
    private static func applyEvents(after seq: UInt64, to jobs: inout [JobRecord], in db: Database) throws -> UInt64 {
        var lastSeq = seq
        let chunks = try Row.fetchCursor(
            db, sql: "SELECT first_seq, last_seq, bodies FROM events WHERE last_seq > ? ORDER BY first_seq",
            arguments: [Int64(bitPattern: seq)])
        while let chunk = try chunks.next() {
            var next = UInt64(bitPattern: chunk[0])
            lastSeq = max(lastSeq, UInt64(bitPattern: chunk[1]))
            try JSONLinesChunk.forEachLine(of: chunk, atIndex: 2) { body in
                defer { next += 1 }
                // A job.submitted changes nothing its admission does not say: skipped without decoding.
                guard next > seq, !EventBodies.isSubmitted(body) else { return true }
                let event = try WireCoding.decode(Event.self, from: body)
                guard let id = event.jobID, let number = JobTable.number(of: id), let index = index(of: number, in: jobs),
                    let time = parseRFC3339(event.time)
                else { return true }
                jobs[index].apply(event, at: time)
                return true
            }
        }
        return lastSeq
    }

    /// Where job `number` is in `jobs` (in number order): at `number - 1` unless numbers are missing.
    static func index(of number: UInt64, in jobs: [JobRecord]) -> Int? {
        if number >= 1, number <= jobs.count, jobs[Int(number - 1)].number == number { return Int(number - 1) }
        var low = 0, high = jobs.count
        while low < high {
            let middle = (low + high) / 2
            if jobs[middle].number < number { low = middle + 1 } else { high = middle }
        }
        return low < jobs.count && jobs[low].number == number ? low : nil
    }

    public func events(from seq: UInt64, limit: Int, maxBytes: Int) throws -> [StoredEvent] {
        try pool.read { db in
            var events: [StoredEvent] = []
            var bytes = 0
            let from = Int64(clamping: seq)
            let cursor = try Row.fetchCursor(
                db, sql: "SELECT first_seq, bodies FROM events WHERE last_seq >= ? ORDER BY first_seq", arguments: [from])
            var full = false
            while !full, let row = try cursor.next() {
                var next: Int64 = row[0]
                try JSONLinesChunk.forEachLine(of: row, atIndex: 1) { body in
                    defer { next += 1 }
                    guard next >= from else { return true }
                    guard events.count < limit, events.isEmpty || bytes < maxBytes else {
                        full = true
                        return false
                    }
                    events.append(StoredEvent(seq: UInt64(next), body: Array(body)))
                    bytes += body.count
                    return true
                }
            }
            return events
        }
    }

    public func output(of number: UInt64) throws -> JobOutput? {
        try pool.read { db in
            guard let data = try Data.fetchOne(
                db, sql: "SELECT body FROM outputs WHERE number = ? ORDER BY attempt DESC LIMIT 1",
                arguments: [Int64(bitPattern: number)])
            else { return nil }
            return try WireCoding.decode(JobOutput.self, from: Array(data))
        }
    }

    // MARK: writing

    /// One transaction, begun and committed by cached statements: `pool.write` parses its BEGIN and COMMIT
    /// anew each time, and one SUBMIT at a time paid about 30 µs for it (a fifth of its coordinator CPU).
    public func append(_ batch: JournalBatch) throws {
        guard !batch.isEmpty else { return }
        try pool.writeWithoutTransaction { db in
            try db.cachedStatement(sql: "BEGIN IMMEDIATE TRANSACTION").execute()
            do {
                try Self.write(batch, db: db)
                try db.cachedStatement(sql: "COMMIT TRANSACTION").execute()
            } catch {
                if db.isInsideTransaction { try? db.rollback() }
                throw error
            }
        }
    }

    private static func write(_ batch: JournalBatch, db: Database) throws {
        // Events are numbered in order as the batch is built, and admitted jobs too.
        try Self.writeChunks(batch.events.lazy.map { AdmittedRow(number: $0.seq, body: $0.body) }, into: "events",
                             extra: nil, db: db)
        try Self.writeChunks(batch.admitted, into: "specs", extra: nil, db: db)
        if !batch.outputs.isEmpty {
            let statement = try db.cachedStatement(
                sql: "INSERT OR REPLACE INTO outputs (number, attempt, body) VALUES (?, ?, ?)")
            for (number, attempt, output) in batch.outputs {
                statement.setUncheckedArguments([Int64(bitPattern: number), attempt, Data(output.jsonBytes)])
                try statement.execute()
            }
        }
        for (name, maxRunning) in batch.queueLimits {
            try db.execute(sql: "INSERT OR REPLACE INTO queues (name, max_running) VALUES (?, ?)",
                           arguments: [name, maxRunning])
        }
    }

    public func snapshot(_ jobs: [JobRecord], asOf seq: UInt64) throws {
        try pool.write { db in
            try db.execute(sql: "DELETE FROM snapshots")
            try Self.writeChunks(jobs.map { AdmittedRow(number: $0.number, body: $0.state.jsonBytes) }, into: "snapshots",
                                 extra: seq, db: db)
        }
    }

    /// Lines with consecutive keys (numbers, seqs) into chunk rows of `table`: (first, last, lines), and for
    /// a snapshot its seq first. A gap in the keys starts a chunk.
    static func writeChunks<Lines: Sequence<AdmittedRow>>(
        _ lines: Lines, into table: String, extra: UInt64?, db: Database
    ) throws {
        let sql = switch table {
        case "snapshots": "INSERT INTO snapshots (seq, first_number, last_number, records) VALUES (?, ?, ?, ?)"
        case "events": "INSERT INTO events (first_seq, last_seq, bodies) VALUES (?, ?, ?)"
        default: "INSERT INTO specs (first_number, last_number, records) VALUES (?, ?, ?)"
        }
        let statement = try db.cachedStatement(sql: sql)
        var chunk = JSONLinesChunk()
        func write() throws {
            guard let (first, last) = chunk.range else { return }
            var arguments: StatementArguments = [Int64(bitPattern: first), Int64(bitPattern: last), Data(chunk.bytes)]
            if let extra { arguments = [Int64(bitPattern: extra)] + arguments }
            statement.setUncheckedArguments(arguments)
            try statement.execute()
            chunk.removeAll()
        }
        for line in lines {
            if chunk.isFull || !chunk.follows(line.number) { try write() }
            chunk.append(key: line.number, body: line.body)
        }
        try write()
    }

    public func delete(jobs: [ClosedRange<UInt64>], events: [ClosedRange<UInt64>]) throws {
        try pool.write { db in
            for range in jobs {
                try Self.deleteLines(range, from: "specs", key: "first_number", last: "last_number", db: db)
                try Self.deleteLines(range, from: "snapshots", key: "first_number", last: "last_number", db: db)
                try db.execute(sql: "DELETE FROM outputs WHERE number BETWEEN ? AND ?",
                               arguments: [Int64(bitPattern: range.lowerBound), Int64(bitPattern: range.upperBound)])
            }
            for range in events {
                try Self.deleteLines(range, from: "events", key: "first_seq", last: "last_seq", db: db)
            }
        }
    }

    /// Deletes the lines with keys in `range` from a chunked table: chunks wholly inside go, chunks across
    /// an end are written again with the lines outside the range.
    private static func deleteLines(
        _ range: ClosedRange<UInt64>, from table: String, key: String, last: String, db: Database
    ) throws {
        let (low, high) = (Int64(bitPattern: range.lowerBound), Int64(bitPattern: range.upperBound))
        let column = table == "events" ? "bodies" : "records"
        let extra = table == "snapshots" ? "seq, " : ""
        let overlapping = try Row.fetchAll(
            db, sql: "SELECT \(extra)\(key), \(last), \(column) FROM \(table) WHERE \(key) <= ? AND \(last) >= ?",
            arguments: [high, low])
        for row in overlapping {
            let offset = extra.isEmpty ? 0 : 1
            let first: Int64 = row[offset]
            let end: Int64 = row[offset + 1]
            let seq: Int64? = extra.isEmpty ? nil : row[0]
            try db.execute(sql: "DELETE FROM \(table) WHERE \(extra.isEmpty ? "" : "seq = ? AND ")\(key) = ?",
                           arguments: StatementArguments(seq.map { [$0, first] } ?? [first]))
            guard first < low || end > high else { continue }
            var keep: [AdmittedRow] = []
            var number = UInt64(bitPattern: first)
            try JSONLinesChunk.forEachLine(of: row, atIndex: offset + 2) { line in
                defer { number += 1 }
                if !range.contains(number) { keep.append(AdmittedRow(number: number, body: Array(line))) }
                return true
            }
            try writeChunks(keep, into: table, extra: seq.map { UInt64(bitPattern: $0) }, db: db)
        }
    }

    public func close() {
        pool.writeWithoutTransaction { db in
            if let writer = db.sqliteConnection { checkpointer?.uninstall(from: writer) }
        }
        checkpointer?.stop()
        checkpointer = nil
        try? pool.close()
    }
}

/// Consecutive lines (events by seq, jobs by number) as one chunk row: JSON Lines keyed by the first
/// line's key, at most `maxLines` lines and about `maxBytes`, so that a replay from any seq reads little
/// more than it returns. A compact JSON body never holds a raw newline.
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
    /// returns false. With memchr: `Data`'s own split walks the bytes one at a time.
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

struct JournalError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
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
