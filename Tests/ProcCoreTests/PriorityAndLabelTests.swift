import ProcCore
import Testing

@Suite struct PriorityAndLabelTests {
    @Test func higherPriorityFirstThenFIFO() {
        var state = ClusterState()
        state.add(
            job("low", priority: -1), job("mid-a"), job("high-a", priority: 5), job("mid-b", priority: 0),
            job("high-b", priority: 5))
        _ = state.agentJoined(agentInfo("a1", slots: 1))
        var order: [String] = []
        for _ in 0..<5 {
            let dispatched = state.schedule(now: t0).dispatches
            #expect(dispatched.count == 1)
            guard let assignment = dispatched.first?.assignment else { break }
            order.append(assignment.argv[0])
            _ = state.finished(runResult(assignment.jobID), from: "a1")
        }
        #expect(order == ["high-a", "high-b", "mid-a", "mid-b", "low"])
    }

    @Test func priorityAppliesAcrossLabelGroupsOfAQueue() {
        var state = cluster(agentInfo("a1", slots: 1, labels: ["gpu": "1"]))
        state.add(job("plain"), job("gpu", priority: 2, labels: ["gpu": "1"]))
        #expect(state.schedule(now: t0).dispatchedIDs == ["j2"])
    }

    @Test func labelledJobGoesOnlyToAnAgentWithTheLabel() {
        var state = cluster(agentInfo("cpu", slots: 4))
        state.add(job("train", labels: ["gpu": "1"]))
        #expect(state.schedule(now: t0).isEmpty)
        #expect(state.status("j1") == .pending)

        _ = state.agentJoined(agentInfo("gpu", slots: 1, labels: ["gpu": "1", "zone": "b"]))
        let effects = state.schedule(now: t0)
        #expect(effects.dispatches.map(\.agentID) == ["gpu"])
        #expect(effects.dispatchedIDs == ["j1"])
        #expect(state.credits("cpu") == 4)
    }

    @Test func labelValueMustMatch() {
        var state = cluster(agentInfo("a1", slots: 1, labels: ["gpu": "0"]))
        state.add(job("train", labels: ["gpu": "1"]))
        #expect(state.schedule(now: t0).isEmpty)
        #expect(state.status("j1") == .pending)
    }

    @Test func unlabelledJobsRunOnLabelledAgents() {
        var state = cluster(agentInfo("gpu", slots: 1, labels: ["gpu": "1"]))
        state.add(job("plain"))
        #expect(state.schedule(now: t0).dispatches.first?.agentID == "gpu")
    }

    @Test func blockedLabelledJobDoesNotBlockOthers() {
        var state = cluster(agentInfo("cpu", slots: 2))
        state.add(job("train", priority: 9, labels: ["gpu": "1"]), job("plain"))
        #expect(state.schedule(now: t0).dispatchedIDs == ["j2"])
        #expect(state.status("j1") == .pending)
    }
}
