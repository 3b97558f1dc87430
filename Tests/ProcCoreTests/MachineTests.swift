import Glibc
import ProcCore
import Testing

/// The protocol's timing rules, as machines with the clock given: heartbeats and liveness (both sides),
/// reconnect backoff, and the two holds (commits on the coordinator, results on the agent).
@Suite struct PeerLivenessTests {
    @Test func aQuietLinkIsHeartbeatedAndASilentOneIsLost() {
        var link = PeerLiveness(intervalMilliseconds: 1_000, liveness: 3, now: 0)
        #expect(link.check(at: 999) == .none)
        #expect(link.check(at: 1_000) == .sendHeartbeat)
        link.sent(at: 1_000)
        #expect(link.check(at: 1_500) == .none)
        #expect(link.check(at: 3_000) == .sendHeartbeat)
        link.sent(at: 3_000)
        #expect(link.check(at: 3_000) == .none, "silent for exactly the window: not yet")
        #expect(link.check(at: 3_001) == .lost(silentMilliseconds: 3_001))
        link.heard(at: 3_001)
        #expect(link.check(at: 3_500) == .none)
    }

    @Test func aWelcomeChangesTheSettingsNotTheClocks() {
        var link = PeerLiveness(intervalMilliseconds: 1_000, liveness: 3, now: 0)
        link.reconfigure(intervalMilliseconds: 100, liveness: 2)
        #expect(link.check(at: 100) == .sendHeartbeat)
        #expect(link.check(at: 201) == .lost(silentMilliseconds: 201))
    }

    @Test func tickingFollowsTheInterval() {
        #expect(PeerLiveness.tickMilliseconds(interval: 1_000) == 200)
        #expect(PeerLiveness.tickMilliseconds(interval: 200) == 50)
        #expect(PeerLiveness.tickMilliseconds(interval: 10) == 10)
    }
}

@Suite struct ReconnectBackoffTests {
    @Test func itDoublesToItsCapWithJitterAndAWelcomeStartsItOver() {
        var backoff = ReconnectBackoff(minimumMilliseconds: 1_000, maximumMilliseconds: 32_000)
        let noJitter = { (_: ClosedRange<Int>) in 0 }
        #expect((0..<7).map { _ in backoff.delay(jitter: noJitter) } == [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 32_000])
        backoff.reset()
        var offered: [ClosedRange<Int>] = []
        let delay = backoff.delay { range in
            offered.append(range)
            return range.upperBound
        }
        #expect(delay == 1_250 && offered == [0...250], "up to a quarter more")
    }

    @Test func aMaximumBelowTheMinimumIsTheOnlyWait() {
        var backoff = ReconnectBackoff(minimumMilliseconds: 1_000, maximumMilliseconds: 10)
        #expect(backoff.delay { _ in 0 } == 10)
        #expect(backoff.delay { _ in 0 } == 10)
    }
}

@Suite struct CommitHoldTests {
    func batch(changes: Bool = true, urgent: Bool = false, events: Int = 10, agentsCanWait: Bool = true,
               inFlight: Bool = true) -> CommitHold.Batch {
        CommitHold.Batch(hasChanges: changes, hasUrgentSends: urgent, events: events, agentsCanWait: agentsCanWait,
                         runsInFlight: inFlight)
    }

    @Test func aBatchNobodyWaitsOnWaitsUpToTheHold() {
        var hold = CommitHold(holdMilliseconds: 2)
        #expect(hold.decide(batch(), now: 100) == .hold(wakeAt: 102))
        #expect(hold.decide(batch(), now: 101) == .hold(wakeAt: nil), "the wake-up is asked for once")
        #expect(hold.decide(batch(), now: 102) == .commit)
        #expect(hold.heldSince == nil)
        #expect(hold.decide(batch(), now: 103) == .hold(wakeAt: 105), "a new batch holds anew")
    }

    @Test func anythingWaitingOnTheCommitCommitsAtOnce() {
        var hold = CommitHold(holdMilliseconds: 2)
        #expect(hold.decide(batch(urgent: true), now: 0) == .commit)
        #expect(hold.decide(batch(agentsCanWait: false), now: 0) == .commit)
        #expect(hold.decide(batch(events: CommitHold.maxHeldEvents), now: 0) == .commit)
        #expect(hold.decide(batch(changes: false), now: 0) == .commit)
        #expect(hold.decide(batch(inFlight: false), now: 0) == .commit, "the last run's end: nothing would share it")
        var never = CommitHold(holdMilliseconds: 0)
        #expect(never.decide(batch(), now: 0) == .commit, "0: never")
        _ = hold.decide(batch(), now: 10)
        #expect(hold.decide(batch(urgent: true), now: 11) == .commit, "a reply arriving ends the hold")
        #expect(hold.heldSince == nil)
    }
}

@Suite struct ResultHoldTests {
    @Test func resultsWaitOnlyWhileEverySlotRunsShortJobs() {
        var hold = ResultHold(holdMilliseconds: 2)
        #expect(hold.decide(unsent: 1, slotsBusy: true, runsAreShort: true, stopping: false, now: 0) == .hold(wakeAt: 2))
        #expect(hold.decide(unsent: 2, slotsBusy: true, runsAreShort: true, stopping: false, now: 1) == .hold(wakeAt: nil))
        #expect(hold.decide(unsent: 3, slotsBusy: true, runsAreShort: true, stopping: false, now: 2) == .send)
        for (busy, short, stopping) in [(false, true, false), (true, false, false), (true, true, true)] {
            var fresh = ResultHold(holdMilliseconds: 2)
            #expect(fresh.decide(unsent: 1, slotsBusy: busy, runsAreShort: short, stopping: stopping, now: 0) == .send)
        }
        var full = ResultHold(holdMilliseconds: 2)
        #expect(full.decide(unsent: ResultHold.maxHeld, slotsBusy: true, runsAreShort: true, stopping: false, now: 0) == .send)
    }
}

/// The agent's run lifecycle (`AgentRuns`): launch, hold, cancel, timeout, exit and outcome, give-back
/// and stop, with the actions it asks the agent's I/O code to carry out.
@Suite struct AgentRunsTests {
    func assignment(_ id: String, attempt: Int = 1, timeout: Double? = nil, grace: Int? = nil) -> Assignment {
        Assignment(jobID: id, attempt: attempt, argv: ["true"], env: nil, cwd: nil, timeout: timeout, queue: "default",
                   killGraceMilliseconds: grace)
    }

    func machine(slots: Int = 1, takesReturns: Bool = true) -> AgentRuns {
        var runs = AgentRuns(slots: slots, agentName: "a1", gauge: PrefetchGauge(base: 1, whileShort: 4))
        runs.coordinatorTakesReturns = takesReturns
        return runs
    }

    func reported(_ actions: [AgentRuns.Action]) -> [RunResult] {
        actions.compactMap { if case .report(let result) = $0 { result } else { nil } }
    }

    @Test func aRunStartsWhileASlotIsFreeAndIsHeldOtherwise() {
        var runs = machine(slots: 1)
        #expect(runs.assigned(assignment("j1"), now: t0) == [.spawn(assignment("j1"))])
        #expect(runs.assigned(assignment("j2"), now: t0) == [])
        #expect(runs.held.map(\.jobID) == ["j2"])
        #expect(runs.assigned(assignment("j1"), now: t0) == [], "a duplicate dispatch never runs twice")
        #expect(runs.spawned("j1", pid: 100) == [])
        // j1 exits: the freed slot goes to j2 first, then j1's result is reported.
        let actions = runs.exited("j1", .exited(0), output: .empty, spawnFailure: nil, now: t0 + 0.001)
        #expect(actions.count == 2)
        #expect(actions.first == .spawn(assignment("j2")))
        #expect(reported(actions).map(\.status) == [.completed])
        #expect(runs.started == 2)
    }

    @Test func aRunWithATimeoutAsksForItsTimer() {
        var runs = machine()
        _ = runs.assigned(assignment("j1", timeout: 1.5), now: t0)
        #expect(runs.spawned("j1", pid: 100) == [.timeoutLater(RunRef(jobID: "j1", attempt: 1), afterMilliseconds: 1_500)])
        #expect(runs.timedOut(RunRef(jobID: "j1", attempt: 1)) == [
            .signal(pid: 100, signal: SIGTERM), .killLater(pid: 100, afterMilliseconds: AgentRuns.defaultGraceMilliseconds),
        ])
        #expect(runs.timedOut(RunRef(jobID: "j1", attempt: 2)) == [], "another attempt's timer")
        let result = reported(runs.exited("j1", .signaled(SIGTERM), output: .empty, spawnFailure: nil, now: t0 + 2))
        #expect(result.first?.status == .error && result.first?.reason == .timeout
                && result.first?.message == "timed out after 1.5 s")
    }

    @Test func aCancelEndsAHeldRunAtOnceAndARunningOneInSteps() {
        var runs = machine(slots: 1)
        _ = runs.assigned(assignment("j1"), now: t0)
        _ = runs.spawned("j1", pid: 100)
        _ = runs.assigned(assignment("j2"), now: t0)
        let held = runs.cancel(CancelRun(jobID: "j2", attempt: 1, graceMilliseconds: 50), now: t0 + 1)
        #expect(reported(held).map(\.message) == ["cancelled before it started"])
        #expect(runs.held.isEmpty)
        #expect(runs.cancel(CancelRun(jobID: "j1", attempt: 1, graceMilliseconds: 50), now: t0 + 1)
                == [.signal(pid: 100, signal: SIGTERM), .killLater(pid: 100, afterMilliseconds: 50)])
        #expect(runs.cancel(CancelRun(jobID: "j1", attempt: 9, graceMilliseconds: 50), now: t0 + 1) == [],
                "a cancel for another attempt")
        // Whatever the process did, a cancelled run ends cancelled.
        let result = reported(runs.exited("j1", .exited(0), output: .empty, spawnFailure: nil, now: t0 + 2))
        #expect(result.first?.status == .cancelled)
    }

    @Test func aSpawnThatFailsIsReportedAndFreesTheSlot() {
        var runs = machine(slots: 1)
        _ = runs.assigned(assignment("j1"), now: t0)
        _ = runs.assigned(assignment("j2"), now: t0)
        let actions = runs.spawnFailed("j1", message: "could not start true: No such file", now: t0)
        #expect(actions.first == .spawn(assignment("j2")))
        let result = reported(actions).first
        #expect(result?.status == .error && result?.reason == .spawn && result?.message == "could not start true: No such file")
        // A failure found in the child after the spawn returned reads the same.
        _ = runs.spawned("j2", pid: 101)
        let late = reported(runs.exited("j2", .exited(127), output: .empty, spawnFailure: "could not start x: EACCES",
                                        now: t0))
        #expect(late.first?.reason == .spawn && late.first?.exitCode == nil)
    }

    @Test func outcomesFromTheExit() {
        var runs = machine(slots: 3)
        for (id, exit) in [("j1", RunExit.exited(0)), ("j2", .exited(3)), ("j3", .signaled(SIGKILL))] {
            _ = runs.assigned(assignment(id), now: t0)
            _ = runs.spawned(id, pid: 100)
            if id == "j1" { runs.setResult("j1", .object(["n": .int(1)])) }
            let result = reported(runs.exited(id, exit, output: JobOutput(stdout: "o", stderr: ""), spawnFailure: nil,
                                              now: t0 + 0.5)).first!
            switch id {
            case "j1": #expect(result.status == .completed && result.exitCode == 0 && result.result == .object(["n": .int(1)]))
            case "j2": #expect(result.status == .error && result.reason == .exit && result.message == "exited with code 3")
            default: #expect(result.status == .error && result.reason == .signal && result.message == "killed by signal 9 (SIGKILL)")
            }
            #expect(result.output.stdout == "o" && result.startedAt == t0 && result.finishedAt == t0 + 0.5)
        }
    }

    @Test func aStopGivesHeldRunsBackAndReportsEndedRunsAsLost() {
        var runs = machine(slots: 1)
        _ = runs.assigned(assignment("j1"), now: t0)
        _ = runs.spawned("j1", pid: 100)
        _ = runs.assigned(assignment("j2"), now: t0)
        #expect(runs.stop(canGiveBack: true) == [
            .giveBack([RunRef(jobID: "j2", attempt: 1)]), .signal(pid: 100, signal: SIGTERM),
        ])
        #expect(runs.assigned(assignment("j3"), now: t0) == [.giveBack([RunRef(jobID: "j3", attempt: 1)])],
                "a run that crossed the RETURN goes back too")
        let lost = reported(runs.exited("j1", .signaled(SIGTERM), output: .empty, spawnFailure: nil, now: t0 + 1)).first
        #expect(lost?.status == .error && lost?.reason == .lost && lost?.message == "ended when agent a1 stopped")
        #expect(runs.isIdle)
    }

    @Test func aRunThatCompletesDuringAStopKeepsItsOutcome() {
        var runs = machine()
        _ = runs.assigned(assignment("j1"), now: t0)
        _ = runs.spawned("j1", pid: 100)
        _ = runs.stop(canGiveBack: true)
        #expect(reported(runs.exited("j1", .exited(0), output: .empty, spawnFailure: nil, now: t0)).first?.status == .completed)
    }

    @Test func anOlderCoordinatorGetsNoGiveBackAndCancelledRuns() {
        var runs = machine(slots: 1, takesReturns: false)
        _ = runs.assigned(assignment("j1"), now: t0)
        _ = runs.spawned("j1", pid: 100)
        _ = runs.assigned(assignment("j2"), now: t0)
        #expect(runs.stop(canGiveBack: true) == [.signal(pid: 100, signal: SIGTERM)])
        #expect(runs.held.map(\.jobID) == ["j2"], "lost at BYE")
        let result = reported(runs.exited("j1", .signaled(SIGTERM), output: .empty, spawnFailure: nil, now: t0)).first
        #expect(result?.status == .cancelled)
    }

    @Test func aStopThatCannotGiveBackKeepsTheHeldRunsAndKillEndsTheRest() {
        var runs = machine(slots: 1)
        _ = runs.assigned(assignment("j1"), now: t0)
        _ = runs.spawned("j1", pid: 100)
        _ = runs.assigned(assignment("j2"), now: t0)
        #expect(runs.stop(canGiveBack: false) == [.signal(pid: 100, signal: SIGTERM)])
        #expect(runs.kill() == [.signal(pid: 100, signal: SIGKILL)])
        #expect(runs.giveBackHeld() == [.giveBack([RunRef(jobID: "j2", attempt: 1)])], "welcomed again while stopping")
    }

    @Test func shortRunsRaiseThePrefetchAndALongOneLowersIt() {
        var runs = machine(slots: 1)
        for index in 0..<PrefetchGauge.window {
            _ = runs.assigned(assignment("j\(index)"), now: t0)
            _ = runs.spawned("j\(index)", pid: 100)
            _ = runs.exited("j\(index)", .exited(0), output: .empty, spawnFailure: nil, now: t0 + 0.001)
        }
        #expect(runs.gauge.current == 4 && runs.gauge.runsAreShort)
        _ = runs.assigned(assignment("long"), now: t0)
        _ = runs.exited("long", .exited(0), output: .empty, spawnFailure: nil, now: t0 + 1)
        #expect(runs.gauge.current == 1)
    }
}
