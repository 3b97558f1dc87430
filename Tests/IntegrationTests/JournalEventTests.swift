import Foundation
@testable import ProcCoordinator
import ProcCore
import Testing

extension Integration {
    /// The journal's version 3 (docs/performance.md, item 32). Events are journaled in chunks (one row per
    /// run of consecutive events committed together, at most `JSONLinesChunk.maxLines` to a row): a replay
    /// may start anywhere, inside a chunk too, and must return exactly the bodies published, in order,
    /// within its limits. A job's start is journaled by its event alone, and recovery must find it.
    @Suite struct JournalEvents {
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
                    var event = Event(type: .jobSubmitted)
                    event.seq = seq
                    event.time = "2026-11-27T00:00:00.000000Z"
                    event.jobID = "j\(seq)"
                    event.message = "line one\nline two"  // a newline inside a string is escaped
                    batch.events.append(EventRow(event))
                }
                try journal.commit(batch)
            }
            func seqs(from: UInt64, limit: Int = 10_000, maxBytes: Int = 64 << 20) throws -> [UInt64] {
                try journal.eventBodies(from: from, limit: limit, maxBytes: maxBytes).map {
                    let event = try JSONDecoder().decode(Event.self, from: Data($0))
                    #expect(event.message == "line one\nline two")
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
            #expect(try reopened.eventBodies(from: 1_000, limit: 1, maxBytes: 1 << 20).count == 1)
        }

        /// A job's start is journaled by its `job.started` event alone; recovery applies it to the row
        /// written before it, and only to that: a row written after the event says more.
        @Test func aStartWithoutARowIsRecoveredFromItsEvent() throws {
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let journal = try SQLiteJournal(directory: directory)
            func job(_ number: UInt64) -> JobRecord {
                JobRecord(id: "j\(number)", number: number, spec: JobSpec(argv: ["true"]), submittedAt: 1_795_147_070)
            }
            func event(_ type: EventType, _ record: JobRecord, seq: UInt64, agent: String? = nil) -> EventRow {
                var event = Event.job(type, record)
                event.seq = seq
                event.time = "2026-11-27T10:00:0\(seq).000000Z"
                event.agentID = agent
                return EventRow(event)
            }
            var batch = JournalBatch()
            for number: UInt64 in 1...3 {
                batch.events.append(event(.jobSubmitted, job(number), seq: number))
                batch.jobs.append(JobRow(job(number), seq: 3))
            }
            batch.recoveryHorizon = 4
            try journal.commit(batch)
            // j1, j2 and j3 start: events only.
            batch = JournalBatch()
            for number: UInt64 in 1...3 {
                batch.events.append(event(.jobStarted, job(number), seq: 3 + number, agent: "a\(number)"))
            }
            batch.recoveryHorizon = 4
            try journal.commit(batch)
            // j2 completes; j3 is lost and queued again as attempt 2: both have rows newer than their start.
            var completed = job(2)
            completed.status = .completed
            var again = job(3)
            again.attempt = 2
            batch = JournalBatch()
            batch.events.append(event(.jobCompleted, completed, seq: 7))
            batch.events.append(event(.jobRetrying, again, seq: 8))
            batch.jobs = [JobRow(completed, seq: 8), JobRow(again, seq: 8)]
            batch.recoveryHorizon = 4
            try journal.commit(batch)
            journal.close()

            let reopened = try SQLiteJournal(directory: directory)
            defer { reopened.close() }
            let snapshot = try reopened.recover()
            #expect(snapshot.lastSeq == 8)
            let jobs = Dictionary(uniqueKeysWithValues: snapshot.jobs.map { ($0.id, $0) })
            #expect(jobs["j1"]?.status == .running)
            #expect(jobs["j1"]?.agentID == "a1")
            #expect(jobs["j1"]?.startedAt == parseRFC3339("2026-11-27T10:00:04.000000Z"))
            #expect(jobs["j2"]?.status == .completed)
            #expect(jobs["j3"]?.status == .pending && jobs["j3"]?.attempt == 2 && jobs["j3"]?.agentID == nil)
        }

        /// Version 4: admitted jobs are journaled as chunks of records, a row written only at a job's
        /// next change. Recovery merges the two in number order, a row winning over its job's record, and
        /// still takes rows with no record in any chunk (from version 3).
        @Test func jobChunksHoldJobsUntilTheirRowsAreWritten() throws {
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let journal = try SQLiteJournal(directory: directory)
            func job(_ number: UInt64, _ status: JobStatus = .pending) -> JobRecord {
                var job = JobRecord(id: "j\(number)", number: number, spec: JobSpec(argv: ["echo", "\(number)\nx"]),
                                    submittedAt: 1_795_147_070)
                job.status = status
                return job
            }
            // Jobs 1-3 have rows only, as a version-3 journal left them.
            var batch = JournalBatch()
            batch.jobs = [JobRow(job(1, .completed), seq: 1), JobRow(job(2), seq: 1), JobRow(job(3, .error), seq: 1)]
            try journal.commit(batch)
            // Jobs 4-1,203 are admitted in one commit: three chunks. Jobs 1,204-1,205 in another.
            batch = JournalBatch()
            batch.submitted = (4...1_203).map { JobRow(job($0), seq: 5) }
            try journal.commit(batch)
            batch = JournalBatch()
            batch.submitted = [JobRow(job(1_204), seq: 6), JobRow(job(1_205, .running), seq: 6)]
            try journal.commit(batch)
            // Later changes: rows for the first job of a chunk, one inside, the last of all, and job 2.
            batch = JournalBatch()
            batch.jobs = [4, 600, 1_205, 2].map { JobRow(job($0, .completed), seq: 7) }
            try journal.commit(batch)
            journal.close()

            let reopened = try SQLiteJournal(directory: directory)
            defer { reopened.close() }
            let jobs = try reopened.recover().jobs
            #expect(jobs.map(\.number) == Array(1...1_205), "every job once, in number order")
            let completed = Set(jobs.filter { $0.status == .completed }.map(\.number))
            #expect(completed == [1, 2, 4, 600, 1_205])
            #expect(jobs[2].status == .error && jobs[1_203].status == .pending)
            #expect(jobs.allSatisfy { $0.spec.argv == ["echo", "\($0.number)\nx"] })
        }

        /// Version 5: jobs that end are journaled as chunks of final records, any numbers together. A
        /// final record wins over the job's row and its admission, whichever came first; a final record
        /// of a job admitted nowhere (never written so) still comes back in its place.
        @Test func finalChunksHaveTheLastWord() throws {
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let journal = try SQLiteJournal(directory: directory)
            func job(_ number: UInt64, _ status: JobStatus = .pending, exitCode: Int32? = nil) -> JobRecord {
                var job = JobRecord(id: "j\(number)", number: number, spec: JobSpec(argv: ["echo", "\(number)"]),
                                    submittedAt: 1_795_147_070)
                job.status = status
                job.exitCode = exitCode
                return job
            }
            // Jobs 1-2,000 admitted in one commit, job 2,002 in another (2,001 is never admitted).
            var batch = JournalBatch()
            batch.submitted = (1...2_000).map { JobRow(job($0), seq: 1) }
            try journal.commit(batch)
            batch = JournalBatch()
            batch.submitted = [JobRow(job(2_002), seq: 2)]
            try journal.commit(batch)
            // Rows for jobs 10 and 20 (a long run's row, then a job still running).
            batch = JournalBatch()
            batch.jobs = [JobRow(job(10, .running), seq: 3), JobRow(job(20, .running), seq: 3)]
            try journal.commit(batch)
            // 1,500 jobs end in one commit, in no order (three chunks), job 10 among them; then the rest of
            // the even ones, and the stray 2,001, in another.
            let odds: [UInt64] = (0..<1_000).map { 2 * UInt64($0) + 1 }
            let evens: [UInt64] = (1...499).map { 2 * UInt64($0) }.filter { $0 != 20 }
            let ending: [UInt64] = odds.shuffled() + evens.shuffled()
            batch = JournalBatch()
            batch.finals = ending.map { JobRow(job($0, .completed, exitCode: Int32($0 % 100)), seq: 4) }
            try journal.commit(batch)
            batch = JournalBatch()
            let later: [UInt64] = (500...1_000).map { 2 * UInt64($0) }
            batch.finals = later.map { JobRow(job($0, .error, exitCode: 1), seq: 5) } + [JobRow(job(2_001, .cancelled), seq: 5)]
            try journal.commit(batch)
            journal.close()

            let reopened = try SQLiteJournal(directory: directory)
            defer { reopened.close() }
            let jobs = try reopened.recover().jobs
            #expect(jobs.map(\.number) == Array(1...2_002), "every job once, in number order")
            #expect(jobs[9].status == .completed && jobs[9].exitCode == 10, "a final record wins over the row")
            #expect(jobs[19].status == .running, "a row with no final record stays")
            #expect(jobs[2_001].status == .pending && jobs[2_000].status == .cancelled)
            let odd = jobs.filter { $0.number % 2 == 1 && $0.number < 2_000 }
            #expect(odd.allSatisfy { $0.status == .completed && $0.exitCode == Int32($0.number % 100) })
            #expect(jobs[999...1_999].filter { $0.number % 2 == 0 }.allSatisfy { $0.status == .error })
            #expect(jobs.filter { $0.status == .completed }.count == 1_000 + 498, "the odd ones and the evens below 1,000 but 20")
        }

        /// The coordinator's side: which starts still lack a row, from which seq a recovery must read, and
        /// when a long run's row falls due.
        @Test func rowlessStartsKeepTheHorizonAndAgeOut() {
            var starts = RowlessStarts()
            #expect(starts.horizon(lastSeq: 9) == 10, "none: nothing to read")
            starts.started("j1", seq: 10)
            starts.started("j2", seq: 11)
            #expect(starts.horizon(lastSeq: 11) == 10)
            starts.written("j1")
            #expect(starts.horizon(lastSeq: 12) == 11)
            #expect(starts.due(lastSeq: 11 + RowlessStarts.maxSpan).isEmpty)
            #expect(starts.due(lastSeq: 12 + RowlessStarts.maxSpan) == ["j2"])
            starts.written("j2")
            #expect(starts.horizon(lastSeq: 20_000) == 20_001)
            // A job started again (a later attempt) counts from its new start.
            starts.started("j3", seq: 30_000)
            starts.written("j3")
            starts.started("j3", seq: 30_005)
            #expect(starts.horizon(lastSeq: 30_006) == 30_005)
            #expect(starts.count == 1)
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
            #expect(eventually(timeout: 20) { (try? cluster.proc("status", id).stdout.contains("running")) == true })
            cluster.killCoordinator()
            try cluster.restartCoordinator()
            let status = try cluster.proc("status", id)
            #expect(status.stdout.contains("running"), "\(status.stdout) \(status.stderr)")
            // Again, once the agent is back: its agent.joined is committed with a horizon that knows nothing
            // of the starts before the restart, so that commit must carry the row the start had lacked.
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
