import Foundation
import Glibc
import ProcCore
import Testing

extension Integration {
    /// An agent holds one run beyond its slots (`--prefetch`, default 1) and starts it the moment a slot
    /// frees; a held run can be cancelled before it starts.
    @Suite struct Prefetch {
        @Test func aHeldRunStartsWhenTheSlotFreesAndCanBeCancelled() async throws {
            let cluster = try TestCluster(agents: [["--slots", "1", "--prefetch", "1", "--name", "a1"]])
            defer { cluster.stop() }
            let marker = cluster.directory + "/ran"
            let long = try cluster.submit("--", "sleep", "30")
            let held = try cluster.submit("--", "touch", marker)
            let third = try cluster.submit("--", "true")
            // One runs, one is held on the agent (counted as running), the third waits at the coordinator.
            #expect(eventually { (try? cluster.status(held)) == .running })
            #expect(try cluster.status(third) == .pending)
            // Cancelled while held: it never runs.
            #expect(try cluster.proc("cancel", held).code == 0)
            let cancelled = try cluster.proc("wait", held, "--timeout", "10")
            #expect(cancelled.stdout.contains("\(held) cancelled"), "\(cancelled.stdout)")
            let result = try cluster.proc("result", held)
            #expect(result.stdout.contains("cancelled before it started"), "\(result.stdout)")
            // The third takes the held place; ending the long one lets it run.
            #expect(try cluster.proc("cancel", long).code == 0)
            let done = try cluster.proc("wait", third, "--timeout", "20")
            #expect(done.code == 0, "\(done.stdout) \(done.stderr)")
            #expect(!FileManager.default.fileExists(atPath: marker), "a cancelled held run must not run")
        }

        @Test func heldRunsAllCompleteInOrder() throws {
            let cluster = try TestCluster(agents: [["--slots", "1", "--name", "a1"]])
            defer { cluster.stop() }
            let log = cluster.directory + "/order"
            let batch = (1...6).map { #"["sh","-c","echo \#($0) >> \#(log); sleep 0.05"]"# }.joined(separator: "\n")
            let ids = try cluster.proc("submit", "--batch", "-", stdin: batch + "\n").stdout
            let waited = try cluster.proc("wait", "-", stdin: ids, timeout: 60)
            #expect(waited.code == 0, "\(waited.stdout)")
            let order = try String(contentsOfFile: log, encoding: .utf8)
            #expect(order == "1\n2\n3\n4\n5\n6\n", "one slot runs them one at a time, in order")
        }
    }
}
