import ProcCore
import Testing

/// The journal has one truth: each job's spec, once, and its events. A restarted coordinator rebuilds
/// every record as the fold of its events (`JobRecord.apply`) over its admission; these tests drive the
/// scheduler through random histories (joins, losses, results of every kind, late and repeated ones,
/// cancels, give-backs, retries) and check that the fold gives back every live record, field for field.
@Suite struct FoldTests {
    struct Random: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// A history: the state after it, and its events as the coordinator journals them (seq, time).
    struct History {
        var state: ClusterState
        var events: [Event] = []
        var admitted: [AdmittedJob] = []
        var micros: Int64 = 1_700_000_000_000_000
        var requeues: [JobID] = []

        init(settings: ClusterSettings) { state = ClusterState(settings: settings) }

        /// A clock reading as `currentTimestamp` makes them: whole microseconds.
        mutating func tick(_ random: inout Random) -> Timestamp {
            micros += Int64.random(in: 1...5_000, using: &random)
            return Double(micros) / 1e6
        }

        mutating func record(_ effects: [Effect], at now: Timestamp) {
            for effect in effects {
                switch effect {
                case .event(var event):
                    event.seq = UInt64(events.count + 1)
                    event.time = rfc3339(now)
                    events.append(event)
                case .requeueLater(let id, _): requeues.append(id)
                default: break
                }
            }
        }
    }

    static func run(seed: UInt64, steps: Int) -> History {
        var random = Random(state: seed)
        var settings = ClusterSettings()
        settings.maxLostAttempts = 3
        var history = History(settings: settings)
        let agents = ["a1", "a2", "a3"]
        var sent: [(agent: String, assignment: Assignment)] = []
        var results: [(agent: String, result: RunResult)] = []
        for _ in 0..<steps {
            let now = history.tick(&random)
            switch Int.random(in: 0..<12, using: &random) {
            case 0, 1:
                let specs = (0..<Int.random(in: 1...3, using: &random)).map { _ in
                    JobSpec(argv: ["true"], retries: Int.random(in: 0...2, using: &random))
                }
                let (ids, effects) = history.state.submit(specs, now: now)
                for (id, spec) in zip(ids, specs) {
                    history.admitted.append(AdmittedJob(number: history.state.jobs[id]!.number, submittedAt: now, spec: spec))
                }
                history.record(effects, at: now)
            case 2:
                let agent = agents.randomElement(using: &random)!
                // Sometimes a reconnect that lists some of what it runs.
                let running = sent.filter { $0.agent == agent && Bool.random(using: &random) }
                    .map { RunRef(jobID: $0.assignment.jobID, attempt: $0.assignment.attempt) }
                let info = AgentInfo(id: agent, hostname: "h", slots: Int.random(in: 1...2, using: &random), running: 0,
                                     labels: [:], joinedAt: now, pid: 1)
                history.record(history.state.agentJoined(info, running: running, now: now), at: now)
            case 3:
                history.record(history.state.agentLeft(agents.randomElement(using: &random)!, reason: "gone", now: now),
                               at: now)
            case 4, 5:
                let effects = history.state.schedule(now: now)
                for case .dispatch(let agent, let assignment) in effects { sent.append((agent, assignment)) }
                history.record(effects, at: now)
            case 6, 7:
                // A result: for what was sent (current, or long given up on), or one delivered again.
                if Int.random(in: 0..<5, using: &random) == 0, let again = results.randomElement(using: &random) {
                    history.record(history.state.finished(again.result, from: again.agent, now: now), at: now)
                    continue
                }
                guard !sent.isEmpty else { continue }
                let (agent, assignment) = sent.remove(at: Int.random(in: 0..<sent.count, using: &random))
                let started = Double(history.micros - Int64.random(in: 0...2_000, using: &random)) / 1e6
                var result = RunResult(jobID: assignment.jobID, attempt: assignment.attempt, status: .completed,
                                       startedAt: started, finishedAt: now)
                switch Int.random(in: 0..<8, using: &random) {
                case 0: result.exitCode = 0
                case 6:
                    result.status = .error
                    result.reason = .thrown
                    result.errorType = "ExampleError"
                    result.message = "boom"
                case 7:
                    result.status = .error
                    result.reason = .crashed
                    result.signal = 4
                    result.message = "its function host was killed by signal 4 (SIGILL) during the call"
                case 1:
                    result.status = .error
                    result.reason = .exit
                    result.exitCode = 3
                    result.message = "exited with code 3"
                case 2:
                    result.status = .error
                    result.reason = .signal
                    result.signal = 9
                case 3:
                    result.status = .error
                    result.reason = .lost
                    result.signal = 15
                    result.message = "ended when agent \(agent) stopped"
                case 4:
                    result.status = .cancelled
                    result.message = "cancelled"
                default:
                    result.status = .error
                    result.reason = .timeout
                }
                if Bool.random(using: &random) { result.result = .int(Int64.random(in: 0...9, using: &random)) }
                results.append((agent, result))
                history.record(history.state.finished(result, from: agent, now: now), at: now)
            case 8:
                guard let id = history.state.jobs.values.map(\.id).randomElement(using: &random) else { continue }
                history.record(history.state.cancel([id], now: now).effects, at: now)
            case 9:
                guard let (agent, assignment) = sent.randomElement(using: &random) else { continue }
                let report = ProgressReport(jobID: assignment.jobID, attempt: assignment.attempt,
                                            progress: Double(Int.random(in: 0...10, using: &random)) / 10, message: "m")
                history.record(history.state.progress(report, from: agent, now: now), at: now)
            case 10:
                guard let index = sent.indices.randomElement(using: &random) else { continue }
                let (agent, assignment) = sent.remove(at: index)
                history.record(history.state.returned([RunRef(jobID: assignment.jobID, attempt: assignment.attempt)],
                                                      stopping: false, from: agent, now: now), at: now)
            default:
                // Backoffs that have passed.
                for id in history.requeues { history.state.requeue(id) }
                history.requeues.removeAll()
            }
        }
        return history
    }

    /// What a recovery rebuilds: every job from its admission, then its events in order.
    static func fold(_ history: History) -> [JobID: JobRecord] {
        var jobs: [JobID: JobRecord] = [:]
        for admitted in history.admitted {
            let job = JobRecord(admitted: admitted)
            jobs[job.id] = job
        }
        for event in history.events {
            guard let id = event.jobID, let time = parseRFC3339(event.time) else { continue }
            jobs[id]?.apply(event, at: time)
        }
        return jobs
    }

    @Test(arguments: 0..<200)
    func theFoldOfTheEventsIsTheLiveState(seed: UInt64) {
        let history = Self.run(seed: seed, steps: 300)
        let folded = Self.fold(history)
        #expect(folded.count == history.state.jobs.count)
        for job in history.state.jobs.values {
            #expect(folded[job.id] == job, "seed \(seed): \(job.id) folds to \(String(describing: folded[job.id])), live \(job)")
        }
    }

    /// The histories are not trivial: together they hold every kind of end, loss and retry.
    @Test func theHistoriesCoverEveryKindOfEnd() {
        var seen: [EventType: Int] = [:]
        var reasons: Set<String> = []
        for seed in 0..<50 {
            for event in Self.run(seed: UInt64(seed), steps: 300).events {
                seen[event.type, default: 0] += 1
                if event.type == .jobRetrying || event.type == .jobFailed, let reason = event.reason { reasons.insert(reason) }
            }
        }
        for type in [EventType.jobStarted, .jobProgress, .jobCompleted, .jobFailed, .jobCancelled, .jobRetrying,
                     .jobLateResult, .jobCancelRequested, .agentJoined, .agentLeft] {
            #expect((seen[type] ?? 0) > 0, "no \(type.rawValue) in the histories")
        }
        #expect(reasons.isSuperset(of: ["exit", "signal", "timeout", "lost", ClusterState.returnedReason]), "\(reasons)")
    }

    @Test func timesReadBackExactly() {
        var micros: Int64 = 1_795_147_070_000_001
        for _ in 0..<10_000 {
            micros += 1_237
            let now = Double(micros) / 1e6
            #expect(parseRFC3339(rfc3339(now)) == now)
        }
    }
}
