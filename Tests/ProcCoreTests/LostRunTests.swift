@testable import ProcCore
import Testing

/// The one decision for runs that did not end by themselves (`ClusterState.settleLostRun`): lost with a
/// gone agent, ended by a stopping agent, or given back unstarted.
@Suite struct LostRunTests {
    var settings: ClusterSettings {
        var settings = ClusterSettings()
        settings.maxLostAttempts = 2
        return settings
    }

    func running(attempt: Int = 1, lost: Int = 0, cancelRequested: Bool = false) -> JobRecord {
        var job = JobRecord(id: "j1", number: 1, spec: JobSpec(argv: ["true"]), submittedAt: t0)
        job.status = .running
        job.attempt = attempt
        job.agentID = "a1"
        job.startedAt = t0 + 1
        job.lostAttempts = lost
        job.cancelRequested = cancelRequested
        return job
    }

    var stopped: RunResult {
        runResult("j1", status: .error, reason: .lost, signal: 15, message: "ended when agent a1 stopped")
    }

    @Test(arguments: [0, 1])
    func aGoneAgentsRunIsRetriedUntilItWasLostTooOften(lostBefore: Int) {
        var job = running(lost: lostBefore)
        let event = ClusterState.settleLostRun(&job, .agentGone(agentID: "a1", reason: "no heartbeat"), settings: settings, now: t0 + 3.5)
        #expect(job.lostAttempts == lostBefore + 1)
        if lostBefore == 0 {
            #expect(job.status == .pending && job.attempt == 2 && job.agentID == nil && job.startedAt == nil)
            #expect(event.type == .jobRetrying && event.reason == "lost" && event.attempt == 2)
            #expect(event.message == "agent a1 lost (no heartbeat); attempt 2 queued")
        } else {
            #expect(job.status == .error && job.reason == .lost && job.attempt == 1)
            #expect(event.type == .jobFailed && event.reason == "lost")
            #expect(event.message == "agent a1 lost (no heartbeat); the run was lost 2 times (at most 2)")
        }
    }

    @Test func aRunEndedByAStoppingAgentCountsAsLostNotFailed() {
        var job = running()
        let event = ClusterState.settleLostRun(&job, .endedByStop(stopped, agentID: "a1"), settings: settings, now: t0 + 3.5)
        #expect(job.status == .pending && job.failures == 0 && job.lostAttempts == 1)
        #expect(event.type == .jobRetrying && event.signal == 15)
        #expect(event.message == "attempt 1 ended when agent a1 stopped; attempt 2 queued")
        var last = running(attempt: 2, lost: 1)
        let failed = ClusterState.settleLostRun(&last, .endedByStop(stopped, agentID: "a1"), settings: settings, now: t0 + 3.5)
        #expect(last.status == .error && failed.type == .jobFailed && failed.duration == 2.5)
    }

    @Test func aRunGivenBackCountsAgainstNothing() {
        var job = running(lost: 1)
        let event = ClusterState.settleLostRun(&job, .returned(agentID: "a1"), settings: settings, now: t0 + 3.5)
        #expect(job.status == .pending && job.attempt == 2 && job.lostAttempts == 1 && job.failures == 0)
        #expect(event.type == .jobRetrying && event.reason == ClusterState.returnedReason)
    }

    @Test func aCancelAskedMeanwhileWinsWhateverHappened() {
        let losses: [(ClusterState.LostRun, String)] = [
            (.agentGone(agentID: "a1", reason: "BYE"), "agent a1 lost while cancelling"),
            (.endedByStop(stopped, agentID: "a1"), "cancelled"),
            (.returned(agentID: "a1"), "cancelled before it started"),
        ]
        for (loss, message) in losses {
            var job = running(lost: 1, cancelRequested: true)
            let event = ClusterState.settleLostRun(&job, loss, settings: settings, now: t0 + 3.5)
            #expect(job.status == .cancelled && job.attempt == 1 && job.lostAttempts == 1)
            #expect(event.type == .jobCancelled && event.message == message)
        }
    }
}
