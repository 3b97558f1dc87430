import ProcCore
import Testing

@Suite struct QueryAndRestoreTests {
    @Test func countsCoverEveryStatusOverallAndPerQueue() {
        var state = cluster(agentInfo("a1", slots: 2))
        state.add(job("r", queue: "q"), job("done", queue: "q"), job("p", queue: "q"), job("x", queue: "other"))
        _ = state.setQueueLimit("q", maxRunning: 2)
        _ = state.schedule(now: t0)  // j1, j2 run (limit 2); j4 in "other" takes nothing: no credit left
        _ = state.finished(runResult("j2"), from: "a1")
        _ = state.cancel(["j4"])
        #expect(state.counts() == ["pending": 1, "running": 1, "completed": 1, "error": 0, "cancelled": 1])
        #expect(state.counts(queue: "q") == ["pending": 1, "running": 1, "completed": 1, "error": 0, "cancelled": 0])
        #expect(state.counts(queue: "none") == ["pending": 0, "running": 0, "completed": 0, "error": 0, "cancelled": 0])
    }

    @Test func queueInfosAreSortedByName() {
        var state = cluster(agentInfo("a1", slots: 1))
        state.add(job("1", queue: "zeta"), job("2", queue: "alpha"), job("3"))
        _ = state.setQueueLimit("alpha", maxRunning: 3)
        _ = state.schedule(now: t0)
        #expect(state.queueInfos().map(\.name) == ["alpha", "default", "zeta"])
        #expect(state.queueInfos().reduce(0) { $0 + $1.running } == 1)
        #expect(state.queueInfos().reduce(0) { $0 + $1.pending } == 2)
        #expect(state.queueInfos().first?.maxRunning == 3)
    }

    @Test func agentInfosReportRunningCounts() {
        var state = cluster(agentInfo("b", slots: 2), agentInfo("a", slots: 2, labels: ["gpu": "1"]))
        state.add(job("x"), job("y"), job("z"))
        _ = state.schedule(now: t0)
        let infos = state.agentInfos()
        #expect(infos.map(\.id) == ["a", "b"])
        #expect(infos.map(\.running).reduce(0, +) == 3)
        #expect(infos.first?.labels == ["gpu": "1"])
        #expect(infos.first?.slots == 2)
        #expect(infos.first?.hostname == "host-a")
    }

    @Test func restoreRequeuesPendingAndCountsRunning() throws {
        var pending = JobRecord(id: "j5", number: 5, spec: job("p", queue: "q"), submittedAt: t0)
        pending.attempt = 2
        var running = JobRecord(id: "j3", number: 3, spec: job("r", queue: "q"), submittedAt: t0)
        running.status = .running
        running.agentID = "old"
        var done = JobRecord(id: "j4", number: 4, spec: job("d", queue: "q"), submittedAt: t0)
        done.status = .completed

        var state = ClusterState()
        for record in [pending, running, done] { state.restore(record) }
        #expect(state.lastJobNumber == 5)
        #expect(state.jobs.count == 3)
        #expect(state.queueInfos() == [QueueInfo(name: "q", maxRunning: 0, pending: 1, running: 1)])
        #expect(state.counts() == ["pending": 1, "running": 1, "completed": 1, "error": 0, "cancelled": 0])

        // New jobs continue the numbering.
        #expect(state.add(job("new")) == ["j6"])

        _ = state.agentJoined(agentInfo("a1", slots: 2))
        let dispatches = state.schedule(now: t0).dispatches
        #expect(dispatches.map(\.assignment.jobID) == ["j5", "j6"])
        #expect(dispatches.first?.assignment.attempt == 2)
    }

    @Test func restoredRunsOfAGoneAgentAreLost() throws {
        var running = JobRecord(id: "j1", number: 1, spec: job("r"), submittedAt: t0)
        running.status = .running
        running.agentID = "old"
        var state = ClusterState()
        state.restore(running)
        state.awaitReconnect(of: "old", jobs: ["j1"])
        #expect(state.agentInfos().isEmpty, "an agent awaited after a restart is not listed as joined")
        let effects = state.expireAwaitingAgents(reason: "did not reconnect after the coordinator restarted")
        #expect(effects.types == [.agentLeft, .jobRetrying])
        #expect(state.status("j1") == .pending)
        #expect(state.jobs["j1"]?.attempt == 2)
        #expect(state.queueInfos().first?.running == 0)
        #expect(state.queueInfos().first?.pending == 1)
    }
}

@Suite struct NewestJobsTests {
    @Test func newestFirstBoundedAndFilteredByQueue() {
        var state = ClusterState()
        let specs = (0..<10).map { JobSpec(argv: ["true"], queue: $0 % 2 == 0 ? "even" : nil) }
        let ids = state.submit(specs, now: 0).ids
        #expect(state.newestJobs(limit: 3).map(\.id) == Array(ids.suffix(3).reversed()))
        #expect(state.newestJobs(limit: 100).count == 10)
        let even = state.newestJobs(limit: 2, queue: "even").map(\.id)
        #expect(even == [ids[8], ids[6]])
        #expect(state.newestJobs(limit: 0).isEmpty)
    }
}
