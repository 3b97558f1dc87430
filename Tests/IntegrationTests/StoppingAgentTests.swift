import Foundation
import Glibc
import ProcCore
import Testing
import ZeroMQ

extension Integration {
    /// A stopping agent gives back the runs it holds and has not started (RETURN, design note 8): they run
    /// elsewhere at once, with no attempt counted as lost, and the coordinator sends it nothing more. The
    /// runs it ends are reported lost with it: they run again elsewhere too, one lost attempt each.
    @Suite struct StoppingAgent {
        /// The agent's side, behind a fake coordinator: on SIGTERM it returns its held runs and says it is
        /// stopping, returns a run that reaches it after that, ends its running ones and reports them lost
        /// (one that completes on SIGTERM keeps its outcome), and says BYE.
        @Test func itGivesBackWhatItHoldsAndWhatComesAfter() throws {
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let context = ZMQContext()
            defer { context.terminate() }
            // r1 ignores SIGTERM, so the agent stays in its 3 s grace while the test talks to it; r2 finishes
            // cleanly on SIGTERM, and so completes.
            let coordinator = try FakeCoordinator(context: context, directory: directory, name: "leaving",
                                                  agentArguments: ["--prefetch", "2", "--stop-grace", "3"])
            defer { coordinator.close() }
            _ = try coordinator.hello()
            try coordinator.welcome("leaving", takesReturns: true)
            let stubborn = ["/bin/sh", "-c", "trap '' TERM; echo started > \(directory)/$PROC_JOB_ID; sleep 30"]
            let graceful = ["/bin/sh", "-c", "trap 'exit 0' TERM; echo started > \(directory)/$PROC_JOB_ID; sleep 30 & wait"]
            try coordinator.send(.jobs(JobsMessage(jobs: [
                FakeCoordinator.job("r1", stubborn, directory: directory),
                FakeCoordinator.job("r2", graceful, directory: directory),
                FakeCoordinator.job("h1", ["/bin/true"], directory: directory),
                FakeCoordinator.job("h2", ["/bin/true"], directory: directory),
            ])))
            #expect(eventually(timeout: 20) {
                FileManager.default.fileExists(atPath: directory + "/r1") && FileManager.default.fileExists(atPath: directory + "/r2")
            }, "both slots run: \(coordinator.agent.stderr)")

            kill(coordinator.agent.pid, SIGTERM)
            guard case .returned(let first) = try coordinator.receive(.returned) else { throw TestError("not a RETURN") }
            #expect(first.runs == [RunRef(jobID: "h1", attempt: 1), RunRef(jobID: "h2", attempt: 1)])
            #expect(first.stopping == true)
            // Sent before the coordinator read that: given back too, never started.
            try coordinator.send(.jobs(JobsMessage(jobs: [FakeCoordinator.job("late", ["/bin/true"], directory: directory)])))
            // Then: that one given back; r2 completed; after the grace r1 killed and reported lost; BYE.
            let rest = try coordinator.collect(until: .bye)
            let returned = rest.flatMap(\.returnedRuns)
            #expect(returned == [RunRef(jobID: "late", attempt: 1)], "\(rest.map(\.command))")
            let reported = rest.flatMap(\.reportedResults)
            #expect(Set(reported.map(\.jobID)) == ["r1", "r2"] && reported.count == 2, "\(reported)")
            let r1 = reported.first { $0.jobID == "r1" }, r2 = reported.first { $0.jobID == "r2" }
            #expect(r1?.status == .error && r1?.reason == .lost && r1?.signal == SIGKILL, "\(reported)")
            #expect(r2?.status == .completed && r2?.exitCode == 0, "a run that completes keeps its outcome: \(reported)")
            #expect(coordinator.agent.waitForExit(timeout: 10) == 0, "\(coordinator.agent.stderr)")
            #expect(!FileManager.default.fileExists(atPath: directory + "/h1"))
        }

        /// A coordinator from before RETURN (its WELCOME does not say `takes_returns`) gets what it expects:
        /// no RETURN, the runs the agent ends reported `cancelled`, held runs never started (lost at BYE).
        @Test func anOlderCoordinatorGetsNoReturn() throws {
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let context = ZMQContext()
            defer { context.terminate() }
            let coordinator = try FakeCoordinator(context: context, directory: directory, name: "older",
                                                  agentArguments: ["--prefetch", "2", "--stop-grace", "1"])
            defer { coordinator.close() }
            _ = try coordinator.hello()
            try coordinator.welcome("older")
            let stubborn = ["/bin/sh", "-c", "trap '' TERM; echo started > \(directory)/$PROC_JOB_ID; sleep 30"]
            try coordinator.send(.jobs(JobsMessage(jobs: [
                FakeCoordinator.job("r1", stubborn, directory: directory),
                FakeCoordinator.job("r2", stubborn, directory: directory),
                FakeCoordinator.job("h1", ["/bin/sh", "-c", "echo > \(directory)/h1"], directory: directory),
            ])))
            #expect(eventually(timeout: 20) {
                FileManager.default.fileExists(atPath: directory + "/r1") && FileManager.default.fileExists(atPath: directory + "/r2")
            }, "both slots run: \(coordinator.agent.stderr)")
            kill(coordinator.agent.pid, SIGTERM)
            let messages = try coordinator.collect(until: .bye)
            #expect(!messages.contains { $0.command == .returned }, "\(messages.map(\.command))")
            let reported = messages.flatMap(\.reportedResults)
            #expect(Set(reported.map(\.jobID)) == ["r1", "r2"] && reported.allSatisfy { $0.status == .cancelled },
                    "\(reported)")
            #expect(coordinator.agent.waitForExit(timeout: 10) == 0, "\(coordinator.agent.stderr)")
            #expect(!FileManager.default.fileExists(atPath: directory + "/h1"))
        }

        /// The whole path: held runs of a stopping agent finish on another agent as their second attempt,
        /// with no lost attempt counted: giving a run back is not losing it (before RETURN each counted one).
        /// The run it ended finishes there too, with one lost attempt, where it used to end `cancelled`.
        @Test func heldRunsFinishElsewhereWithNoAttemptLost() async throws {
            let cluster = try TestCluster(
                agents: [["--name", "leaving", "--slots", "1", "--prefetch", "2", "--stop-grace", "2"]])
            defer { cluster.stop() }
            func summaries(_ ids: [String]) throws -> [JobSummary] {
                let result = try cluster.procArgs(["status", "--json"] + ids)
                guard result.code == 0 else { throw TestError("proc status: \(result.stderr)") }
                return try JSONDecoder().decode(StatusReply.self, from: Data(result.stdout.utf8)).jobs
            }
            // Long on its first attempt only.
            let long = try cluster.submit("--", "sh", "-c", "[ \"$PROC_ATTEMPT\" != 1 ] || exec sleep 30")
            #expect(try eventually(timeout: 20) { try summaries([long]).first?.status == .running })
            let held = try (0..<2).map { _ in try cluster.submit("--", "true") }
            // Sent to the only agent, which holds them behind the long one.
            #expect(try eventually(timeout: 20) {
                try summaries(held).allSatisfy { $0.status == .running && $0.agentID == "leaving" }
            })
            _ = try cluster.addAgent(["--name", "staying", "--slots", "2"])
            #expect(try eventually(timeout: 20) { try cluster.agentCount() == 2 })

            #expect(cluster.agents[0].terminate(timeout: 20) == 0, "\(cluster.agents[0].stderr)")
            let wait = try cluster.procArgs(["wait", "--timeout", "30", long] + held)
            #expect(wait.code == 0, "\(wait.stdout)\(wait.stderr)")
            for job in try summaries([long] + held) {
                #expect(job.status == .completed && job.attempt == 2 && job.agentID == "staying", "\(job)")
            }
            for id in [long] + held {
                let record = try JSONDecoder().decode(
                    ResultReply.self, from: Data(try cluster.proc("result", id, "--json").stdout.utf8)).job
                #expect(record.lostAttempts == (id == long ? 1 : 0) && record.failures == 0, "\(id): \(record)")
            }
            let retrying = try await cluster.history().filter { $0.type == .jobRetrying }
            #expect(retrying.filter { held.contains($0.jobID ?? "") }.map(\.reason) == [ClusterState.returnedReason, ClusterState.returnedReason],
                    "\(retrying)")
            #expect(retrying.filter { $0.jobID == long }.map(\.reason) == [FailureReason.lost.rawValue], "\(retrying)")
            #expect(cluster.agents[0].stderr.contains("gave held runs back"), "\(cluster.agents[0].stderr)")
        }
    }
}
