import Foundation
@testable import ProcCoordinator
import ProcCore
import Testing

extension Integration {
    /// The journal (schema v6): each job's admission once, every event once, in chunks of consecutive keys
    /// (one row per run committed together): a replay may start anywhere, inside a chunk too, and returns
    /// exactly the bodies stored, in order, within its limits; a recovery folds the events over the
    /// admissions.
    @Suite struct JournalEvents {
        static func stored(_ event: Event) -> StoredEvent { StoredEvent(seq: event.seq, body: EventBodies.encode(event).stored) }

        @Test func aReplayFromAnySeqReturnsTheBodiesInOrder() throws {
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let journal = try SQLiteJournal(directory: directory)
            var seq: UInt64 = 0
            // Commits of 3, 1,200 (more than two chunks) and 1 events.
            for size in [3, 1_200, 1] {
                var batch = JournalBatch()
                for _ in 0..<size {
                    seq += 1
                    var event = Event(type: .jobProgress)
                    event.seq = seq
                    event.time = "2026-11-27T00:00:00.000000Z"
                    event.jobID = "j\(seq)"
                    event.message = "line one\nline two"  // a newline inside a string is escaped
                    batch.events.append(Self.stored(event))
                }
                try journal.append(batch)
            }
            func seqs(from: UInt64, limit: Int = 10_000, maxBytes: Int = 64 << 20) throws -> [UInt64] {
                try journal.events(from: from, limit: limit, maxBytes: maxBytes).map {
                    let event = try WireCoding.decode(Event.self, from: $0.body)
                    #expect(event.message == "line one\nline two" && event.seq == $0.seq)
                    return event.seq
                }
            }
            #expect(try seqs(from: 0) == Array(1...1_204))
            #expect(try seqs(from: 1) == Array(1...1_204))
            #expect(try seqs(from: 3) == Array(3...1_204))
            #expect(try seqs(from: 600, limit: 5) == Array(600...604), "from inside a chunk")
            #expect(try seqs(from: 515, limit: 1_000) == Array(515...1_204), "across chunks")
            #expect(try seqs(from: 1_204) == [1_204])
            #expect(try seqs(from: 1_205).isEmpty)
            #expect(try seqs(from: 10, maxBytes: 1) == [10], "at least one, however small maxBytes is")
            let some = try seqs(from: 10, maxBytes: 2_000)
            #expect(some.count > 1 && some.count < 20 && some.first == 10, "\(some)")
            #expect(try journal.recover().lastSeq == 1_204)
            journal.close()

            let reopened = try SQLiteJournal(directory: directory)
            defer { reopened.close() }
            #expect(try reopened.recover().lastSeq == 1_204)
            #expect(try reopened.events(from: 1_000, limit: 1, maxBytes: 1 << 20).count == 1)
        }

        /// What a job's command costs the journal: once, in its admission. The bodies of job.submitted and
        /// job.started are stored without it, and published and replayed with it, the same bytes.
        @Test func aCommandIsStoredOnceAndPutBackInWhatIsPublished() throws {
            var event = Event(type: .jobStarted, jobID: "j12", status: .running, queue: "default", attempt: 1,
                              agentID: "a1")
            event.seq = 7
            event.time = "2026-11-27T00:00:00.000000Z"
            event.command = ["sh", "-c", "echo \"hi\""]
            let (stored, published) = EventBodies.encode(event)
            #expect(!String(decoding: stored, as: UTF8.self).contains("command"))
            let body = try #require(published)
            #expect(try WireCoding.decode(Event.self, from: body) == event)
            #expect(EventBodies.commandJob(stored) == "j12")
            #expect(EventBodies.withCommand(stored, event.command!) == body)
            #expect(Event.leadingSeq(body) == 7)
            var other = Event(type: .jobCompleted, jobID: "j12", status: .completed)
            other.time = event.time
            #expect(EventBodies.encode(other).published == nil)
            #expect(EventBodies.commandJob(other.jsonBytes) == nil)
        }

        func admitted(_ number: UInt64, argv: [String] = ["true"]) -> AdmittedRow {
            AdmittedRow(AdmittedJob(number: number, submittedAt: 1_795_147_070, spec: JobSpec(argv: argv)))
        }

        func event(_ type: EventType, _ number: UInt64, seq: UInt64, _ change: (inout Event) -> Void = { _ in }) -> StoredEvent {
            var event = Event(type: type, jobID: "j\(number)", status: .pending, queue: "default", attempt: 1)
            event.seq = seq
            event.time = rfc3339(1_795_147_070 + Double(seq))
            change(&event)
            return Self.stored(event)
        }

        /// Recovery is the fold of each job's events over its admission, in one pass.
        @Test func recoveryFoldsTheEventsOverTheAdmissions() throws {
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let journal = try SQLiteJournal(directory: directory)
            var batch = JournalBatch()
            batch.admitted = (1...1_200).map { admitted($0, argv: ["echo", "\($0)"]) }
            batch.events = (1...3).map { event(.jobSubmitted, $0, seq: $0) }
            try journal.append(batch)
            batch = JournalBatch()
            batch.events = [
                event(.jobStarted, 1, seq: 4) { $0.status = .running; $0.agentID = "a1" },
                event(.jobStarted, 2, seq: 5) { $0.status = .running; $0.agentID = "a2" },
                event(.jobCompleted, 2, seq: 6) { $0.status = .completed; $0.exitCode = 0; $0.duration = 0.5; $0.result = .int(4) },
                event(.jobRetrying, 3, seq: 7) { $0.attempt = 2; $0.reason = "lost"; $0.message = "agent a3 lost" },
            ]
            batch.outputs = [(2, 1, JobOutput(stdout: "out\n", stderr: ""))]
            batch.queueLimits = [("render", 3)]
            try journal.append(batch)
            journal.close()

            let reopened = try SQLiteJournal(directory: directory)
            defer { reopened.close() }
            let snapshot = try reopened.recover()
            #expect(snapshot.lastSeq == 7 && snapshot.queueLimits == ["render": 3] && snapshot.commandsStoredThrough == 0)
            #expect(snapshot.jobs.map(\.number) == Array(1...1_200))
            let jobs = snapshot.jobs
            #expect(jobs[0].status == .running && jobs[0].agentID == "a1" && jobs[0].startedAt == 1_795_147_074)
            #expect(jobs[1].status == .completed && jobs[1].result == .int(4) && jobs[1].recordedAttempts == [1]
                    && jobs[1].startedAt == 1_795_147_075.5 && jobs[1].finishedAt == 1_795_147_076)
            #expect(jobs[2].status == .pending && jobs[2].attempt == 2 && jobs[2].lostAttempts == 1)
            #expect(jobs[1_199].status == .pending && jobs[1_199].spec.argv == ["echo", "1200"])
            #expect(try reopened.output(of: 2) == JobOutput(stdout: "out\n", stderr: ""))
        }

        /// A snapshot of the states stands in for the events before its seq.
        @Test func aSnapshotStandsInForTheEventsBeforeIt() throws {
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let journal = try SQLiteJournal(directory: directory)
            defer { journal.close() }
            var batch = JournalBatch()
            batch.admitted = [admitted(1), admitted(2)]
            batch.events = [event(.jobStarted, 1, seq: 1) { $0.status = .running; $0.agentID = "a1" }]
            try journal.append(batch)
            var recovered = try journal.recover().jobs
            recovered[1].status = .cancelled  // a state no event gave: only the snapshot says it
            recovered[1].message = "from the snapshot"
            try journal.snapshot(recovered, asOf: 1)
            batch = JournalBatch()
            batch.events = [event(.jobCompleted, 1, seq: 2) { $0.status = .completed; $0.duration = 1 }]
            try journal.append(batch)
            let jobs = try journal.recover().jobs
            #expect(jobs[0].status == .completed && jobs[0].recordedAttempts == [1])
            #expect(jobs[1].status == .cancelled && jobs[1].message == "from the snapshot")
        }

        /// A job's whole history goes by ranges (retention): its admission, its state in a snapshot, its
        /// outputs; and events by seq ranges, chunks across an end of the range written again.
        @Test func historyIsDeletedByRanges() throws {
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let journal = try SQLiteJournal(directory: directory)
            defer { journal.close() }
            var batch = JournalBatch()
            batch.admitted = (1...1_000).map { admitted($0) }
            batch.events = (1...1_000).map { event(.jobProgress, $0, seq: $0) { $0.status = .running } }
            batch.outputs = (1...1_000).map { ($0, 1, JobOutput(stdout: "\($0)", stderr: "")) }
            try journal.append(batch)
            try journal.snapshot(try journal.recover().jobs, asOf: 1_000)
            try journal.delete(jobs: [100...199, 600...1_000], events: [1...250, 700...700])
            let jobs = try journal.recover().jobs.map(\.number)
            #expect(jobs == Array(1...99) + Array(200...599))
            let seqs = try journal.events(from: 0, limit: 10_000, maxBytes: 64 << 20).map(\.seq)
            #expect(seqs == Array(251...699) + Array(701...1_000))
            #expect(try journal.output(of: 150) == nil && journal.output(of: 250)?.stdout == "250")
        }

        /// kill -9 of the coordinator while a job runs, twice: after each restart the job is still running
        /// on its agent (its start was journaled without a row), and it runs once.
        @Test func aJobRunningWhenTheCoordinatorIsKilledRunsOnce() async throws {
            let cluster = try TestCluster(coordinatorArguments: ["--reconnect-grace", "20"])
            defer { cluster.stop() }
            let marker = cluster.directory + "/runs"
            let id = try cluster.submit("--", "sh", "-c", "echo run >> \(marker); sleep 5")
            // Submitted before any agent is there, so it starts in a later commit than its submission's.
            try cluster.addAgent(["--slots", "1", "--name", "a1", "--reconnect-max", "0.5"])
            // A reply is sent after the commit of everything before it: "running" is journaled.
            #expect(eventually(timeout: 20) { (try? cluster.status(id)) == .running })
            cluster.killCoordinator()
            try cluster.restartCoordinator()
            let status = try cluster.proc("status", id)
            #expect(status.stdout.contains("running"), "\(status.stdout) \(status.stderr)")
            // Again, once the agent is back (its reconnect keeps the run current).
            #expect(eventually(timeout: 20) {
                (try? cluster.proc("events", "--json", "--no-follow").stdout)
                    .map { $0.components(separatedBy: "agent.joined").count - 1 >= 2 } == true
            })
            cluster.killCoordinator()
            try cluster.restartCoordinator()
            let again = try cluster.proc("status", id)
            #expect(again.stdout.contains("running"), "\(again.stdout) \(again.stderr)")
            let waited = try cluster.proc("wait", id, "--timeout", "30")
            #expect(waited.code == 0 && waited.stdout.contains("completed"), "\(waited.stdout) \(waited.stderr)")
            #expect(try String(contentsOfFile: marker, encoding: .utf8) == "run\n", "the job ran once")
            let history = try await cluster.history().filter { $0.jobID == id }
            #expect(history.map(\.type) == [.jobSubmitted, .jobStarted, .jobCompleted], "\(history.map(\.type))")
        }
    }
}
