import ProcCore
import Testing

@Suite struct CancellationTests {
    @Test func pendingJobIsCancelledAtOnceAndNeverDispatched() throws {
        var state = ClusterState()
        state.add(job("a"), job("b"))
        let (reply, unknown, effects) = state.cancel(["j1"])
        #expect(reply.cancelled == ["j1"])
        #expect(reply.alreadyFinal.isEmpty)
        #expect(unknown.isEmpty)
        let event = try #require(effects.events.first)
        #expect(effects.count == 1)
        #expect(event.type == .jobCancelled)
        #expect(event.status == .cancelled)
        #expect(event.jobID == "j1")
        #expect(state.status("j1") == .cancelled)
        #expect(state.queueInfos().first?.pending == 1)

        _ = state.agentJoined(agentInfo("a1", slots: 4))
        #expect(state.schedule(now: t0).dispatchedIDs == ["j2"])
        #expect(state.schedule(now: t0).isEmpty)
        #expect(state.status("j1") == .cancelled)
        #expect(state.credits("a1") == 3)
    }

    @Test func runningJobGetsCancelRunWithAttemptAndGrace() throws {
        var settings = ClusterSettings()
        settings.cancelGraceMilliseconds = 1_234
        var state = cluster(agentInfo("a1", slots: 1), settings: settings)
        state.add(job("sleep", "100"))
        _ = state.schedule(now: t0)
        let (reply, unknown, effects) = state.cancel(["j1"])
        #expect(reply.cancelled == ["j1"])
        #expect(unknown.isEmpty)
        // The outcome waits for the agent; that it was asked is journaled (and published) at once.
        #expect(effects.types == [.jobCancelRequested] && effects.events.first?.status == .running)
        let cancel = try #require(effects.cancelRuns.first)
        #expect(effects.count == 2)
        #expect(cancel.agentID == "a1")
        #expect(cancel.cancel == CancelRun(jobID: "j1", attempt: 1, graceMilliseconds: 1_234))
        #expect(state.status("j1") == .running)
        #expect(state.jobs["j1"]?.cancelRequested == true)

        // Asking again sends nothing new.
        let again = state.cancel(["j1"])
        #expect(again.reply.cancelled == ["j1"])
        #expect(again.effects.isEmpty)
    }

    @Test(arguments: [
        (JobStatus.error, FailureReason?.some(.signal), Int32?.some(15)),
        (JobStatus.error, FailureReason?.some(.exit), Int32?.none),
        (JobStatus.cancelled, FailureReason?.none, Int32?.some(9)),
    ])
    func cancelRequestedWinsOverTheRunsOwnOutcome(status: JobStatus, reason: FailureReason?, signal: Int32?) throws {
        var state = cluster(agentInfo("a1", slots: 1))
        state.add(job("sleep", "100", retries: 3))
        _ = state.schedule(now: t0)
        _ = state.cancel(["j1"])
        let effects = state.finished(
            runResult("j1", status: status, reason: reason, exitCode: signal == nil ? 143 : nil, signal: signal),
            from: "a1")
        #expect(effects.types == [.jobCancelled])
        #expect(effects.requeues.isEmpty)  // a cancelled job is not retried
        let event = try #require(effects.events.first)
        #expect(event.status == .cancelled)
        #expect(event.signal == signal)
        #expect(state.status("j1") == .cancelled)
        #expect(state.credits("a1") == 1)
        #expect(state.queueInfos().first?.running == 0)
    }

    @Test func completionBeforeTheCancelLandsStaysCompleted() {
        var state = cluster(agentInfo("a1", slots: 1))
        state.add(job("work"))
        _ = state.schedule(now: t0)
        _ = state.cancel(["j1"])
        let effects = state.finished(runResult("j1", exitCode: 0), from: "a1")
        #expect(effects.types == [.jobCompleted])
        #expect(state.status("j1") == .completed)
    }

    @Test func finalJobsAreAlreadyFinalAndUnknownIdsAreReturned() {
        var state = cluster(agentInfo("a1", slots: 1))
        state.add(job("work"))
        _ = state.schedule(now: t0)
        _ = state.finished(runResult("j1"), from: "a1")
        let (reply, unknown, effects) = state.cancel(["j1", "nope", "j404"])
        #expect(reply.cancelled.isEmpty)
        #expect(reply.alreadyFinal == ["j1"])
        #expect(unknown == ["nope", "j404"])
        #expect(effects.isEmpty)
        #expect(state.status("j1") == .completed)
    }

    @Test func cancelQueueCancelsPendingAndRunningOfThatQueueOnly() {
        var state = cluster(agentInfo("a1", slots: 1))
        state.add(job("r", queue: "batch"), job("p", queue: "batch"), job("other", queue: "web"))
        #expect(state.schedule(now: t0).dispatchedIDs == ["j1"])
        let (reply, effects) = state.cancel(queue: "batch")
        #expect(reply.cancelled == ["j1", "j2"])
        #expect(reply.alreadyFinal.isEmpty)
        #expect(effects.cancelRuns.map(\.cancel.jobID) == ["j1"])
        #expect(effects.events(.jobCancelled).map(\.jobID) == ["j2"])
        #expect(state.status("j2") == .cancelled)
        #expect(state.status("j3") == .pending)
        #expect(state.cancel(queue: "empty").reply.cancelled.isEmpty)
    }

    @Test func cancelWhileAwaitingRetryEndsTheJob() {
        var state = cluster(agentInfo("a1", slots: 1))
        state.add(job("flaky", retries: 2))
        _ = state.schedule(now: t0)
        _ = state.finished(runResult("j1", status: .error, reason: .exit, exitCode: 1), from: "a1")
        #expect(state.status("j1") == .pending)
        let (reply, _, effects) = state.cancel(["j1"])
        #expect(reply.cancelled == ["j1"])
        #expect(effects.types == [.jobCancelled])
        state.requeue("j1")  // the backoff timer fires afterwards: nothing happens
        #expect(state.schedule(now: t0).isEmpty)
        #expect(state.status("j1") == .cancelled)
        #expect(state.queueInfos().first?.pending == 0)
    }
}
