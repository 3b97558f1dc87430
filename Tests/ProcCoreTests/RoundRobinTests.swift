import ProcCore
import Testing

/// The agent a scheduling pass starts with rotates, so work submitted one job at a time spreads too.
@Suite struct RoundRobinTests {
    private func oneAtATime(_ state: inout ClusterState, count: Int) -> [String] {
        var agents: [String] = []
        for _ in 0..<count {
            state.add(job("x"))
            agents += state.schedule(now: t0).dispatches.map(\.agentID)
        }
        return agents
    }

    @Test func singleSubmissionsAlternateBetweenAgents() {
        var state = cluster(agentInfo("a1", slots: 4), agentInfo("a2", slots: 4))
        #expect(oneAtATime(&state, count: 4) == ["a1", "a2", "a1", "a2"])
    }

    @Test func fullAgentIsSkipped() {
        var state = cluster(agentInfo("a1", slots: 1), agentInfo("a2", slots: 3))
        #expect(oneAtATime(&state, count: 3) == ["a1", "a2", "a2"])
    }

    @Test
    func singleSubmissionsAlternateWhileAnotherJobIsBlocked() {
        var state = cluster(agentInfo("a1", slots: 4), agentInfo("a2", slots: 4))
        state.add(job("train", labels: ["gpu": "1"]))  // no agent can run it: it stays pending
        #expect(oneAtATime(&state, count: 4) == ["a1", "a2", "a1", "a2"])
    }
}

/// Prefetch: an agent takes runs beyond its slots, to start when one frees; free slots anywhere come
/// first.
@Suite struct PrefetchTests {
    private func prefetching(_ id: String, slots: Int, prefetch: Int) -> AgentInfo {
        var info = agentInfo(id, slots: slots)
        info.prefetch = prefetch
        return info
    }

    @Test func anAgentTakesItsSlotsPlusItsPrefetch() {
        var state = cluster(prefetching("a1", slots: 2, prefetch: 1))
        state.add(job("a"), job("b"), job("c"), job("d"))
        #expect(state.schedule(now: t0).dispatchedIDs == ["j1", "j2", "j3"])
        #expect(state.credits("a1") == 0)
        #expect(state.status("j4") == .pending)
        // One finishes: one more is sent (it waits on the agent behind the held one).
        _ = state.finished(runResult("j1"), from: "a1")
        #expect(state.schedule(now: t0).dispatchedIDs == ["j4"])
    }

    @Test func freeSlotsEverywhereComeBeforeAnyPrefetch() {
        var state = cluster(prefetching("a1", slots: 1, prefetch: 2), prefetching("a2", slots: 1, prefetch: 2))
        state.add(job("a"), job("b"))
        let first = state.schedule(now: t0).dispatches.map(\.agentID)
        #expect(first.sorted() == ["a1", "a2"], "one per free slot, not two on one agent")
        state.add(job("c"), job("d"), job("e"), job("f"), job("g"))
        let second = state.schedule(now: t0).dispatches.map(\.agentID)
        #expect(second.count == 4 && second.filter { $0 == "a1" }.count == 2)
        #expect(state.status("j7") == .pending)
    }

    @Test func heldRunsSurviveAReconnect() {
        var state = cluster(prefetching("a1", slots: 1, prefetch: 1))
        state.add(job("a"), job("b"))
        _ = state.schedule(now: t0)
        // The agent reconnects, saying it runs j1 and holds j2: both stay its runs, no credit is left.
        let effects = state.agentJoined(prefetching("a1", slots: 1, prefetch: 1),
                                        running: [RunRef(jobID: "j1", attempt: 1), RunRef(jobID: "j2", attempt: 1)])
        #expect(!effects.types.contains(.jobRetrying) && !effects.types.contains(.jobFailed))
        #expect(state.credits("a1") == 0)
        #expect(state.status("j1") == .running && state.status("j2") == .running)
    }

    /// A RESULT may change the prefetch an agent asks for (`setPrefetch`): more is sent at once; less lets
    /// the runs it holds end before anything more is sent.
    @Test func anAgentMayAskForMoreOrLessPrefetch() {
        var state = cluster(prefetching("a1", slots: 1, prefetch: 0))
        state.add(job("a"), job("b"), job("c"), job("d"), job("e"), job("f"))
        #expect(state.schedule(now: t0).dispatchedIDs == ["j1"])
        state.setPrefetch(3, of: "a1")
        #expect(state.schedule(now: t0).dispatchedIDs == ["j2", "j3", "j4"])
        #expect(state.agents["a1"]?.info.prefetch == 3 && state.credits("a1") == 0)
        state.setPrefetch(0, of: "a1")
        #expect(state.credits("a1") == -3)
        for id in ["j1", "j2", "j3"] {
            _ = state.finished(runResult(id), from: "a1")
            #expect(state.schedule(now: t0).dispatches.isEmpty, "after \(id): it still holds more than it asks for")
        }
        _ = state.finished(runResult("j4"), from: "a1")
        #expect(state.schedule(now: t0).dispatchedIDs == ["j5"])
        // Unknown agents are ignored.
        state.setPrefetch(5, of: "nobody")
        #expect(state.agents["nobody"] == nil)
    }

    /// A stopping agent gives back the runs it holds (RETURN): they run elsewhere at once as a new attempt,
    /// with nothing counted against the job, and the agent gets nothing more.
    @Test func heldRunsGivenBackRunElsewhereWithNoAttemptLost() {
        var state = cluster(prefetching("a1", slots: 1, prefetch: 2))
        state.add(job("a"), job("b"), job("c"), job("d"))
        #expect(state.schedule(now: t0).dispatchedIDs == ["j1", "j2", "j3"])
        // Its CANCEL crossed the RETURN on the way: it ends here.
        _ = state.cancel(["j3"])
        let effects = state.returned(
            [RunRef(jobID: "j2", attempt: 1), RunRef(jobID: "j3", attempt: 1), RunRef(jobID: "j1", attempt: 7),
             RunRef(jobID: "nope", attempt: 1)],
            stopping: true, from: "a1")
        #expect(effects.types == [.jobRetrying, .jobCancelled])
        let retrying = effects.events(.jobRetrying)[0]
        #expect(retrying.jobID == "j2" && retrying.attempt == 2 && retrying.reason == ClusterState.returnedReason)
        #expect(state.jobs["j2"]?.status == .pending && state.jobs["j2"]?.lostAttempts == 0
                && state.jobs["j2"]?.failures == 0)
        #expect(state.status("j3") == .cancelled)
        #expect(state.status("j1") == .running, "a run that is not the one given back goes on")
        #expect(state.queues["default"]?.running == 1 && state.queues["default"]?.pending == 2)
        #expect(state.schedule(now: t0).dispatches.isEmpty, "a stopping agent gets nothing more")
        _ = state.agentJoined(agentInfo("a2", slots: 2))
        let next = state.schedule(now: t0).dispatches
        #expect(next.map(\.agentID) == ["a2", "a2"])
        #expect(Set(next.map(\.assignment.jobID)) == ["j2", "j4"])
        #expect(next.first { $0.assignment.jobID == "j2" }?.assignment.attempt == 2)
        // From an agent the state does not know: nothing.
        #expect(state.returned([RunRef(jobID: "j4", attempt: 1)], stopping: true, from: "ghost").isEmpty)
    }

    /// A run its agent ended because it stopped comes back `error`/`lost`: the job runs again, as when an
    /// agent is lost, counted against `--max-attempts`, not `--retries`; the last allowed loss ends it.
    @Test func aRunEndedByItsAgentsStopIsLostNotFailed() {
        var settings = ClusterSettings()
        settings.maxLostAttempts = 2
        var state = cluster(agentInfo("a1", slots: 1), settings: settings)
        state.add(job("a"))
        _ = state.schedule(now: t0)
        let stopped = runResult("j1", status: .error, reason: .lost, signal: 15, message: "ended when agent a1 stopped")
        let first = state.finished(stopped, from: "a1")
        #expect(first.types == [.jobRetrying])
        #expect(first.events[0].reason == "lost" && first.events[0].attempt == 2)
        #expect(first.requeues.map(\.milliseconds) == [0])
        #expect(state.jobs["j1"]?.lostAttempts == 1 && state.jobs["j1"]?.failures == 0 && state.status("j1") == .pending)
        state.requeue("j1")
        #expect(state.schedule(now: t0).dispatchedIDs == ["j1"])
        var again = stopped
        again.attempt = 2
        let second = state.finished(again, from: "a1")
        #expect(second.types == [.jobFailed] && second.events[0].reason == "lost")
        #expect(state.jobs["j1"]?.status == .error && state.jobs["j1"]?.reason == .lost)
    }

    @Test func withoutPrefetchNothingIsSentBeyondTheSlots() {
        var state = cluster(agentInfo("a1", slots: 2))
        state.add(job("a"), job("b"), job("c"))
        #expect(state.schedule(now: t0).dispatchedIDs == ["j1", "j2"])
    }
}
