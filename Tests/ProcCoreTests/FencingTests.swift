import ProcCore
import Testing

/// Results are fenced by attempt: only the current attempt on its agent decides the outcome.
@Suite struct FencingTests {
    /// j1 attempt 1 on a1, a1 lost, attempt 2 running on a2.
    private func lostAndRetried() -> ClusterState {
        var state = cluster(agentInfo("a1", slots: 1))
        state.add(job("work"))
        _ = state.schedule(now: t0)
        _ = state.agentLeft("a1", reason: "heartbeat timeout")
        _ = state.agentJoined(agentInfo("a2", slots: 1))
        _ = state.schedule(now: t0)
        return state
    }

    @Test func resultOfAnOldAttemptIsALateResult() throws {
        var state = lostAndRetried()
        #expect(state.jobs["j1"]?.attempt == 2)
        #expect(state.jobs["j1"]?.agentID == "a2")
        let effects = state.finished(runResult("j1", attempt: 1, status: .error, reason: .exit, exitCode: 1), from: "a1")
        #expect(effects.count == 1)
        let late = try #require(effects.events.first)
        #expect(late.type == .jobLateResult)
        #expect(late.attempt == 1)
        #expect(late.agentID == "a1")
        #expect(late.exitCode == 1)
        #expect(late.status == .running)  // the job's own status, unchanged
        #expect(state.status("j1") == .running)
        #expect(state.jobs["j1"]?.attempt == 2)
        #expect(state.jobs["j1"]?.failures == 0)
        #expect(state.credits("a2") == 0)

        // The current attempt still decides.
        #expect(state.finished(runResult("j1", attempt: 2), from: "a2").types == [.jobCompleted])
        #expect(state.status("j1") == .completed)
    }

    @Test func resultOfTheRightAttemptFromTheWrongAgentIsLate() {
        var state = lostAndRetried()
        let effects = state.finished(runResult("j1", attempt: 2, status: .error, reason: .exit), from: "a1")
        #expect(effects.types == [.jobLateResult])
        #expect(state.status("j1") == .running)
    }

    @Test func lateResultAfterTheJobEndedDoesNotChangeTheOutcome() {
        var state = lostAndRetried()
        _ = state.finished(runResult("j1", attempt: 2, result: .string("good")), from: "a2")
        let effects = state.finished(runResult("j1", attempt: 1, status: .error, reason: .exit, result: .string("bad")),
                                     from: "a1")
        #expect(effects.types == [.jobLateResult])
        #expect(state.status("j1") == .completed)
        #expect(state.jobs["j1"]?.result == .string("good"))
    }

    /// Agents resend results until acknowledged (issue 3): the same result again is ignored, neither an
    /// outcome nor a late result.
    @Test func duplicateDeliveryIsIgnored() {
        var state = cluster(agentInfo("a1", slots: 1))
        state.add(job("work"))
        _ = state.schedule(now: t0)
        _ = state.finished(runResult("j1"), from: "a1")
        #expect(state.finished(runResult("j1"), from: "a1").types == [])
        #expect(state.credits("a1") == 1)  // not counted twice
    }
}
