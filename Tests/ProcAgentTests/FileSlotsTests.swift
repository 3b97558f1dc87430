import Foundation
import Glibc
import ProcCore
import Testing

@testable import ProcAgent

/// The agent's outbox and run records live in slot files written over in place (`FileSlots`). What
/// matters is what a restarted agent reads back: every unacknowledged result, nothing acknowledged, and
/// no stale copy from a longer record that a shorter one replaced.
@Suite struct FileSlotsTests {
    private func directory() throws -> String {
        let path = NSTemporaryDirectory() + "proc-slots-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    private func result(_ job: String, _ attempt: Int = 1, stdout: String = "") -> RunResult {
        RunResult(jobID: job, attempt: attempt, status: .completed, exitCode: 0,
                  output: JobOutput(stdout: stdout, stderr: ""), startedAt: 1, finishedAt: Double(attempt))
    }

    @Test func theOutboxReadsBackWhatWasNotAcknowledged() throws {
        let data = try directory()
        defer { try? FileManager.default.removeItem(atPath: data) }
        let first = try Outbox(directory: data)
        first.add(result("j1", stdout: String(repeating: "long output ", count: 50)))
        first.add(result("j2"))
        first.add(result("j3"))
        first.acknowledge([RunRef(jobID: "j1", attempt: 1)])
        // j1's slot is reused by a shorter result: the padding must not leave any of j1 readable.
        first.add(result("j4"))
        first.acknowledge([RunRef(jobID: "j3", attempt: 1)])

        let second = try Outbox(directory: data)
        #expect(Set(second.refs) == [RunRef(jobID: "j2", attempt: 1), RunRef(jobID: "j4", attempt: 1)])
        #expect(second.takeUnsent().map(\.jobID).sorted() == ["j2", "j4"])
        let files = try FileManager.default.contentsOfDirectory(atPath: data + "/outbox")
        #expect(files.count == 3, "slots are reused, not created per result: \(files)")
    }

    @Test func aResultWrittenByTheEarlierVersionIsReadAndRemovedOnAcknowledgement() throws {
        let data = try directory()
        defer { try? FileManager.default.removeItem(atPath: data) }
        try FileManager.default.createDirectory(atPath: data + "/outbox", withIntermediateDirectories: true)
        let old = data + "/outbox/j7-2.json"
        try Data(WireCoding.bytes(result("j7", 2))).write(to: URL(fileURLWithPath: old))
        try Data("{\"cut".utf8).write(to: URL(fileURLWithPath: data + "/outbox/j8-1.json"))

        let outbox = try Outbox(directory: data)
        #expect(outbox.refs == [RunRef(jobID: "j7", attempt: 2)])
        #expect(!FileManager.default.fileExists(atPath: data + "/outbox/j8-1.json"), "a cut file is dropped")
        outbox.acknowledge([RunRef(jobID: "j7", attempt: 2)])
        #expect(!FileManager.default.fileExists(atPath: old))
        #expect(try Outbox(directory: data).isEmpty)
    }

    @Test func runRecordsAreFoundByTheNextAgentAndCleared() throws {
        let data = try directory()
        defer { try? FileManager.default.removeItem(atPath: data) }
        let records = try RunRecords(directory: data)
        // No start time recorded: nothing is killed, whatever those pids are now.
        records.add(.init(jobID: "j1", attempt: 1, pid: 999_999, startTime: nil))
        records.add(.init(jobID: "j2", attempt: 3, pid: 999_998, startTime: nil))
        // j1 ends and j3 starts in its place: j3's record is written over j1's, in the same file.
        records.release("j1", 1)
        records.add(.init(jobID: "j3", attempt: 1, pid: 999_997, startTime: nil))
        records.settle()
        #expect(try FileManager.default.contentsOfDirectory(atPath: data + "/runs").count == 2)
        // j2 ends with nothing to take its slot: `settle` clears it.
        records.release("j2", 3)
        records.settle()

        let next = try RunRecords(directory: data)
        let found = next.endLeftovers()
        #expect(found.map { RunRef(jobID: $0.jobID, attempt: $0.attempt) } == [RunRef(jobID: "j3", attempt: 1)])
        #expect(try RunRecords(directory: data).endLeftovers().isEmpty, "the leftovers were cleared")
        // A record left released (an agent killed before `settle`) is found too, and ends nothing: its
        // process is gone.
        let killed = try RunRecords(directory: data)
        killed.add(.init(jobID: "j4", attempt: 1, pid: 999_996, startTime: 1))
        killed.release("j4", 1)
        #expect(try RunRecords(directory: data).endLeftovers().map(\.jobID) == ["j4"])
    }
}
