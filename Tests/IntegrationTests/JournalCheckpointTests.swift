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
                    batch.jobs.append(JobRow(JobRecord(id: "j\(number)", number: number, spec: JobSpec(argv: argv),
                                                       submittedAt: 1_795_147_070)))
                }
                try journal.commit(batch)
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

        private func fileSize(_ path: String) throws -> Int {
            (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        }
    }
}
