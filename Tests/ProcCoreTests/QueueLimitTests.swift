import ProcCore
import Testing

@Suite struct QueueLimitTests {
    @Test func setQueueLimitEmitsQueueUpdated() throws {
        var state = ClusterState()
        let effects = state.setQueueLimit("q", maxRunning: 2)
        let event = try #require(effects.events.first)
        #expect(event.type == .queueUpdated)
        #expect(event.queue == "q")
        #expect(event.maxRunning == 2)
        // A negative limit is clamped to 0 (no limit).
        #expect(state.setQueueLimit("q", maxRunning: -5).events.first?.maxRunning == 0)
        #expect(state.queueInfos() == [QueueInfo(name: "q", maxRunning: 0, pending: 0, running: 0)])
    }

    @Test func queueLimitCapsRunningJobsAcrossTheCluster() {
        var state = cluster(agentInfo("a1", slots: 10))
        _ = state.setQueueLimit("q", maxRunning: 2)
        let ids = state.submit((1...5).map { job("work", "\($0)", queue: "q") }, now: t0).ids
        let first = state.schedule(now: t0)
        #expect(first.dispatchedIDs == Array(ids.prefix(2)))
        #expect(state.queueInfos() == [QueueInfo(name: "q", maxRunning: 2, pending: 3, running: 2)])
        #expect(state.credits("a1") == 8)
        // Still at the limit: nothing more.
        #expect(state.schedule(now: t0).isEmpty)

        _ = state.finished(runResult(ids[0]), from: "a1")
        let second = state.schedule(now: t0)
        #expect(second.dispatchedIDs == [ids[2]])
        #expect(state.queueInfos().first?.running == 2)
        #expect(state.queueInfos().first?.pending == 2)
    }

    @Test func raisingOrRemovingTheLimitLetsMoreRun() {
        var state = cluster(agentInfo("a1", slots: 10))
        _ = state.setQueueLimit("q", maxRunning: 1)
        _ = state.submit((1...3).map { _ in job("work", queue: "q") }, now: t0)
        #expect(state.schedule(now: t0).dispatches.count == 1)
        _ = state.setQueueLimit("q", maxRunning: 0)
        #expect(state.schedule(now: t0).dispatches.count == 2)
    }

    @Test func limitOfOneQueueDoesNotBlockAnother() {
        var state = cluster(agentInfo("a1", slots: 10))
        _ = state.setQueueLimit("slow", maxRunning: 1)
        state.add(job("a", queue: "slow"), job("b", queue: "slow"), job("c", queue: "fast"), job("d"))
        let effects = state.schedule(now: t0)
        #expect(Set(effects.dispatchedIDs) == ["j1", "j3", "j4"])
        #expect(state.status("j2") == .pending)
    }

    @Test func agentSlotsAreRespected() {
        var state = cluster(agentInfo("a1", slots: 2))
        _ = state.submit((1...5).map { _ in job("work") }, now: t0)
        #expect(state.schedule(now: t0).dispatchedIDs == ["j1", "j2"])
        #expect(state.credits("a1") == 0)
        #expect(state.schedule(now: t0).isEmpty)
        _ = state.finished(runResult("j2"), from: "a1")
        #expect(state.credits("a1") == 1)
        #expect(state.schedule(now: t0).dispatchedIDs == ["j3"])
        #expect(state.credits("a1") == 0)
        #expect(state.agents["a1"]?.running == ["j1", "j3"])
    }

    @Test func agentsAreServedRoundRobin() {
        var state = cluster(agentInfo("a1", slots: 4), agentInfo("a2", slots: 4))
        state.add(job("x"), job("y"))
        let effects = state.schedule(now: t0)
        #expect(effects.dispatches.count == 2)
        #expect(Set(effects.dispatches.map(\.agentID)) == ["a1", "a2"])
        #expect(state.credits("a1") == 3)
        #expect(state.credits("a2") == 3)
    }

    @Test func aLargerBatchSpreadsEvenly() {
        var state = cluster(agentInfo("a1", slots: 4), agentInfo("a2", slots: 4), agentInfo("a3", slots: 4))
        _ = state.submit((1...6).map { _ in job("work") }, now: t0)
        let perAgent = Dictionary(grouping: state.schedule(now: t0).dispatches, by: \.agentID).mapValues(\.count)
        #expect(perAgent == ["a1": 2, "a2": 2, "a3": 2])
    }

    @Test func agentWithZeroSlotsGetsNothing() {
        var state = cluster(agentInfo("a0", slots: 0))
        state.add(job("work"))
        #expect(state.schedule(now: t0).isEmpty)
        #expect(state.status("j1") == .pending)
    }
}
