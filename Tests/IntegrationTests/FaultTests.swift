import Foundation
import Glibc
import ProcCore
import Testing

extension Integration {
    /// Issue 3 on loopback: faults in the middle of a batch, then the invariant check over the journal.
    @Suite struct Faults {
        @Test func killOneOfTwoAgentsMidBatch() async throws {
            let cluster = try TestCluster(agents: [["--slots", "3", "--name", "a1"], ["--slots", "3", "--name", "a2"]])
            defer { cluster.stop() }
            let ids = try cluster.proc("submit", "--batch", "-", stdin: faultBatch(count: 120))
                .stdout.split(separator: "\n").map(String.init)
            #expect(ids.count == 120)
            // Once a fifth of the batch is done, kill -9 a1 (it has runs in flight).
            #expect(eventually(timeout: 60) {
                ((try? cluster.proc("status", "--json").stdout).flatMap { try? JSONDecoder().decode(
                    StatusReply.self, from: Data($0.utf8)) }?.counts["completed"] ?? 0) >= 24
            })
            cluster.killAgent(0)
            let waited = try cluster.proc("wait", "-", stdin: ids.joined(separator: "\n"), timeout: 180)
            #expect(waited.code == 0, "\(waited.stdout) \(waited.stderr)")
            let history = try await cluster.history()
            let figures = checkInvariants(history, jobs: ids, faults: 1)
            #expect(figures.completed == 120)
            #expect(figures.retries >= 1, "a1's runs in flight ran again on a2")
            #expect(history.contains { $0.type == .agentLeft && $0.agentID == "a1" })
            print("fault: kill -9 one of two agents: \(figures)")
        }

        @Test func killTheCoordinatorMidBatchAndRestartIt() async throws {
            let cluster = try TestCluster(
                agents: [["--slots", "3", "--name", "a1", "--reconnect-max", "0.5"],
                         ["--slots", "3", "--name", "a2", "--reconnect-max", "0.5"]],
                coordinatorArguments: ["--reconnect-grace", "10"])
            defer { cluster.stop() }
            let ids = try cluster.proc("submit", "--batch", "-", stdin: faultBatch(count: 120))
                .stdout.split(separator: "\n").map(String.init)
            #expect(ids.count == 120)
            #expect(eventually(timeout: 60) {
                ((try? cluster.proc("status", "--json").stdout).flatMap { try? JSONDecoder().decode(
                    StatusReply.self, from: Data($0.utf8)) }?.counts["completed"] ?? 0) >= 24
            })
            cluster.killCoordinator()
            usleep(500_000)  // agents go on running and finishing jobs meanwhile
            try cluster.restartCoordinator()
            // proc wait on jobs submitted before the crash gets the right answer.
            let waited = try cluster.proc("wait", "-", stdin: ids.joined(separator: "\n"), timeout: 180)
            #expect(waited.code == 0, "\(waited.stdout) \(waited.stderr)")
            let history = try await cluster.history()
            let figures = checkInvariants(history, jobs: ids, faults: 1)
            #expect(figures.completed == 120)
            #expect(cluster.coordinator.stderr.contains("coordinator listening"))
            print("fault: kill -9 the coordinator, restart: \(figures)")
        }

        @Test func killAnAgentAndRestartItWithTheSameName() async throws {
            let cluster = try TestCluster(agents: [["--slots", "4", "--name", "a1"], ["--slots", "2", "--name", "a2"]])
            defer { cluster.stop() }
            let pids = cluster.directory + "/pids"
            try FileManager.default.createDirectory(atPath: pids, withIntermediateDirectories: true)
            // Each run writes its pid, then works for a while: some are running when a1 dies.
            let batch = (1...100).map { n in
                "[\"sh\", \"-c\", \"echo $$ > \(pids)/$PROC_JOB_ID-$PROC_ATTEMPT; sleep 0.\(n % 3 + 2); echo '{\\\"result\\\": \(n)}' >&3\"]"
            }.joined(separator: "\n")
            let ids = try cluster.proc("submit", "--batch", "-", stdin: batch).stdout.split(separator: "\n").map(String.init)
            #expect(ids.count == 100)
            #expect(eventually(timeout: 60) {
                ((try? cluster.proc("status", "--json").stdout).flatMap { try? JSONDecoder().decode(
                    StatusReply.self, from: Data($0.utf8)) }?.counts["completed"] ?? 0) >= 20
            })
            let running = try await cluster.history().filter { $0.type == .jobStarted && $0.agentID == "a1" }
            cluster.killAgent(0)
            // Same name, same data dir: it finds its runs' records and ends what is left of them.
            let restarted = try cluster.addAgent(["--slots", "4", "--name", "a1", "--data-dir", cluster.directory + "/agent-1"])
            let waited = try cluster.proc("wait", "-", stdin: ids.joined(separator: "\n"), timeout: 180)
            #expect(waited.code == 0, "\(waited.stdout) \(waited.stderr)")
            let history = try await cluster.history()
            let figures = checkInvariants(history, jobs: ids, faults: 1)
            #expect(figures.completed == 100)
            #expect(figures.retries >= 1)
            // No run of the killed agent goes on unobserved.
            for event in running {
                let file = "\(pids)/\(event.jobID!)-\(event.attempt!)"
                guard let text = try? String(contentsOfFile: file, encoding: .utf8), let pid = pid_t(
                    text.trimmingCharacters(in: .whitespacesAndNewlines)) else { continue }
                #expect(eventually(timeout: 10) { kill(pid, 0) != 0 || isZombie(pid) }, "run \(file) still going")
            }
            #expect(restarted.stderr.contains("ended a run left by a previous agent process")
                    || figures.retries > 0)
            print("fault: kill -9 an agent, restart it with the same name: \(figures)")
        }
    }
}

/// A process that has exited but was not reaped yet (its parent is elsewhere).
func isZombie(_ pid: pid_t) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
    else { return true }
    return stat[stat.index(close, offsetBy: 2)...].hasPrefix("Z")
}
