import Foundation
import Glibc
import ProcCore
import Testing

extension Integration {
    /// Issue 3 across simulated hosts (network namespaces, veth, a bridge; deploy/netns.sh): faults in
    /// the middle of a batch of 100+ jobs, each ending with the invariant check over the journal.
    @Suite(.enabled(if: TestNetwork.available, "needs root and iproute2 for network namespaces"))
    struct Faults {
        private static let agentOptions = ["--slots", "3", "--reconnect-max", "0.5"]

        private func cluster() throws -> TestCluster {
            try TestCluster(
                agents: [Self.agentOptions + ["--name", "a1"], Self.agentOptions + ["--name", "a2"]],
                coordinatorArguments: ["--reconnect-grace", "10"], network: .namespaces)
        }

        private func submitBatch(_ cluster: TestCluster, _ batch: String, count: Int) throws -> [String] {
            let ids = try cluster.proc("submit", "--batch", "-", stdin: batch).stdout.split(separator: "\n").map(String.init)
            #expect(ids.count == count)
            return ids
        }

        /// Waits for every job, then checks the invariants over the journal and prints the figures.
        private func finish(_ cluster: TestCluster, _ ids: [String], _ label: String) async throws
            -> (figures: FaultFigures, history: [Event])
        {
            let waited = try cluster.proc("wait", "-", stdin: ids.joined(separator: "\n"), timeout: 240)
            #expect(waited.code == 0, "\(waited.stdout) \(waited.stderr)")
            let history = try await cluster.history()
            let figures = checkInvariants(history, jobs: ids, faults: 1)
            #expect(figures.completed == ids.count)
            print("fault: \(label): \(figures)")
            return (figures, history)
        }

        @Test func killOneOfTwoAgentsMidBatch() async throws {
            let cluster = try cluster()
            defer { cluster.stop() }
            let ids = try submitBatch(cluster, faultBatch(count: 120), count: 120)
            #expect(eventually(timeout: 60) { cluster.completedCount() >= 24 })
            cluster.killAgent(0)
            let (figures, history) = try await finish(cluster, ids, "kill -9 one of two agents")
            #expect(figures.retries >= 1, "a1's runs in flight ran again on a2")
            #expect(history.contains { $0.type == .agentLeft && $0.agentID == "a1" })
        }

        @Test func killTheCoordinatorMidBatchAndRestartIt() async throws {
            let cluster = try cluster()
            defer { cluster.stop() }
            let ids = try submitBatch(cluster, faultBatch(count: 120), count: 120)
            #expect(eventually(timeout: 60) { cluster.completedCount() >= 24 })
            cluster.killCoordinator()
            usleep(500_000)  // the agents go on running and finishing jobs meanwhile
            try cluster.restartCoordinator()
            // `proc wait` on jobs submitted before the crash gets the right answer.
            _ = try await finish(cluster, ids, "kill -9 the coordinator, restart it")
        }

        @Test func cutOneAgentsLinkLongerThanTheLivenessWindow() async throws {
            let cluster = try cluster()
            defer { cluster.stop() }
            let ids = try submitBatch(cluster, faultBatch(count: 120, sleep: "0.3"), count: 120)
            #expect(eventually(timeout: 60) { cluster.completedCount() >= 20 })
            try cluster.cutLink("a1")
            // Liveness is 3 × 200 ms: a1 is declared gone, its runs go to a2; a1 finishes them anyway.
            #expect(eventually(timeout: 10) {
                ((try? cluster.proc("agents", "--json").stdout) ?? "").contains("\"a1\"") == false
            })
            usleep(1_500_000)
            try cluster.restoreLink("a1")
            let waited = try cluster.proc("wait", "-", stdin: ids.joined(separator: "\n"), timeout: 240)
            #expect(waited.code == 0, "\(waited.stdout) \(waited.stderr)")
            // a1 comes back and delivers what it kept; those results are late duplicates, not outcomes.
            #expect(eventually(timeout: 30) {
                (try? cluster.agentNames().contains("a1")) == true
            })
            #expect(eventually(timeout: 30) {
                ((try? cluster.proc("events", "--json", "--no-follow", "--topic", "job.late_result").stdout) ?? "")
                    .isEmpty == false
            })
            let (figures, history) = try await finish(cluster, ids, "cut one agent's link, restore it")
            #expect(figures.lateResults >= 1, "a1's old attempts came back as late duplicates")
            #expect(history.contains { $0.type == .agentLeft && $0.agentID == "a1" })
        }

        @Test func killAnAgentAndRestartItWithTheSameName() async throws {
            let cluster = try cluster()
            defer { cluster.stop() }
            let pids = cluster.directory + "/pids"
            try FileManager.default.createDirectory(atPath: pids, withIntermediateDirectories: true)
            // Each run writes its pid, then works a while: some are running when a1 dies.
            let batch = (1...100).map { n in
                "[\"sh\", \"-c\", \"echo $$ > \(pids)/$PROC_JOB_ID-$PROC_ATTEMPT; sleep 0.\(n % 3 + 2); "
                    + "echo '{\\\"result\\\": \(n)}' >&3\"]"
            }.joined(separator: "\n")
            let ids = try submitBatch(cluster, batch, count: 100)
            #expect(eventually(timeout: 60) { cluster.completedCount() >= 20 })
            let startedOnA1 = try await cluster.history().filter { $0.type == .jobStarted && $0.agentID == "a1" }
            cluster.killAgent(0)
            // Same name, same host, same data dir: it finds its runs' records and ends what is left of them.
            let restarted = try cluster.addAgent(
                Self.agentOptions + ["--name", "a1", "--data-dir", cluster.directory + "/agent-1"], host: "a1")
            let (figures, _) = try await finish(cluster, ids, "kill -9 an agent, restart it with the same name")
            #expect(figures.retries >= 1)
            #expect(restarted.stderr.contains("ended a run left by a previous agent process"))
            // No run of the killed agent goes on unobserved.
            for event in startedOnA1 {
                let file = "\(pids)/\(event.jobID!)-\(event.attempt!)"
                guard let text = try? String(contentsOfFile: file, encoding: .utf8),
                    let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines))
                else { continue }
                #expect(eventually(timeout: 10) { kill(pid, 0) != 0 || isZombie(pid) }, "run \(file) still going")
            }
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
