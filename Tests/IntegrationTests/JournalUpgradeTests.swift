import Foundation
import ProcCore
import Testing

extension Integration {
    /// The journal's schema changed (v2: one b-tree per table; v3: events in chunks; both for speed). A
    /// journal written by the first version must open with nothing lost: jobs, outputs, the event history
    /// and its seq.
    @Suite struct JournalUpgrade {
        @Test func aVersion1JournalIsMigrated() async throws {
            let parent = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: parent) }
            let data = parent + "/data"
            try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
            let pending = JobRecord(id: "j1", number: 1, spec: JobSpec(argv: ["true"]), submittedAt: 1_795_147_070)
            var done = JobRecord(id: "j2", number: 2, spec: JobSpec(argv: ["echo", "hello"]), submittedAt: 1_795_147_071)
            done.status = .completed
            done.exitCode = 0
            done.startedAt = 1_795_147_072
            done.finishedAt = 1_795_147_073
            done.recordedAttempts = [1]
            let output = JobOutput(stdout: "hello from v1\n", stderr: "")
            func hex(_ value: some Encodable) throws -> String {
                "X'" + (try WireCoding.encode(value)).map { String(format: "%02x", $0) }.joined() + "'"
            }
            var first = Event(type: .jobSubmitted)
            first.seq = 1
            first.time = "2026-11-26T00:00:00.000000Z"
            first.jobID = "j1"
            var second = first
            second.seq = 2
            second.jobID = "j2"
            var third = Event(type: .jobCompleted)
            third.seq = 3
            third.time = first.time
            third.jobID = "j2"
            third.status = .completed
            // Written by another JSON encoder, with whitespace (newlines) between the tokens.
            let pretty = JSONEncoder()
            pretty.outputFormatting = [.prettyPrinted]
            let thirdBody = "X'" + (try pretty.encode(third)).map { String(format: "%02x", $0) }.joined() + "'"
            // The schema and rows exactly as version 1 wrote them.
            let sql = """
                CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY);
                INSERT INTO grdb_migrations VALUES ('v1');
                CREATE TABLE events (seq INTEGER PRIMARY KEY, type TEXT NOT NULL, job_id TEXT, body BLOB NOT NULL);
                CREATE INDEX events_job ON events(job_id);
                CREATE TABLE jobs (id TEXT PRIMARY KEY, number INTEGER NOT NULL UNIQUE, status TEXT NOT NULL, record BLOB NOT NULL);
                CREATE TABLE outputs (job_id TEXT NOT NULL, attempt INTEGER NOT NULL, body BLOB NOT NULL, PRIMARY KEY (job_id, attempt));
                CREATE TABLE queues (name TEXT PRIMARY KEY, max_running INTEGER NOT NULL);
                INSERT INTO jobs VALUES ('j1', 1, 'pending', \(try hex(pending)));
                INSERT INTO jobs VALUES ('j2', 2, 'completed', \(try hex(done)));
                INSERT INTO outputs VALUES ('j2', 1, \(try hex(output)));
                INSERT INTO queues VALUES ('slow', 3);
                INSERT INTO events VALUES (1, 'job.submitted', 'j1', \(try hex(first)));
                INSERT INTO events VALUES (2, 'job.submitted', 'j2', \(try hex(second)));
                INSERT INTO events VALUES (3, 'job.completed', 'j2', \(thirdBody));
                """
            let made = try run("/usr/bin/sqlite3", [data + "/journal.sqlite"], stdin: sql)
            try #require(made.code == 0, "sqlite3: \(made.stderr)")

            let cluster = try TestCluster(standaloneSlots: 1, dataDirectory: data)
            defer { cluster.stop() }
            // The pending job runs; the finished one keeps its output; numbering and seq go on.
            let wait = try cluster.proc("wait", "j1", "--timeout", "20")
            #expect(wait.code == 0, "\(wait.stdout) \(wait.stderr)")
            let result = try cluster.proc("result", "j2")
            #expect(result.stdout.contains("hello from v1"), "\(result.stdout)")
            #expect(try cluster.submit("--", "true") == "j3")
            let queues = try cluster.proc("queue")
            #expect(queues.stdout.contains("slow") && queues.stdout.contains("3"), "\(queues.stdout)")
            let history = try await cluster.history()
            #expect(history.prefix(3).map(\.seq) == [1, 2, 3])
            #expect(history.prefix(3).map(\.type) == [.jobSubmitted, .jobSubmitted, .jobCompleted])
            #expect(history.map(\.seq) == Array(1...UInt64(history.count)), "no gap, no repeat")
            #expect(history.count > 3)
            let schema = try run("/usr/bin/sqlite3", [data + "/journal.sqlite", "SELECT name FROM sqlite_master WHERE type = 'index'"])
            #expect(!schema.stdout.contains("events_job"), "\(schema.stdout)")
            let tables = try run("/usr/bin/sqlite3", [data + "/journal.sqlite", "SELECT name FROM sqlite_master WHERE type = 'table'"])
            let names = tables.stdout.split(separator: "\n").map(String.init)
            #expect(names.contains("event_chunks") && !names.contains("events"), "\(tables.stdout)")
        }
    }
}
