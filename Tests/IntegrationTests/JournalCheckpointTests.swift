import Foundation
import ProcCoordinator
import ProcCore
import Testing

extension Integration {
    /// The journal's WAL is copied into the database by a thread of its own (`Checkpointer`), not by the
    /// commit that crosses 1,000 pages. The pages must still get there, and everything must read back.
    @Suite struct JournalCheckpoint {
        @Test func theWALReachesTheDatabaseFileAndReadsBack() throws {
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let journal = try SQLiteJournal(directory: directory)
            let database = directory + "/journal.sqlite"
            let sizeAtStart = try fileSize(database)
            // 20 commits of 500 jobs, about 600 bytes each: some 1,500 pages of WAL.
            let argv = ["/bin/echo", String(repeating: "x", count: 500)]
            for chunk in 0..<20 {
                var batch = JournalBatch()
                for index in 1...500 {
                    let number = UInt64(chunk * 500 + index)
                    batch.admitted.append(AdmittedRow(AdmittedJob(number: number, submittedAt: 1_795_147_070,
                                                                  spec: JobSpec(argv: argv))))
                }
                try journal.append(batch)
            }
            // Nothing else will write: only the checkpoint thread can make the database file grow.
            let deadline = Date().addingTimeInterval(10)
            while try fileSize(database) < sizeAtStart + 4 << 20, Date() < deadline {
                Thread.sleep(forTimeInterval: 0.02)
            }
            #expect(try fileSize(database) >= sizeAtStart + 4 << 20, "the WAL was not checkpointed")
            let snapshot = try journal.recover()
            #expect(snapshot.jobs.count == 10_000)
            #expect(snapshot.jobs.last?.spec.argv == argv)
            journal.close()

            // Reopened (the checkpoint thread and its connection were closed with it): all still there.
            let reopened = try SQLiteJournal(directory: directory)
            defer { reopened.close() }
            #expect(try reopened.recover().jobs.count == 10_000)
        }

        /// One job per commit, back to back, as fast as the writer goes: the checkpoint thread pauses
        /// between checkpoints while the WAL is small and goes back to back once it is large, but with no
        /// gap between commits none of its checkpoints copies the last frame before the next commit comes,
        /// so here it is the writer's own checkpoint at 16,000 pages that lets the WAL start over (the
        /// largest WAL seen was 16,000–16,800 pages). It must start over all the same, and every job must
        /// read back. (With 12,000 commits this test could not tell: they make about as many frames as
        /// the writer's threshold.)
        @Test func underBackToBackCommitsTheWALStaysBounded() throws {
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let journal = try SQLiteJournal(directory: directory)
            defer { journal.close() }
            let argv = ["/bin/echo", String(repeating: "x", count: 2_000)]
            var largest = 0
            for number in UInt64(1)...30_000 {
                var batch = JournalBatch()
                batch.admitted.append(AdmittedRow(AdmittedJob(number: number, submittedAt: 1_795_147_070,
                                                              spec: JobSpec(argv: argv))))
                try journal.append(batch)
                if number % 100 == 0 { largest = max(largest, try fileSize(directory + "/journal.sqlite-wal")) }
            }
            // 30,000 commits of a frame or two each (a WAL page is 4 KiB and a 24-byte header): without
            // starting over the WAL would hold 30,000 pages or more.
            let pages = largest / 4_120
            #expect(pages > 1_000, "the test wrote too little to need checkpoints (\(pages) pages)")
            #expect(pages < 30_000, "the WAL grew to \(pages) pages")
            #expect(try journal.recover().jobs.count == 30_000)
        }

        private func fileSize(_ path: String) throws -> Int {
            (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        }
    }
}
