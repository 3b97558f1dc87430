import Foundation
import ProcCore
import Testing

extension Integration {
    /// The journal's schema changed (v2: one b-tree per table; v3–v5: events and jobs in chunks, for speed;
    /// v6: admissions and events, one truth). A journal written by an earlier version must open with
    /// nothing lost: jobs, outputs, the event history and its seq.
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
            let result = try cluster.result("j2")
            #expect(result.stdout?.contains("hello from v1") == true, "\(result)")
            #expect(try cluster.submit("--", "true") == "j3")
            let queues = try cluster.procJSON([QueueInfo].self, "queue")
            #expect(queues.first { $0.name == "slow" }?.maxRunning == 3, "\(queues)")
            let history = try await cluster.history()
            #expect(history.prefix(3).map(\.seq) == [1, 2, 3])
            #expect(history.prefix(3).map(\.type) == [.jobSubmitted, .jobSubmitted, .jobCompleted])
            #expect(history.map(\.seq) == Array(1...UInt64(history.count)), "no gap, no repeat")
            #expect(history.count > 3)
            let schema = try run("/usr/bin/sqlite3", [data + "/journal.sqlite", "SELECT name FROM sqlite_master WHERE type = 'index'"])
            #expect(!schema.stdout.contains("events_job"), "\(schema.stdout)")
            let tables = try run("/usr/bin/sqlite3", [data + "/journal.sqlite", "SELECT name FROM sqlite_master WHERE type = 'table'"])
            let names = tables.stdout.split(separator: "\n").map(String.init)
            #expect(names.contains("events") && names.contains("specs") && !names.contains("event_chunks")
                    && !names.contains("jobs"), "\(tables.stdout)")
        }

        /// Version 5 (jobs admitted in chunks, ended in chunks, rows for the changes between, starts journaled
        /// by their events alone) becomes version 6 (admissions and events): every job comes back as it was,
        /// the history replays as it was published, and the cluster goes on from there.
        @Test func aVersion5JournalIsMigrated() async throws {
            let parent = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: parent) }
            let data = parent + "/data"
            try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
            func hex(_ bytes: [UInt8]) -> String { "X'" + bytes.map { String(format: "%02x", $0) }.joined() + "'" }
            func lines(_ values: [[UInt8]]) -> String { hex(Array(values.joined(separator: [0x0A]))) }
            func job(_ number: UInt64) -> JobRecord {
                JobRecord(id: "j\(number)", number: number, spec: JobSpec(argv: ["sh", "-c", "echo \(number)"]),
                          submittedAt: 1_795_147_070)
            }
            var done = job(1)
            done.status = .completed
            done.exitCode = 0
            done.agentID = "old-agent"
            done.startedAt = 1_795_147_071
            done.finishedAt = 1_795_147_072
            done.recordedAttempts = [1]
            var retrying = job(3)
            retrying.attempt = 2
            retrying.lostAttempts = 1
            func event(_ seq: UInt64, _ type: EventType, _ record: JobRecord, agent: String? = nil) -> [UInt8] {
                var event = Event.job(type, record)
                event.seq = seq
                event.time = "2026-11-26T00:00:0\(seq).000000Z"
                event.agentID = agent
                if type == .jobSubmitted || type == .jobStarted { event.command = record.spec.argv }
                if type == .jobStarted { event.status = .running }
                return event.jsonBytes
            }
            let events = [
                event(1, .jobSubmitted, job(1)), event(2, .jobSubmitted, job(2)), event(3, .jobSubmitted, job(3)),
                event(4, .jobSubmitted, job(4)), event(5, .jobStarted, job(2), agent: "gone-agent"),
                event(6, .jobRetrying, retrying), event(7, .jobCompleted, done),
            ]
            let sql = """
                CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY);
                INSERT INTO grdb_migrations VALUES ('v1'), ('v2'), ('v3'), ('v4'), ('v5');
                CREATE TABLE jobs (number INTEGER PRIMARY KEY, id TEXT NOT NULL, status TEXT NOT NULL, record BLOB NOT NULL,
                                   seq INTEGER NOT NULL DEFAULT 0);
                CREATE TABLE outputs (job_id TEXT NOT NULL, attempt INTEGER NOT NULL, body BLOB NOT NULL,
                                      PRIMARY KEY (job_id, attempt)) WITHOUT ROWID;
                CREATE TABLE queues (name TEXT PRIMARY KEY, max_running INTEGER NOT NULL);
                CREATE TABLE event_chunks (first_seq INTEGER PRIMARY KEY, last_seq INTEGER NOT NULL,
                                           horizon INTEGER NOT NULL, bodies BLOB NOT NULL);
                CREATE TABLE job_chunks (first_number INTEGER PRIMARY KEY, last_number INTEGER NOT NULL,
                                         seq INTEGER NOT NULL, records BLOB NOT NULL);
                CREATE TABLE final_chunks (id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, records BLOB NOT NULL);
                INSERT INTO job_chunks VALUES (1, 4, 4, \(lines((1...4).map { job($0).jsonBytes })));
                INSERT INTO jobs VALUES (3, 'j3', 'pending', \(hex(retrying.jsonBytes)), 6);
                INSERT INTO final_chunks VALUES (0, 7, \(lines([done.jsonBytes])));
                INSERT INTO event_chunks VALUES (1, 7, 5, \(lines(events)));
                INSERT INTO outputs VALUES ('j1', 1, \(hex(JobOutput(stdout: "one from v5\n", stderr: "").jsonBytes)));
                INSERT INTO queues VALUES ('slow', 2);
                """
            let made = try run("/usr/bin/sqlite3", [data + "/journal.sqlite"], stdin: sql)
            try #require(made.code == 0, "sqlite3: \(made.stderr)")

            // j2 was running on an agent that is gone: after the reconnect grace it is lost and runs again.
            let cluster = try TestCluster(standaloneSlots: 2, coordinatorArguments: ["--reconnect-grace", "1"],
                                          dataDirectory: data)
            defer { cluster.stop() }
            let result = try cluster.result("j1")
            #expect(result.stdout?.contains("one from v5") == true && result.job.agentID == "old-agent", "\(result)")
            let waited = try cluster.proc("wait", "j2", "j3", "j4", "--timeout", "30")
            #expect(waited.code == 0, "\(waited.stdout) \(waited.stderr)")
            let j3 = try JSONDecoder().decode(ResultReply.self, from: Data(try cluster.proc("result", "j3", "--json").stdout.utf8))
            #expect(j3.job.attempt == 2 && j3.job.lostAttempts == 1 && j3.stdout == "3\n")
            #expect(try cluster.submit("--", "true") == "j5")
            #expect(try cluster.queueNames().contains("slow"))
            let history = try await cluster.history()
            #expect(history.map(\.seq) == Array(1...UInt64(history.count)))
            #expect(history.prefix(7).map { $0.jsonBytes } == events.map { try! WireCoding.decode(Event.self, from: $0).jsonBytes },
                    "the old history replays as it was")
            // Starts after the upgrade carry their commands, put back from the admissions.
            let started = history.dropFirst(7).filter { $0.type == .jobStarted }
            #expect(!started.isEmpty && started.allSatisfy { $0.command?.first == "sh" || $0.command == ["true"] })
            let tables = try run("/usr/bin/sqlite3", [data + "/journal.sqlite", "SELECT name FROM sqlite_master WHERE type = 'table'"])
            #expect(!tables.stdout.contains("final_chunks") && tables.stdout.contains("snapshots"), "\(tables.stdout)")
        }
    }
}
