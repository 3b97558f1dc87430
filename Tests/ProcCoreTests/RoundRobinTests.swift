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
