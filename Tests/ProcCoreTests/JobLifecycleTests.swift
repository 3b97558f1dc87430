import ProcCore
import Testing

@Suite struct JobLifecycleTests {
    @Test func submitReturnsIdsAndSubmittedEventsWithPlaceholders() throws {
        var state = ClusterState()
        let (ids, effects) = state.submit([job("echo", "hi", priority: 3, name: "greet"), job("true")], now: t0)
        #expect(ids == ["j1", "j2"])
        #expect(effects.count == 2)
        let event = try #require(effects.events.first)
        #expect(event.type == .jobSubmitted)
        #expect(event.seq == 0)  // numbered by the coordinator
        #expect(event.time == "")
        #expect(event.jobID == "j1")
        #expect(event.status == .pending)
        #expect(event.queue == defaultQueueName)
        #expect(event.attempt == 1)
        #expect(event.command == ["echo", "hi"])
        #expect(event.priority == 3)
        #expect(event.name == "greet")
        #expect(state.status("j1") == .pending)
        #expect(state.jobs["j1"]?.submittedAt == t0)
        #expect(state.lastJobNumber == 2)
    }

    @Test func submitWithoutAgentsDispatchesNothing() {
        var state = ClusterState()
        state.add(job("true"))
        #expect(state.schedule(now: t0).isEmpty)
        #expect(state.status("j1") == .pending)
    }

    @Test func agentJoinedEmitsEventAndGivesCredits() throws {
        var state = ClusterState()
        let effects = state.agentJoined(agentInfo("a1", slots: 4, labels: ["gpu": "1"]))
        let event = try #require(effects.events.first)
        #expect(effects.count == 1)
        #expect(event.type == .agentJoined)
        #expect(event.agentID == "a1")
        #expect(event.slots == 4)
        #expect(event.labels == ["gpu": "1"])
        #expect(event.hostname == "host-a1")
        #expect(state.credits("a1") == 4)
    }

    @Test func scheduleStartsJobAndDispatchesAssignment() throws {
        var state = cluster(agentInfo("a1", slots: 2))
        let spec = JobSpec(argv: ["sleep", "1"], env: ["K": "V"], cwd: "/tmp", queue: "q", timeout: 9)
        let id = try #require(state.submit([spec], now: t0).ids.first)
        let effects = state.schedule(now: t0 + 1)
        #expect(effects.count == 2)
        let started = try #require(effects.events(.jobStarted).first)
        #expect(started.jobID == id)
        #expect(started.status == .running)
        #expect(started.agentID == "a1")
        #expect(started.attempt == 1)
        #expect(started.queue == "q")
        #expect(started.command == ["sleep", "1"])
        let dispatch = try #require(effects.dispatches.first)
        #expect(dispatch.agentID == "a1")
        #expect(dispatch.assignment.jobID == id)
        #expect(dispatch.assignment.attempt == 1)
        #expect(dispatch.assignment.argv == ["sleep", "1"])
        #expect(dispatch.assignment.env == ["K": "V"])
        #expect(dispatch.assignment.cwd == "/tmp")
        #expect(dispatch.assignment.timeout == 9)
        #expect(dispatch.assignment.queue == "q")
        #expect(dispatch.assignment.killGraceMilliseconds == state.settings.cancelGraceMilliseconds)
        // The event comes before the dispatch (journaled before it is sent).
        if case .event = effects[0] {} else { Issue.record("first effect should be the event") }
        #expect(state.status(id) == .running)
        #expect(state.jobs[id]?.agentID == "a1")
        #expect(state.jobs[id]?.startedAt == t0 + 1)
        #expect(state.credits("a1") == 1)
        // Nothing more to do.
        #expect(state.schedule(now: t0 + 2).isEmpty)
    }

    @Test func completedRunEndsJobWithResultAndRestoresCredit() throws {
        var state = cluster(agentInfo("a1", slots: 1))
        state.add(job("work"))
        _ = state.schedule(now: t0)
        #expect(state.credits("a1") == 0)
        let result: JSONValue = .object(["answer": .int(42)])
        let effects = state.finished(runResult("j1", exitCode: 0, result: result), from: "a1")
        #expect(effects.types == [.jobCompleted])
        guard case .storeOutput(let id, let attempt, let output) = effects[0] else {
            Issue.record("output is stored first: \(effects)")
            return
        }
        #expect(id == "j1" && attempt == 1 && output.stdout == "out")
        let event = try #require(effects.events.first)
        #expect(event.status == .completed)
        #expect(event.exitCode == 0)
        #expect(event.result == result)
        #expect(event.duration == 2.5)
        #expect(event.agentID == "a1")
        let record = try #require(state.jobs["j1"])
        #expect(record.status == .completed)
        #expect(record.result == result)
        #expect(record.progress == 1)
        #expect(record.reason == nil)
        #expect(record.finishedAt == t0 + 3.5)
        #expect(state.credits("a1") == 1)
        #expect(state.agents["a1"]?.running.isEmpty == true)
    }

    @Test(arguments: [
        (FailureReason.exit, Int32?.some(3), Int32?.none),
        (FailureReason.signal, nil, Int32?.some(9)),
        (FailureReason.spawn, nil, nil),
        (FailureReason.timeout, nil, Int32?.some(15)),
    ])
    func failedRunEndsJobWithReason(reason: FailureReason, exitCode: Int32?, signal: Int32?) throws {
        var state = cluster(agentInfo("a1", slots: 1))
        state.add(job("work"))
        _ = state.schedule(now: t0)
        let effects = state.finished(
            runResult("j1", status: .error, reason: reason, exitCode: exitCode, signal: signal), from: "a1")
        #expect(effects.types == [.jobFailed])
        let event = try #require(effects.events.first)
        #expect(event.status == .error)
        #expect(event.reason == reason.rawValue)
        #expect(event.exitCode == exitCode)
        #expect(event.signal == signal)
        #expect(event.message?.isEmpty == false)
        #expect(state.status("j1") == .error)
        #expect(state.jobs["j1"]?.reason == reason)
        #expect(state.jobs["j1"]?.failures == 1)
        #expect(state.credits("a1") == 1)
        #expect(effects.requeues.isEmpty)
    }

    @Test func errorWithoutReasonCountsAsExit() throws {
        var state = cluster(agentInfo("a1", slots: 1))
        state.add(job("work"))
        _ = state.schedule(now: t0)
        let effects = state.finished(runResult("j1", status: .error, exitCode: 1), from: "a1")
        #expect(effects.events.first?.reason == "exit")
        #expect(state.jobs["j1"]?.reason == .exit)
    }

    @Test func progressFromTheCurrentAttemptIsPublished() throws {
        var state = cluster(agentInfo("a1", slots: 1))
        state.add(job("work"))
        _ = state.schedule(now: t0)
        let effects = state.progress(
            ProgressReport(jobID: "j1", attempt: 1, progress: 0.25, message: "a quarter"), from: "a1")
        let event = try #require(effects.events.first)
        #expect(event.type == .jobProgress)
        #expect(event.progress == 0.25)
        #expect(event.message == "a quarter")
        #expect(state.jobs["j1"]?.progress == 0.25)
        // Another attempt, or another agent: ignored.
        #expect(state.progress(ProgressReport(jobID: "j1", attempt: 2, progress: 0.5, message: nil), from: "a1").isEmpty)
        #expect(state.progress(ProgressReport(jobID: "j1", attempt: 1, progress: 0.5, message: nil), from: "a2").isEmpty)
        #expect(state.jobs["j1"]?.progress == 0.25)
    }

    @Test func resultForUnknownJobIsIgnored() {
        var state = cluster(agentInfo("a1", slots: 1))
        #expect(state.finished(runResult("j99"), from: "a1").isEmpty)
        #expect(state.credits("a1") == 1)
    }
}
