/// A job's record is the fold of its events: `apply` is the one definition of what each job event
/// changes. The scheduler (`ClusterState`) decides which event happens and then applies it to the live
/// record; recovery applies the journaled events to the records as admitted. So what a restarted
/// coordinator has is, field for field, what the one before it had (a test runs both and compares).
extension JobRecord {
    /// A job as the coordinator admitted it: pending, its first attempt.
    public init(admitted: AdmittedJob) {
        self.init(id: ClusterState.jobID(admitted.number), number: admitted.number, spec: admitted.spec,
                  submittedAt: admitted.submittedAt)
    }

    /// What the journal keeps of a job at its admission: its spec, once.
    public var admission: AdmittedJob { AdmittedJob(number: number, submittedAt: submittedAt, spec: spec) }

    /// The record after `event`, journaled at `time` (its `time` field, read back exactly).
    ///
    /// - job.started: running on `agent_id` since `time`.
    /// - job.progress: the progress.
    /// - job.cancel_requested: a cancel was asked; the outcome will be `cancelled`.
    /// - job.completed / failed / cancelled / retrying: the state, attempt, message and reason it gives;
    ///   an event with a `duration` ended a run that reported its outcome: that attempt is recorded, and
    ///   the run's exit code, signal and times (it ended at `time`, `duration` after it started) are kept.
    ///   A retry leaves the job pending on no agent; a failure counts against `retries`, a loss against
    ///   `--max-attempts`, a run given back against nothing.
    public mutating func apply(_ event: Event, at time: Timestamp) {
        switch event.type {
        case .jobStarted:
            status = .running
            attempt = event.attempt ?? attempt
            agentID = event.agentID
            startedAt = time
            progress = nil
        case .jobProgress:
            if let value = event.progress { progress = value }
        case .jobCancelRequested:
            cancelRequested = true
        case .jobCompleted, .jobFailed, .jobCancelled, .jobRetrying:
            let previous = status
            if let ran = event.duration {
                recordedAttempts.append(event.type == .jobRetrying ? attempt : event.attempt ?? attempt)
                exitCode = event.exitCode
                signal = event.signal
                finishedAt = time
                startedAt = time - ran
            }
            if let value = event.result { result = value }
            message = event.message
            errorType = event.errorType
            status = event.status ?? status
            let why = event.reason.flatMap(FailureReason.init(rawValue:))
            reason = status == .error || status == .pending ? why : nil
            switch event.type {
            case .jobCompleted:
                progress = 1
            case .jobCancelled where event.duration == nil:
                // Cancelled before a run reported: while pending it never started; a run lost with its
                // agent, or given back, ends where it started.
                finishedAt = previous == .pending ? nil : startedAt
            case .jobRetrying:
                attempt = event.attempt ?? attempt + 1
                agentID = nil
                startedAt = nil
                finishedAt = nil
                if why == .lost { lostAttempts += 1 } else if why != nil { failures += 1 }
            case .jobFailed:
                if why == .lost { lostAttempts += 1 } else { failures += 1 }
            default:
                break
            }
        case .jobSubmitted, .jobLateResult, .agentJoined, .agentLeft, .queueUpdated:
            break
        }
    }
}

extension Event {
    /// An event that ends a run its agent reported: with the run's exit code, signal and duration.
    static func ending(_ type: EventType, _ job: JobRecord, run: RunResult) -> Event {
        var event = Event.job(type, job)
        event.exitCode = run.exitCode
        event.signal = run.signal
        event.errorType = run.errorType
        event.duration = ProcWire.duration(from: run.startedAt, to: run.finishedAt)
        return event
    }
}

extension JobRecord {
    /// The record without its spec, for a snapshot.
    public var state: JobState {
        JobState(number: number, status: status, attempt: attempt, reason: reason, exitCode: exitCode, signal: signal,
                 message: message, result: result, agentID: agentID, progress: progress, startedAt: startedAt,
                 finishedAt: finishedAt, cancelRequested: cancelRequested, failures: failures,
                 lostAttempts: lostAttempts, recordedAttempts: recordedAttempts, errorType: errorType)
    }

    /// The record as a snapshot has it (its spec and admission time are the admission's).
    public mutating func restore(_ state: JobState) {
        status = state.status
        attempt = state.attempt
        reason = state.reason
        exitCode = state.exitCode
        signal = state.signal
        message = state.message
        result = state.result
        agentID = state.agentID
        progress = state.progress
        startedAt = state.startedAt
        finishedAt = state.finishedAt
        cancelRequested = state.cancelRequested
        failures = state.failures
        lostAttempts = state.lostAttempts
        recordedAttempts = state.recordedAttempts
        errorType = state.errorType
    }
}
