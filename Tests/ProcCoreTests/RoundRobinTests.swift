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

    @Test func withoutPrefetchNothingIsSentBeyondTheSlots() {
        var state = cluster(agentInfo("a1", slots: 2))
        state.add(job("a"), job("b"), job("c"))
        #expect(state.schedule(now: t0).dispatchedIDs == ["j1", "j2"])
    }
}
