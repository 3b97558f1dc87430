import Glibc
import ProcCore
import Testing

func functionJob(_ name: String, args: JSONValue = .object([:]), labels: [String: String]? = nil,
                 isolated: Bool? = nil) -> JobSpec {
    JobSpec(function: name, args: args, isolated: isolated, labels: labels)
}

func functionAgent(_ id: String, slots: Int, functions: [String], labels: [String: String] = [:]) -> AgentInfo {
    var info = agentInfo(id, slots: slots, labels: labels)
    info.functions = functions.map { FunctionOffer(name: $0, host: "/opt/\(id)/host") }
    return info
}

/// The scheduler sends a function job only to an agent that offers its function; a job no agent can take
/// says why.
@Suite struct FunctionRoutingTests {
    @Test func aFunctionJobGoesOnlyToAnAgentThatOffersIt() {
        var state = cluster(agentInfo("plain", slots: 4), functionAgent("hosts", slots: 4, functions: ["square"]))
        let ids = state.add(functionJob("square"), functionJob("square"), functionJob("square"))
        let dispatched = state.schedule(now: t0).dispatches
        #expect(dispatched.map(\.assignment.jobID) == ids)
        #expect(Set(dispatched.map(\.agentID)) == ["hosts"])
        #expect(dispatched.first?.assignment.function == "square")
        #expect(dispatched.first?.assignment.argv == [])
    }

    @Test func commandsStillGoAnywhereBesideFunctionJobs() {
        var state = cluster(functionAgent("hosts", slots: 1, functions: ["square"]), agentInfo("plain", slots: 1))
        state.add(functionJob("square"), job("true"))
        let dispatched = state.schedule(now: t0).dispatches
        #expect(dispatched.map(\.agentID).sorted() == ["hosts", "plain"])
        #expect(dispatched.first { $0.agentID == "plain" }?.assignment.argv == ["true"])
    }

    @Test func aJobNoAgentCanTakeStaysPendingAndSaysWhy() {
        var state = cluster(functionAgent("hosts", slots: 2, functions: ["square"], labels: ["zone": "a"]))
        let ids = state.add(functionJob("resize"), functionJob("square", labels: ["gpu": "1"]),
                            job("true", labels: ["gpu": "1"]), functionJob("square"))
        #expect(state.schedule(now: t0).dispatchedIDs == [ids[3]])
        #expect(state.jobs[ids[0]].flatMap(state.waitingReason)?.contains("no agent offers function 'resize'") == true)
        #expect(state.jobs[ids[1]].map(state.waitingReason) == "no agent offers function 'square' and carries labels gpu=1")
        #expect(state.jobs[ids[2]].map(state.waitingReason) == "no agent carries labels gpu=1")
        #expect(state.jobs[ids[3]].map(state.waitingReason) == .some(nil), "running: nothing to explain")
        var empty = ClusterState()
        let lonely = empty.add(functionJob("square"))[0]
        #expect(empty.jobs[lonely].map(empty.waitingReason) == "no agent has joined")
    }

    @Test func theJobWaitsUntilAnAgentOffersItsFunction() {
        var state = cluster(agentInfo("plain", slots: 1))
        let id = state.add(functionJob("square"))[0]
        #expect(state.schedule(now: t0).dispatches.isEmpty)
        let joined = state.agentJoined(functionAgent("hosts", slots: 1, functions: ["square"]))
        #expect(joined.events(.agentJoined).first?.functions == ["square"])
        #expect(state.schedule(now: t0).dispatches.map(\.agentID) == ["hosts"])
        #expect(state.status(id) == .running)
    }

    @Test func eventsNameTheFunctionNotACommand() {
        var state = cluster(functionAgent("hosts", slots: 1, functions: ["square"]))
        let submitted = state.submit([functionJob("square")], now: t0).effects.events(.jobSubmitted)
        #expect(submitted.first?.function == "square" && submitted.first?.command == nil)
        let started = state.schedule(now: t0).events(.jobStarted)
        #expect(started.first?.function == "square" && started.first?.command == nil)
    }

    @Test func aThrownErrorEndsTheJobWithItsTypeAndMessage() throws {
        var state = cluster(functionAgent("hosts", slots: 1, functions: ["fail"]))
        let id = state.add(functionJob("fail"))[0]
        _ = state.schedule(now: t0)
        var run = runResult(id, status: .error, reason: .thrown, message: "boom")
        run.errorType = "ExampleError"
        let failed = try #require(state.finished(run, from: "hosts").events(.jobFailed).first)
        #expect(failed.reason == "thrown" && failed.errorType == "ExampleError" && failed.message == "boom")
        let job = try #require(state.jobs[id])
        #expect(job.status == .error && job.reason == .thrown && job.errorType == "ExampleError")
        var folded = JobRecord(admitted: job.admission)
        folded.apply(failed, at: t0 + 3.5)
        #expect(folded.errorType == "ExampleError", "the fold keeps it too")
    }
}

/// A function host pool: which host process takes a call, and when one is retired.
@Suite struct HostPoolTests {
    let offers = ["square": "/bin/a", "fail": "/bin/a", "resize": "/bin/b"]

    @Test func aCallTakesAnIdleHostOfItsExecutableElseANewOne() {
        var pool = HostPool(offers: offers)
        #expect(pool.take("square", for: "j1", isolated: false) == .launch(1, path: "/bin/a"))
        #expect(pool.take("fail", for: "j2", isolated: false) == .launch(2, path: "/bin/a"), "host 1 is busy")
        #expect(pool.callEnded(1) == false)
        #expect(pool.take("fail", for: "j3", isolated: false) == .use(1), "same executable, idle again")
        #expect(pool.take("resize", for: "j4", isolated: false) == .launch(3, path: "/bin/b"))
        #expect(pool.take("nope", for: "j5", isolated: false) == .unknown)
    }

    @Test func theMostRecentlyUsedIdleHostIsTakenFirst() {
        var pool = HostPool(offers: offers)
        _ = pool.take("square", for: "j1", isolated: false)
        _ = pool.take("square", for: "j2", isolated: false)
        _ = pool.callEnded(1)
        _ = pool.callEnded(2)
        #expect(pool.take("square", for: "j3", isolated: false) == .use(2))
    }

    @Test func aHostIsRetiredAfterItsLimitOfCalls() {
        var pool = HostPool(offers: offers, maxCallsPerHost: 2)
        _ = pool.take("square", for: "j1", isolated: false)
        #expect(pool.callEnded(1) == false)
        #expect(pool.take("square", for: "j2", isolated: false) == .use(1))
        #expect(pool.callEnded(1) == true, "two calls: it ends")
        #expect(pool.take("square", for: "j3", isolated: false) == .launch(2, path: "/bin/a"))
    }

    @Test func anIsolatedCallGetsAHostOfItsOwnThatEndsAfterIt() {
        var pool = HostPool(offers: offers)
        _ = pool.take("square", for: "j1", isolated: false)
        _ = pool.callEnded(1)
        #expect(pool.take("square", for: "j2", isolated: true) == .launch(2, path: "/bin/a"), "not the idle one")
        #expect(pool.callEnded(2) == true)
        #expect(pool.take("square", for: "j3", isolated: false) == .use(1))
    }

    @Test func aSignalledOrDeadHostIsNeverUsedAgain() {
        var pool = HostPool(offers: offers)
        _ = pool.take("square", for: "j1", isolated: false)
        pool.retire(1)
        #expect(pool.callEnded(1) == true, "retired while busy: it ends after its call")
        #expect(pool.take("square", for: "j2", isolated: false) == .launch(2, path: "/bin/a"))
        #expect(pool.ended(2) == "j2", "died during its call: the call is named")
        #expect(pool.ended(1) == nil)
        #expect(pool.isEmpty)
    }

    @Test func aCallWrittenAheadTakesItsHostWhenTheCallBeforeItEnds() {
        var pool = HostPool(offers: offers, maxCallsPerHost: 3)
        _ = pool.take("square", for: "j1", isolated: false)
        #expect(pool.canTakeAhead(1))
        #expect(pool.canTakeAhead(1, ahead: 1), "its second and third calls may both wait in its stdin")
        #expect(!pool.canTakeAhead(1, ahead: 2), "a fourth would pass its limit of three")
        #expect(pool.callEnded(1) == false)
        let used = pool.use(1, for: "j2")
        #expect(used)
        #expect(pool.hosts[1]?.busy == "j2" && pool.hosts[1]?.calls == 2)
        #expect(pool.take("square", for: "j3", isolated: false) == .launch(2, path: "/bin/a"), "host 1 is busy")
        _ = pool.callEnded(1)
        let again = pool.use(1, for: "j4")
        #expect(again)
        #expect(!pool.canTakeAhead(1), "its third call is its last")
        _ = pool.take("square", for: "j5", isolated: true)
        #expect(!pool.canTakeAhead(3), "an isolated host serves one call")
        pool.retire(2)
        let retiredUse = pool.use(2, for: "j6")
        #expect(!pool.canTakeAhead(2) && !retiredUse)
    }

    @Test func aStopRetiresEveryHostAndNamesTheIdleOnes() {
        var pool = HostPool(offers: offers)
        _ = pool.take("square", for: "j1", isolated: false)
        _ = pool.take("square", for: "j2", isolated: false)
        _ = pool.callEnded(2)
        #expect(pool.retireAll() == [2])
        #expect(pool.callEnded(1) == true)
    }
}

/// A function call's run, as `AgentRuns` decides it: it ends when its host answers, or as `crashed` when
/// the host dies during it; cancel, timeout and stop still win.
@Suite struct AgentRunsFunctionTests {
    func call(_ id: String, timeout: Double? = nil) -> Assignment {
        Assignment(jobID: id, attempt: 1, function: "square", args: .object(["x": .int(3)]), timeout: timeout,
                   queue: "default")
    }

    func reported(_ actions: [AgentRuns.Action]) -> [RunResult] {
        actions.compactMap { if case .report(let result) = $0 { result } else { nil } }
    }

    func machine(slots: Int = 1) -> AgentRuns {
        var runs = AgentRuns(slots: slots, agentName: "a1", gauge: PrefetchGauge(base: 1, whileShort: 4))
        runs.coordinatorTakesReturns = true
        return runs
    }

    @Test func aReturnedCallCompletesWithItsOutputAndFreesTheSlot() throws {
        var runs = machine()
        _ = runs.assigned(call("j1"), now: t0)
        _ = runs.spawned("j1", pid: 100)
        #expect(runs.assigned(call("j2"), now: t0) == [], "held: the slot is busy")
        let actions = runs.returned("j1", result: .object(["square": .int(9)]), thrown: nil,
                                    output: JobOutput(stdout: "printed", stderr: ""), now: t0 + 1)
        #expect(actions.first == .spawn(call("j2")), "the held call starts before the result is reported")
        let result = try #require(reported(actions).first)
        #expect(result.status == .completed && result.result == .object(["square": .int(9)]))
        #expect(result.output.stdout == "printed")
    }

    @Test func aNullReturnIsAResultNotNothing() throws {
        var runs = machine()
        _ = runs.assigned(call("j1"), now: t0)
        let result = try #require(reported(runs.returned("j1", result: nil, thrown: nil, output: .empty, now: t0)).first)
        #expect(result.status == .completed && result.result == .null)
    }

    @Test func aThrownErrorIsReportedWithItsType() throws {
        var runs = machine()
        _ = runs.assigned(call("j1"), now: t0)
        let result = try #require(reported(runs.returned(
            "j1", result: nil, thrown: ThrownError(type: "DecodingError", message: "args.x: missing"), output: .empty,
            now: t0)).first)
        #expect(result.status == .error && result.reason == .thrown)
        #expect(result.errorType == "DecodingError" && result.message == "args.x: missing")
    }

    @Test(arguments: [(RunExit.signaled(SIGILL), "killed by signal 4 (SIGILL)"), (RunExit.exited(3), "exited with code 3"),
                      (RunExit.exited(0), "exited with code 0")])
    func aHostThatDiesDuringACallCrashesIt(exit: RunExit, words: String) throws {
        var runs = machine()
        _ = runs.assigned(call("j1"), now: t0)
        _ = runs.spawned("j1", pid: 100)
        let result = try #require(reported(runs.exited("j1", exit, output: .empty, spawnFailure: nil, now: t0)).first)
        #expect(result.status == .error && result.reason == .crashed)
        #expect(result.message?.contains(words) == true, "\(result.message ?? "")")
    }

    @Test func cancelAndTimeoutEndACallAsTheyEndACommand() throws {
        var runs = machine(slots: 2)
        _ = runs.assigned(call("j1"), now: t0)
        _ = runs.spawned("j1", pid: 100)
        #expect(runs.cancel(CancelRun(jobID: "j1", attempt: 1, graceMilliseconds: 500), now: t0)
            == [.signal(pid: 100, signal: SIGTERM), .killLater(pid: 100, afterMilliseconds: 500)])
        let cancelled = try #require(reported(runs.exited("j1", .signaled(SIGTERM), output: .empty, spawnFailure: nil,
                                                          now: t0)).first)
        #expect(cancelled.status == .cancelled && cancelled.reason == nil)

        _ = runs.assigned(call("j2", timeout: 1), now: t0)
        #expect(runs.spawned("j2", pid: 200) == [.timeoutLater(RunRef(jobID: "j2", attempt: 1), afterMilliseconds: 1_000)])
        _ = runs.timedOut(RunRef(jobID: "j2", attempt: 1))
        let timedOut = try #require(reported(runs.returned("j2", result: .int(1), thrown: nil, output: .empty,
                                                           now: t0)).first)
        #expect(timedOut.status == .error && timedOut.reason == .timeout, "an answer after the timeout is too late")
    }

    @Test func aCallThatReturnsWhileTheAgentStopsKeepsItsOutcome() throws {
        var runs = machine()
        _ = runs.assigned(call("j1"), now: t0)
        _ = runs.spawned("j1", pid: 100)
        _ = runs.stop(canGiveBack: true)
        let result = try #require(reported(runs.returned("j1", result: .int(9), thrown: nil, output: .empty,
                                                         now: t0)).first)
        #expect(result.status == .completed)
    }

    @Test func aBoundCallStartsOnlyAsItsHostsNextCall() throws {
        var runs = machine(slots: 2)
        _ = runs.assigned(call("j1"), now: t0)
        _ = runs.assigned(call("j2"), now: t0)
        _ = runs.spawned("j1", pid: 100)
        _ = runs.spawned("j2", pid: 200)
        _ = runs.assigned(call("j3"), now: t0)
        _ = runs.assigned(call("j4"), now: t0)
        runs.bind("j3")  // written ahead to j1's host
        // j2's host answers first: its slot goes to j4, not to j3, which is in j1's host's stdin.
        let second = runs.returned("j2", result: .int(2), thrown: nil, output: .empty, now: t0)
        #expect(second.first == .spawn(call("j4")))
        // j1's host answers, naming j3 as its next call.
        let first = runs.returned("j1", result: .int(1), thrown: nil, output: .empty, now: t0, next: "j3")
        #expect(first.first == .spawn(call("j3")))
        #expect(runs.bound.isEmpty && runs.held.isEmpty)
    }

    @Test func aBoundCallWaitsForAFreeSlotThatIsNotItsHosts() {
        var runs = machine(slots: 1)
        _ = runs.assigned(call("j1"), now: t0)
        _ = runs.assigned(call("j2"), now: t0)
        runs.bind("j2")
        // j1's host died: j2 died in its stdin, and is held like any other again.
        let unbound = runs.unbind("j2", now: t0)
        #expect(unbound == [])
        let freed = runs.exited("j1", .signaled(SIGKILL), output: .empty, spawnFailure: nil, now: t0)
        #expect(freed.first == .spawn(call("j2")))
    }

    @Test func aCancelOfABoundCallEndsItOnceItStarts() throws {
        var runs = machine(slots: 1)
        _ = runs.assigned(call("j1"), now: t0)
        _ = runs.spawned("j1", pid: 100)
        _ = runs.assigned(call("j2"), now: t0)
        runs.bind("j2")
        let cancelled = runs.cancel(CancelRun(jobID: "j2", attempt: 1, graceMilliseconds: 300), now: t0)
        #expect(cancelled == [], "it is in the host already: it ends once it starts")
        let next = runs.returned("j1", result: .int(1), thrown: nil, output: .empty, now: t0, next: "j2")
        #expect(next.first == .spawn(call("j2")))
        let started = runs.spawned("j2", pid: 100)
        #expect(started == [.signal(pid: 100, signal: SIGTERM), .killLater(pid: 100, afterMilliseconds: 300)])
        let result = try #require(reported(runs.returned("j2", result: .int(2), thrown: nil, output: .empty,
                                                         now: t0)).first)
        #expect(result.status == .cancelled)

        // Cancelled, then its host died before it started: it ends at once, never started.
        var other = machine(slots: 1)
        _ = other.assigned(call("j1"), now: t0)
        _ = other.assigned(call("j2"), now: t0)
        other.bind("j2")
        _ = other.cancel(CancelRun(jobID: "j2", attempt: 1, graceMilliseconds: 300), now: t0)
        let ended = try #require(reported(other.unbind("j2", now: t0)).first)
        #expect(ended.status == .cancelled && ended.message == "cancelled before it started")
        #expect(other.held.isEmpty)
    }

    @Test func aCommandIsNotEndedByAnAnswer() {
        var runs = machine()
        let command = Assignment(jobID: "j1", attempt: 1, argv: ["true"], queue: "default")
        _ = runs.assigned(command, now: t0)
        #expect(runs.returned("j1", result: .int(1), thrown: nil, output: .empty, now: t0) == [])
        #expect(runs.running["j1"] != nil)
    }
}
