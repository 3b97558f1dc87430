import Foundation
import Glibc
import ProcCore
import Testing

extension Integration {
    /// Cancellation of pending and running jobs (whole process groups), queues, timeouts.
    @Suite struct Cancellation {
        @Test func cancelPendingRunningAndQueue() async throws {
            let cluster = try TestCluster(standaloneSlots: 1, coordinatorArguments: ["--kill-grace", "1"])
            defer { cluster.stop() }
            let pids = cluster.directory + "/pids"
            // Leader and a grandchild both ignore SIGTERM: only SIGKILL to the group ends them.
            let stubborn = try cluster.submit(
                "--", "sh", "-c", "trap '' TERM; (trap '' TERM; sleep 300) & echo $! > \(pids); sleep 300")
            let ran = cluster.directory + "/ran"
            // Held by the agent (prefetch) or pending at the coordinator: either way it must never run.
            let pending = try cluster.submit("--", "touch", ran)
            #expect(eventually { FileManager.default.fileExists(atPath: pids)
                && !((try? String(contentsOfFile: pids, encoding: .utf8)) ?? "").isEmpty })
            let grandchild = pid_t(try String(contentsOfFile: pids, encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines))!

            let cancelPending = try cluster.proc("cancel", pending)
            #expect(cancelPending.code == 0 && cancelPending.stdout.contains("\(pending) cancelling"))
            #expect(try cluster.status(pending) == .cancelled)

            #expect(try cluster.proc("cancel", stubborn).code == 0)
            let waited = try cluster.proc("wait", stubborn, "--timeout", "20")
            #expect(waited.code == 1 && waited.stdout.contains("\(stubborn) cancelled"))
            #expect(eventually { kill(grandchild, 0) != 0 }, "the grandchild that ignored SIGTERM is gone")

            // The pending job never ran, and ended cancelled.
            #expect(!FileManager.default.fileExists(atPath: ran))
            #expect(try await cluster.history().contains { $0.jobID == pending && $0.type == .jobCancelled })

            // Cancelling twice, or a finished job: "already ended".
            #expect(try cluster.proc("cancel", stubborn).stdout.contains("already ended"))

            // A whole queue.
            let q = try (0..<3).map { _ in try cluster.submit("--queue", "batch", "--", "sleep", "30") }
            let cancelled = try cluster.proc("cancel", "--queue", "batch")
            #expect(cancelled.code == 0)
            let all = try cluster.procArgs(["wait", "--timeout", "20"] + q)
            #expect(all.stdout.components(separatedBy: "cancelled").count - 1 == 3)
        }

        @Test func timeoutEndsTheJobAsError() async throws {
            let cluster = try TestCluster(standaloneSlots: 1, coordinatorArguments: ["--kill-grace", "1"])
            defer { cluster.stop() }
            let id = try cluster.submit("--timeout", "0.5", "--", "sleep", "30")
            let waited = try cluster.proc("wait", id, "--timeout", "20")
            #expect(waited.code == 1 && waited.stdout.contains("error (timeout)"))
            let result = try cluster.proc("result", id)
            #expect(result.stdout.range(of: "reason +timeout", options: .regularExpression) != nil)
        }
    }
}
