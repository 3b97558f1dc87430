import ProcCore
import Testing

@Suite struct RetryTests {
    @Test func failedJobWithRetriesIsRetriedThenFails() throws {
        var state = cluster(agentInfo("a1", slots: 1))
        state.add(job("flaky", retries: 1))
        _ = state.schedule(now: t0)

        let first = state.finished(runResult("j1", status: .error, reason: .exit, exitCode: 2), from: "a1")
        #expect(first.types == [.jobRetrying])
        let retrying = try #require(first.events.first)
        #expect(retrying.status == .pending)
        #expect(retrying.attempt == 2)
        #expect(retrying.reason == "exit")
        #expect(retrying.exitCode == 2)
        let requeue = try #require(first.requeues.first)
        #expect(requeue.id == "j1")
        #expect(requeue.milliseconds == state.settings.retryBackoffMilliseconds)
        #expect(state.status("j1") == .pending)
        #expect(state.credits("a1") == 1)

        // Not schedulable before the backoff has passed.
        #expect(state.schedule(now: t0).isEmpty)
        state.requeue("j1")
        let second = state.schedule(now: t0)
        let dispatch = try #require(second.dispatches.first)
        #expect(dispatch.assignment.jobID == "j1")
        #expect(dispatch.assignment.attempt == 2)
        #expect(second.events(.jobStarted).first?.attempt == 2)

        let last = state.finished(runResult("j1", attempt: 2, status: .error, reason: .signal, signal: 9), from: "a1")
        #expect(last.types == [.jobFailed])
        #expect(last.requeues.isEmpty)
        #expect(last.events.first?.reason == "signal")
        #expect(state.status("j1") == .error)
        #expect(state.jobs["j1"]?.failures == 2)
        #expect(state.jobs["j1"]?.attempt == 2)
    }

    @Test func retriedJobCanSucceed() {
        var state = cluster(agentInfo("a1", slots: 1))
        state.add(job("flaky", retries: 3))
        _ = state.schedule(now: t0)
        _ = state.finished(runResult("j1", status: .error, reason: .timeout), from: "a1")
        state.requeue("j1")
        _ = state.schedule(now: t0)
        let effects = state.finished(runResult("j1", attempt: 2, exitCode: 0), from: "a1")
        #expect(effects.types == [.jobCompleted])
        #expect(state.status("j1") == .completed)
        #expect(state.jobs["j1"]?.reason == nil)
    }

    @Test func backoffDoublesAndIsCapped() {
        var settings = ClusterSettings()
        settings.retryBackoffMilliseconds = 100
        settings.retryBackoffCapMilliseconds = 350
        var state = cluster(agentInfo("a1", slots: 1), settings: settings)
        state.add(job("flaky", retries: 5))
        var delays: [Int] = []
        for attempt in 1...4 {
            _ = state.schedule(now: t0)
            let effects = state.finished(runResult("j1", attempt: attempt, status: .error, reason: .exit), from: "a1")
            delays += effects.requeues.map(\.milliseconds)
            state.requeue("j1")
        }
        #expect(delays == [100, 200, 350, 350])
    }

    @Test func retryCountsInQueueInfoAsPending() {
        var state = cluster(agentInfo("a1", slots: 1))
        state.add(job("flaky", queue: "q", retries: 1))
        _ = state.schedule(now: t0)
        _ = state.finished(runResult("j1", status: .error, reason: .exit), from: "a1")
        #expect(state.queueInfos() == [QueueInfo(name: "q", maxRunning: 0, pending: 1, running: 0)])
        state.requeue("j1")
        #expect(state.queueInfos() == [QueueInfo(name: "q", maxRunning: 0, pending: 1, running: 0)])
    }
}
