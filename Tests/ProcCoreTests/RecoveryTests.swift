import ProcCore
import Testing

/// Issue 3 at the state machine: coordinator restart, duplicate deliveries, the loss budget.
@Suite struct RecoveryTests {
    private func runningJob(on agent: String, attempt: Int = 1) -> JobRecord {
        var job = JobRecord(id: "j1", number: 1, spec: JobSpec(argv: ["sleep", "1"]), submittedAt: 0)
        job.status = .running
        job.agentID = agent
        job.attempt = attempt
        return job
    }

    private func info(_ id: String, slots: Int = 2) -> AgentInfo {
        AgentInfo(id: id, hostname: "h", slots: slots, running: 0, labels: [:], joinedAt: 0, pid: 1)
    }

    @Test func anAgentThatComesBackAfterARestartKeepsItsRuns() throws {
        var state = ClusterState()
        state.restore(runningJob(on: "a1"))
        state.awaitReconnect(of: "a1", jobs: ["j1"])
        let effects = state.agentJoined(info("a1"), running: [RunRef(jobID: "j1", attempt: 1)])
        #expect(effects.contains { if case .event(let e) = $0 { e.type == .agentJoined } else { false } })
        #expect(!effects.contains { if case .event(let e) = $0 { e.type == .jobRetrying } else { false } })
        #expect(state.jobs["j1"]?.status == .running)
        #expect(state.agents["a1"]?.credits == 1, "one of two slots is still taken by j1")
        // Its result, delivered after the reconnect, is the outcome.
        let done = state.finished(RunResult(jobID: "j1", attempt: 1, status: .completed, exitCode: 0,
                                            startedAt: 0, finishedAt: 1), from: "a1")
        #expect(done.contains { if case .event(let e) = $0 { e.type == .jobCompleted } else { false } })
        #expect(state.agents["a1"]?.credits == 2)
        #expect(state.expireAwaitingAgents(reason: "late").isEmpty, "nobody is awaited any more")
    }

    @Test func aResultDeliveredTwiceIsRecordedOnce() {
        var state = ClusterState()
        _ = state.submit([JobSpec(argv: ["true"])], now: 0)
        _ = state.agentJoined(info("a1"))
        _ = state.schedule(now: 0)
        let result = RunResult(jobID: "j1", attempt: 1, status: .completed, exitCode: 0, startedAt: 0, finishedAt: 1)
        #expect(!state.finished(result, from: "a1").isEmpty)
        #expect(state.finished(result, from: "a1").isEmpty, "a resend is neither an outcome nor a late result")
        #expect(state.agents["a1"]?.credits == 2, "and frees no slot twice")
    }

    @Test func aResendAfterARetryIsNotALateResult() {
        var state = ClusterState()
        _ = state.submit([JobSpec(argv: ["false"], retries: 1)], now: 0)
        _ = state.agentJoined(info("a1"))
        _ = state.schedule(now: 0)
        let failed = RunResult(jobID: "j1", attempt: 1, status: .error, reason: .exit, exitCode: 1, startedAt: 0,
                               finishedAt: 1)
        _ = state.finished(failed, from: "a1")
        #expect(state.jobs["j1"]?.attempt == 2)
        #expect(state.finished(failed, from: "a1").isEmpty)
    }

    @Test func lostRunsAreCountedApartFromFailures() {
        var settings = ClusterSettings()
        settings.maxLostAttempts = 2
        var state = ClusterState(settings: settings)
        _ = state.submit([JobSpec(argv: ["false"], retries: 5)], now: 0)
        _ = state.agentJoined(info("a1"))
        // Three failures of its own...
        for attempt in 1...3 {
            _ = state.schedule(now: 0)
            _ = state.finished(RunResult(jobID: "j1", attempt: attempt, status: .error, reason: .exit, exitCode: 1,
                                         startedAt: 0, finishedAt: 1), from: "a1")
            state.requeue("j1")
        }
        #expect(state.jobs["j1"]?.attempt == 4)
        // ...then its agent is lost once: still retried (1 of 2 losses), then lost again: error/lost.
        _ = state.schedule(now: 0)
        _ = state.agentLeft("a1", reason: "gone")
        #expect(state.jobs["j1"]?.status == .pending)
        _ = state.agentJoined(info("a2"))
        _ = state.schedule(now: 0)
        _ = state.agentLeft("a2", reason: "gone")
        #expect(state.jobs["j1"]?.status == .error && state.jobs["j1"]?.reason == .lost)
        #expect(state.jobs["j1"]?.lostAttempts == 2)
    }

    @Test func aCancelAskedWhileTheAgentWasAwayIsAskedAgain() throws {
        var state = ClusterState()
        state.restore(runningJob(on: "a1"))
        state.awaitReconnect(of: "a1", jobs: ["j1"])
        let cancel = state.cancel(["j1"])
        #expect(cancel.reply.cancelled == ["j1"])
        let effects = state.agentJoined(info("a1"), running: [RunRef(jobID: "j1", attempt: 1)])
        let resent = effects.compactMap { if case .cancelRun(let agent, let run) = $0 { (agent, run.jobID) } else { nil } }
        #expect(resent.count == 1 && resent.first?.0 == "a1" && resent.first?.1 == "j1")
    }
}
