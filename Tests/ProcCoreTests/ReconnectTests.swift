import ProcCore
import Testing

/// HELLO again after a reconnect, with the runs the agent still has (`running:`).
@Suite struct ReconnectTests {
    @Test func currentRunsAreKeptAndTheRestIsLost() throws {
        var state = cluster(agentInfo("a1", slots: 3))
        state.add(job("x"), job("y"))
        _ = state.schedule(now: t0)
        let effects = state.agentJoined(agentInfo("a1", slots: 3), running: [RunRef(jobID: "j1", attempt: 1)])
        // No agent.joined: the agent never really left. j2 it no longer runs: lost, retried.
        #expect(effects.types == [.jobRetrying])
        #expect(effects.events.first?.jobID == "j2")
        #expect(effects.events.first?.reason == "lost")
        #expect(state.status("j1") == .running)
        #expect(state.agents["a1"]?.running == ["j1"])
        #expect(state.credits("a1") == 2)
        #expect(state.agents.count == 1)

        #expect(state.finished(runResult("j1"), from: "a1").types == [.jobCompleted])
        #expect(state.credits("a1") == 3)
        let retry = try #require(state.schedule(now: t0).dispatches.first)
        #expect(retry.assignment.jobID == "j2")
        #expect(retry.assignment.attempt == 2)
    }

    @Test func reconnectKeepingEverythingEmitsNothing() {
        var state = cluster(agentInfo("a1", slots: 2))
        state.add(job("x"))
        _ = state.schedule(now: t0)
        let effects = state.agentJoined(agentInfo("a1", slots: 2), running: [RunRef(jobID: "j1", attempt: 1)])
        #expect(effects.isEmpty)
        #expect(state.credits("a1") == 1)
        #expect(state.status("j1") == .running)
    }

    @Test func reconnectWithNothingRunningLosesAllAndAnnouncesTheAgent() {
        var state = cluster(agentInfo("a1", slots: 2))
        state.add(job("x"))
        _ = state.schedule(now: t0)
        let effects = state.agentJoined(agentInfo("a1", slots: 2))
        #expect(effects.types == [.jobRetrying, .agentJoined])
        #expect(state.credits("a1") == 2)
        #expect(state.status("j1") == .pending)
        // A rejoin keeps one place in the round-robin.
        #expect(state.schedule(now: t0).dispatches.map(\.agentID) == ["a1"])
    }

    @Test func foreignRunsHoldSlotsUntilTheirLateResult() throws {
        var state = cluster(agentInfo("a1", slots: 1))
        state.add(job("work"))
        _ = state.schedule(now: t0)
        _ = state.agentLeft("a1", reason: "heartbeat timeout")  // j1 → attempt 2, pending
        let joined = state.agentJoined(agentInfo("a1", slots: 1), running: [RunRef(jobID: "j1", attempt: 1)])
        #expect(joined.types == [.agentJoined])
        #expect(state.agents["a1"]?.foreign == [RunRef(jobID: "j1", attempt: 1)])
        #expect(state.agents["a1"]?.running.isEmpty == true)
        #expect(state.credits("a1") == 0)
        #expect(state.schedule(now: t0).isEmpty)  // the only slot is held by the old run

        _ = state.agentJoined(agentInfo("a2", slots: 1))
        #expect(state.schedule(now: t0).dispatches.map(\.agentID) == ["a2"])

        let late = state.finished(runResult("j1", attempt: 1, status: .error, reason: .exit), from: "a1")
        #expect(late.types == [.jobLateResult])
        #expect(state.agents["a1"]?.foreign.isEmpty == true)
        #expect(state.credits("a1") == 1)
        #expect(state.status("j1") == .running)
        #expect(state.jobs["j1"]?.agentID == "a2")
    }

    @Test func foreignRunsNeverExceedSlots() {
        var state = cluster(agentInfo("a1", slots: 1))
        state.add(job("x"), job("y"))
        let refs = [RunRef(jobID: "j1", attempt: 7), RunRef(jobID: "j2", attempt: 7)]
        _ = state.agentJoined(agentInfo("a2", slots: 1), running: refs)
        #expect(state.credits("a2") == 0)
        #expect(state.agents["a2"]?.foreign.count == 2)
    }

    @Test
    func foreignRunOfAnUnknownJobFreesItsSlotWhenItEnds() {
        var state = ClusterState()
        _ = state.agentJoined(agentInfo("a1", slots: 1), running: [RunRef(jobID: "j77", attempt: 1)])
        #expect(state.credits("a1") == 0)
        _ = state.finished(runResult("j77"), from: "a1")
        #expect(state.agents["a1"]?.foreign.isEmpty == true)
        #expect(state.credits("a1") == 1)
    }

    @Test
    func lateResultFreesTheForeignSlotNotTheCurrentRun() {
        var state = cluster(agentInfo("a1", slots: 2))
        state.add(job("work"))
        _ = state.schedule(now: t0)
        _ = state.agentLeft("a1", reason: "heartbeat timeout")  // j1 → attempt 2, pending
        _ = state.agentJoined(agentInfo("a1", slots: 2), running: [RunRef(jobID: "j1", attempt: 1)])
        #expect(state.schedule(now: t0).dispatches.first?.assignment.attempt == 2)  // back on a1
        #expect(state.credits("a1") == 0)

        #expect(state.finished(runResult("j1", attempt: 1, status: .error), from: "a1").types == [.jobLateResult])
        #expect(state.agents["a1"]?.running == ["j1"])  // attempt 2 still runs there
        #expect(state.agents["a1"]?.foreign.isEmpty == true)
        #expect(state.credits("a1") == 1)

        // If the agent is now lost, attempt 2 is lost with it.
        let effects = state.agentLeft("a1", reason: "gone")
        #expect(effects.types == [.agentLeft, .jobRetrying])
        #expect(state.status("j1") == .pending)
    }
}
