import ProcCore
import Testing

@Suite struct AgentLossTests {
    @Test func agentLeftRequeuesItsRunningJobWithTheNextAttempt() throws {
        var state = cluster(agentInfo("a1", slots: 2))
        state.add(job("work"))
        _ = state.schedule(now: t0)
        let effects = state.agentLeft("a1", reason: "heartbeat timeout")
        #expect(effects.types == [.agentLeft, .jobRetrying])
        let left = try #require(effects.events.first)
        #expect(left.agentID == "a1")
        #expect(left.reason == "heartbeat timeout")
        #expect(left.hostname == "host-a1")
        let retrying = try #require(effects.events(.jobRetrying).first)
        #expect(retrying.jobID == "j1")
        #expect(retrying.status == .pending)
        #expect(retrying.attempt == 2)
        #expect(retrying.reason == "lost")
        #expect(state.status("j1") == .pending)
        #expect(state.jobs["j1"]?.agentID == nil)
        #expect(state.agents["a1"] == nil)
        #expect(state.agentInfos().isEmpty)
        #expect(state.queueInfos().first?.running == 0)
        #expect(state.queueInfos().first?.pending == 1)

        // Another agent picks it up as attempt 2.
        _ = state.agentJoined(agentInfo("a2", slots: 1))
        let dispatch = try #require(state.schedule(now: t0).dispatches.first)
        #expect(dispatch.agentID == "a2")
        #expect(dispatch.assignment.attempt == 2)
    }

    @Test func lostTooOftenTheJobFails() throws {
        var settings = ClusterSettings()
        settings.maxLostAttempts = 2
        var state = ClusterState(settings: settings)
        state.add(job("work"))
        _ = state.agentJoined(agentInfo("a1", slots: 1))
        _ = state.schedule(now: t0)
        #expect(state.agentLeft("a1", reason: "gone").types == [.agentLeft, .jobRetrying])

        _ = state.agentJoined(agentInfo("a2", slots: 1))
        #expect(state.schedule(now: t0).dispatches.first?.assignment.attempt == 2)
        let effects = state.agentLeft("a2", reason: "gone")
        #expect(effects.types == [.agentLeft, .jobFailed])
        let failed = try #require(effects.events(.jobFailed).first)
        #expect(failed.reason == "lost")
        #expect(failed.status == .error)
        #expect(state.status("j1") == .error)
        #expect(state.jobs["j1"]?.reason == .lost)
    }

    @Test func lostWhileCancellingEndsCancelled() {
        var state = cluster(agentInfo("a1", slots: 1))
        state.add(job("work"))
        _ = state.schedule(now: t0)
        _ = state.cancel(["j1"])
        let effects = state.agentLeft("a1", reason: "gone")
        #expect(effects.types == [.agentLeft, .jobCancelled])
        #expect(state.status("j1") == .cancelled)
    }

    @Test func unknownAgentLeavingDoesNothing() {
        var state = cluster(agentInfo("a1", slots: 1))
        #expect(state.agentLeft("ghost", reason: "?").isEmpty)
        #expect(state.agents.count == 1)
    }

    @Test func otherAgentsJobsAreUntouched() {
        var state = cluster(agentInfo("a1", slots: 1), agentInfo("a2", slots: 1))
        state.add(job("x"), job("y"))
        let dispatched = state.schedule(now: t0).dispatches
        let onA2 = dispatched.first { $0.agentID == "a2" }!.assignment.jobID
        let onA1 = dispatched.first { $0.agentID == "a1" }!.assignment.jobID
        _ = state.agentLeft("a1", reason: "bye")
        #expect(state.status(onA2) == .running)
        #expect(state.status(onA1) == .pending)
        // The survivor runs it after its own job is done.
        _ = state.finished(runResult(onA2), from: "a2")
        #expect(state.schedule(now: t0).dispatches.map(\.agentID) == ["a2"])
    }
}
