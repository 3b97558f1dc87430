import Foundation
import ProcCoordinator
import ProcCore
import Testing

extension Integration {
    /// Events are journaled in chunks (one row per run of consecutive events committed together, at most
    /// `EventChunk.maxEvents` to a row). A replay may start anywhere, inside a chunk too, and must return
    /// exactly the bodies published, in order, within its limits.
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
    }
}
