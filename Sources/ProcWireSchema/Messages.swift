// The one place where proc's messages are declared: every field's Swift name, JSON key, type, range and
// meaning. Edit here, then run `swift run proc-wire-gen` (tests fail while the generated files are stale).
//
// Rules of the format (docs/wire.md): JSON objects, keys in snake_case; an optional field that is absent
// means nil (writers leave it out); readers skip keys they do not know, so fields may be added, never
// renamed or removed; numbers out of a field's range are refused by every reader, naming the field.

public let procWireSchema = WireSchema([
    Group("Jobs", doc: "A job as submitted, as the coordinator keeps it, and its states.", [
        .enumeration(Enumeration("JobStatus", "The five states: `pending → running → completed | error | cancelled`.", [
            ("pending", "pending", "Waiting for a slot (again, after a lost or failed attempt that is retried)."),
            ("running", "running", "Sent to an agent (it may wait there for a slot: prefetch)."),
            ("completed", "completed", "Ended well: exit 0, or the function returned."),
            ("error", "error", "Ended badly; `reason` says how."),
            ("cancelled", "cancelled", "Ended because a user asked."),
        ])),
        .enumeration(Enumeration("FailureReason", "Why a job ended in `error`.", [
            ("exit", "exit", "The command exited with a non-zero code."),
            ("signal", "signal", "The command was killed by a signal it did not ask for."),
            ("timeout", "timeout", "The job ran longer than its `timeout`."),
            ("spawn", "spawn", "The command could not start: not found, not executable, bad working directory."),
            ("lost", "lost", "The agent running it was lost and no attempts are left."),
            ("thrown", "thrown", "The function threw an error (`error_type` and `message` say which), or its arguments did not decode."),
            ("crashed", "crashed", """
                The function's host process died during the call (a trap, a signal, an exit): `signal` or \
                `exit_code` says how; a fresh host takes the slot.
                """),
        ])),
        .message(Message("JobSpec", """
            What a user submits: a command (an argv) or a function call (a name and its arguments), plus options. \
            A line of `proc submit --batch` is this object, or a bare JSON array (the argv).
            """, bareArray: "argv", [
            .defaulted("argv", .array(.string), aliases: ["command"], default: "[]",
                       "The program and its arguments (a command job; absent for a function job)."),
            .optional("function", .string, """
                The function to call (a function job): a name that a function host offers on some agent \
                (`proc-agent join --functions PATH`).
                """),
            .optional("args", .json, "The function's arguments, any JSON (absent: `{}`); at most 1 MiB."),
            .optional("isolated", .bool, """
                Call the function in a fresh host process of its own, ended after the call (absent: a warm host).
                """),
            .optional("env", .map(.string), "Variables added to the job's environment (a function job: isolated only)."),
            .optional("cwd", .string, "The working directory on the agent (a function job: isolated only)."),
            .optional("queue", .string, "The queue (default: `default`)."),
            .optional("priority", .int, bound: "Bounds.priority", "Higher runs first within a queue (default 0)."),
            .optional("timeout", .double, bound: "Bounds.jobTimeout", "Seconds; the job ends `error`/`timeout` after this long."),
            .optional("retries", .int, bound: "Bounds.retries",
                      "Times to run the job again when it fails by itself (exit, signal, timeout, spawn)."),
            .optional("labels", .map(.string), "Labels an agent must carry to run this job (`gpu=1`)."),
            .optional("name", .string, "A name for humans; shown by `proc status`."),
        ])),
        .message(Message("JobRecord", "Everything the coordinator knows of a job (outputs live in the journal, not here).", [
            .required("id", .string, swift: "JobID", "The job's id: \"j\" and its number."),
            .required("number", .uint64, "Submission order, unique per coordinator; also the FIFO key within a priority."),
            .required("spec", .message("JobSpec"), "What was submitted."),
            .required("status", .enumeration("JobStatus"), default: ".pending", "Where the job is."),
            .required("attempt", .int, bound: "Bounds.attempt", default: "1",
                      "The current attempt, from 1. A result for another attempt is a late duplicate."),
            .optional("reason", .enumeration("FailureReason"), "Why it ended in `error`."),
            .optional("exitCode", .int32, "The exit code of the last run."),
            .optional("signal", .int32, "The signal that ended the last run."),
            .optional("message", .string, "What happened, in words."),
            .optional("errorType", .string, "The type of the error a function threw (reason `thrown`)."),
            .optional("result", .json, "The result: what a function returned, or what a command set on fd 3."),
            .optional("agentID", .string, "The agent running it, or that ran it last."),
            .optional("progress", .double, "The last progress reported (0 to 1)."),
            .required("submittedAt", .double, swift: "Timestamp", "When it was accepted, in seconds since 1970."),
            .optional("startedAt", .double, swift: "Timestamp", "When its current attempt started on its agent."),
            .optional("finishedAt", .double, swift: "Timestamp", "When it ended."),
            .required("cancelRequested", .bool, default: "false",
                      "A cancel was asked for the running attempt; the outcome becomes `cancelled`."),
            .required("failures", .int, default: "0", "How many attempts failed by themselves (counted against `retries`)."),
            .required("lostAttempts", .int, default: "0",
                      "How many attempts were lost with their agent (counted against the cluster's `--max-attempts`)."),
            .required("recordedAttempts", .array(.int), default: "[]", """
                Attempts whose results were recorded: one that comes again (an agent resending what was not \
                acknowledged) is a duplicate delivery, not news.
                """),
        ])),
        .message(Message("JobOutput", "The captured tail of a run's stdout and stderr.", [
            .required("stdout", .string, "The last part of stdout."),
            .required("stderr", .string, "The last part of stderr."),
            .required("stdoutTruncated", .bool, default: "false", "Earlier stdout was dropped."),
            .required("stderrTruncated", .bool, default: "false", "Earlier stderr was dropped."),
        ])),
    ]),
    Group("Events", doc: "The event feed: two frames, the topic (the type) and this body.", [
        .enumeration(Enumeration("EventType", "Event types: the topic frame of every event, and the body's `type`.", [
            ("jobSubmitted", "job.submitted", "A job was accepted."),
            ("jobStarted", "job.started", "A job was sent to an agent (with prefetch it may wait there for a slot)."),
            ("jobProgress", "job.progress", "A job reported progress on fd 3."),
            ("jobCompleted", "job.completed", "A job ended well."),
            ("jobFailed", "job.failed", "A job ended `error`."),
            ("jobCancelled", "job.cancelled", "A job ended `cancelled`."),
            ("jobRetrying", "job.retrying", "An attempt was lost or failed; the next one is queued."),
            ("jobCancelRequested", "job.cancel_requested",
             "A cancel was asked for a running job: its process group gets SIGTERM, the grace, SIGKILL; job.cancelled follows."),
            ("jobLateResult", "job.late_result",
             "A result for an attempt the coordinator had already given up on. Never changes the outcome."),
            ("agentJoined", "agent.joined", "An agent joined (or came back)."),
            ("agentLeft", "agent.left", "An agent left or was declared lost."),
            ("queueUpdated", "queue.updated", "A queue's limit of running jobs changed."),
        ])),
        .message(Message("Event", """
            One event of the feed. `seq`, `time` and `type` are always present (and `seq` first, so a \
            subscriber can read it without decoding the rest); job events add `job_id`, `status`, `queue`, \
            `attempt`; the rest where known.
            """, [
            .required("seq", .uint64, default: "0", "+1 per event per coordinator, never reused, also across restarts."),
            .required("time", .string, default: "\"\"", "When it was journaled: RFC 3339, UTC, microseconds."),
            .required("type", .enumeration("EventType"), "The topic."),
            .optional("jobID", .string, swift: "JobID", "The job (job events)."),
            .optional("status", .enumeration("JobStatus"), "The job's state after the event."),
            .optional("queue", .string, "The job's queue."),
            .optional("attempt", .int, "The job's attempt."),
            .optional("agentID", .string, "The agent concerned."),
            .optional("exitCode", .int32, "The run's exit code."),
            .optional("signal", .int32, "The signal that ended the run."),
            .optional("reason", .string, "Why: a failure reason, or what caused an agent event."),
            .optional("result", .json, "The job's result."),
            .optional("progress", .double, "Progress, 0 to 1."),
            .optional("message", .string, "What happened, in words."),
            .optional("errorType", .string, "The type of the error a function threw (job.failed, reason `thrown`)."),
            .optional("command", .array(.string), "The argv (job.submitted, job.started of a command job)."),
            .optional("function", .string, "The function (job.submitted, job.started of a function job)."),
            .optional("priority", .int, "The job's priority (job.submitted)."),
            .optional("name", .string, "The job's name (job.submitted)."),
            .optional("duration", .double, "Seconds the attempt ran (final events)."),
            .optional("slots", .int, "What the agent offers (agent.joined)."),
            .optional("labels", .map(.string), "The agent's labels (agent.joined)."),
            .optional("functions", .array(.string), "The functions the agent offers (agent.joined)."),
            .optional("hostname", .string, "The agent's host (agent.joined, agent.left)."),
            .optional("maxRunning", .int, "The queue's limit of running jobs, 0 for none (queue.updated)."),
            .optional("security", .string, """
                How the coordinator's connections are secured (agent.joined): "curve", "insecure" (a network \
                port without CURVE, by --insecure) or "local" (loopback, inproc or ipc only).
                """),
        ])),
    ]),
    Group("Client", doc: "Bodies of client requests and replies (PROC-CLIENT/1).", [
        .message(Message("ErrorReply", "The body of an ERROR reply.", conforms: ["Equatable", "Error"], [
            .required("code", .string, "bad_request, not_found, forbidden, protocol, internal."),
            .required("message", .string, "What is wrong, and what to do."),
        ])),
        .message(Message("Empty", "A body with nothing in it (INFO, AGENTS).", [])),
        .message(Message("InfoReply", "Where the coordinator is and how it is doing.", [
            .required("version", .string, "The coordinator's version."),
            .optional("eventsPort", .int, "The port of the event feed, on the same host as the control port."),
            .required("eventsEndpoint", .string, "The event feed's endpoint as bound."),
            .required("lastSeq", .uint64, "The seq of the last event journaled."),
            .required("jobs", .int, "Jobs known."),
            .required("agents", .int, "Agents joined."),
            .optional("security", .string, "\"curve\", \"insecure\" or \"local\" (see `Event.security`)."),
            .optional("role", .string, "The role of the asking peer's key, when the coordinator checks keys."),
            .optional("rejected", .map(.int), "Messages and handshakes refused since the start, by kind."),
        ])),
        .message(Message("SubmitRequest", "SUBMIT: jobs to accept, in order.", [
            .required("jobs", .array(.message("JobSpec")), "The jobs."),
        ])),
        .message(Message("SubmitReply", "The ids of the jobs accepted, in the order submitted.", [
            .required("ids", .array(.string), swift: "[JobID]", "One id per job."),
        ])),
        .message(Message("StatusRequest", "STATUS: some jobs, or the newest.", [
            .optional("ids", .array(.string), swift: "[JobID]", "These jobs (else the newest)."),
            .optional("queue", .string, "Only this queue."),
            .optional("limit", .int, bound: "Bounds.statusLimit", "At most this many jobs (newest first) when no ids are given."),
        ])),
        .message(Message("JobSummary", "A job as `proc status` shows it.", [
            .required("id", .string, swift: "JobID", "The job."),
            .required("status", .enumeration("JobStatus"), "Where it is."),
            .required("queue", .string, "Its queue."),
            .required("attempt", .int, "Its attempt."),
            .optional("reason", .enumeration("FailureReason"), "Why it ended in `error`."),
            .optional("exitCode", .int32, "The last run's exit code."),
            .optional("signal", .int32, "The signal that ended the last run."),
            .optional("agentID", .string, "Its agent."),
            .optional("progress", .double, "Its last progress."),
            .defaulted("command", .array(.string), default: "[]", "Its argv (absent for a function job)."),
            .optional("function", .string, "Its function."),
            .optional("name", .string, "Its name."),
            .optional("waiting", .string, """
                Why a pending job cannot run now, when no agent could take it: no agent offers its function, or \
                carries its labels.
                """),
        ])),
        .message(Message("StatusReply", "The jobs asked for, and counts per state.", [
            .required("jobs", .array(.message("JobSummary")), "The jobs."),
            .required("counts", .map(.int), "Jobs in each state, over the whole coordinator (or the queue asked for)."),
        ])),
        .message(Message("ResultRequest", "RESULT: one job.", [
            .required("id", .string, swift: "JobID", "The job."),
        ])),
        .message(Message("ResultReply", "Everything about one job: `proc result`.", [
            .required("job", .message("JobRecord"), "Its record."),
            .optional("stdout", .string, "The captured tail of stdout."),
            .optional("stderr", .string, "The captured tail of stderr."),
            .optional("stdoutTruncated", .bool, "Earlier stdout was dropped."),
            .optional("stderrTruncated", .bool, "Earlier stderr was dropped."),
            .optional("waiting", .string, "Why the job, pending, cannot run now (see `JobSummary.waiting`)."),
        ])),
        .message(Message("WaitRequest", "WAIT: answered when every job is final, or after the timeout.", [
            .required("ids", .array(.string), swift: "[JobID]", "The jobs."),
            .required("timeoutMilliseconds", key: "timeout_ms", .int, bound: "Bounds.waitRequestMilliseconds",
                      "How long this request may wait (the client asks again after it)."),
            .optional("finalOnly", .bool, "The reply carries only the jobs that are final (else every job)."),
        ])),
        .message(Message("WaitReply", "The jobs waited for, and whether all are final.", [
            .required("jobs", .array(.message("JobSummary")), "The jobs (only the final ones with `final_only`)."),
            .required("done", .bool, "Every job is final."),
        ])),
        .message(Message("CancelRequest", "CANCEL: jobs by id, or a whole queue.", [
            .optional("ids", .array(.string), swift: "[JobID]", "These jobs."),
            .optional("queue", .string, "Every pending and running job of this queue."),
        ])),
        .message(Message("CancelReply", "What the cancel did.", [
            .required("cancelled", .array(.string), swift: "[JobID]", "Pending jobs cancelled at once, and running ones asked to stop."),
            .required("alreadyFinal", .array(.string), swift: "[JobID]", "Jobs that had already ended (nothing to do)."),
        ])),
        .message(Message("AgentInfo", "An agent as `proc agents` shows it.", [
            .required("id", .string, "The agent's name."),
            .required("hostname", .string, "Its host."),
            .required("slots", .int, "Jobs it runs at once."),
            .required("running", .int, "Jobs it runs (or holds) now."),
            .required("labels", .map(.string), "Its labels."),
            .required("joinedAt", .double, swift: "Timestamp", "When it joined, in seconds since 1970."),
            .optional("pid", .int32, "Its process id."),
            .optional("prefetch", .int, "Runs it takes beyond its slots, to start the moment a slot frees."),
            .optional("functions", .array(.message("FunctionOffer")), "The functions it offers."),
        ])),
        .message(Message("AgentsReply", "The agents that have joined.", [
            .required("agents", .array(.message("AgentInfo")), "The agents."),
        ])),
        .message(Message("QueueRequest", "QUEUE: list the queues, or set one's limit of running jobs.", [
            .optional("name", .string, "The queue to set (absent: only list)."),
            .optional("maxRunning", .int, bound: "Bounds.maxRunning", "Its limit across the cluster (0: none)."),
        ])),
        .message(Message("QueueInfo", "A queue: its limit and counts.", [
            .required("name", .string, "The queue."),
            .required("maxRunning", .int, "Its limit of running jobs (0: none)."),
            .required("pending", .int, "Jobs waiting."),
            .required("running", .int, "Jobs running."),
        ])),
        .message(Message("QueueReply", "The queues.", [
            .required("queues", .array(.message("QueueInfo")), "The queues, by name."),
        ])),
        .message(Message("ReplayRequest", "REPLAY: journaled events from a seq on.", [
            .required("fromSeq", .uint64, "The first seq wanted."),
            .required("limit", .int, bound: "Bounds.replayLimit", "At most this many (a reply also stops at about 2 MiB)."),
        ])),
        .message(Message("ReplayReply", """
            Journaled events, as they were published, and the last seq journaled: a reader pages on until it \
            has that seq (a page may be cut short by its size).
            """, [
            .required("events", .array(.message("Event")), "The events, in seq order."),
            .required("lastSeq", .uint64, "The seq of the last event journaled now."),
        ])),
    ]),
    Group("Agent", doc: "Bodies of the agent protocol (PROC-AGENT/1).", [
        .message(Message("RunRef", "A run the agent is (or was) doing, named by its fence.", conforms: ["Hashable"], [
            .required("jobID", .string, swift: "JobID", "The job."),
            .required("attempt", .int, bound: "Bounds.attempt", "Its attempt."),
        ])),
        .message(Message("FunctionOffer", "A function an agent can call: its name and the host that offers it.", [
            .required("name", .string, "The function's name."),
            .required("host", .string, "The host executable's path on the agent."),
            .optional("build", .string, "The host's build identity (it changes when the executable does)."),
        ])),
        .message(Message("Hello", "Who the agent is, what it offers, what it is running.", [
            .required("name", .string, "Its name, unique in the cluster."),
            .required("hostname", .string, "Its host."),
            .required("slots", .int, bound: "Bounds.slots", "Jobs it runs at once."),
            .required("labels", .map(.string), "Its labels."),
            .required("pid", .int32, "Its process id."),
            .required("version", .string, "Its protocol version."),
            .required("running", .array(.message("RunRef")), """
                Attempts still running on it (after a reconnect), those it holds to start next, and those whose \
                results it keeps.
                """),
            .optional("prefetch", .int, bound: "Bounds.prefetch", """
                Runs to send beyond `slots`: it holds them and starts one the moment a slot frees, with no \
                round trip in between (absent: none).
                """),
            .optional("acksInJobs", .bool, "It reads the ACKs carried by JOBS (absent: ACK messages only)."),
            .optional("functions", .array(.message("FunctionOffer")), "The functions its hosts offer (absent: none)."),
        ])),
        .message(Message("Welcome", "Accepted; heartbeat settings.", [
            .required("agentID", key: "agent_id", .string, "The name it is known by."),
            .required("heartbeatMilliseconds", key: "heartbeat_ms", .int, bound: "Bounds.heartbeatMilliseconds",
                      "Heartbeat interval, both ways."),
            .required("liveness", .int, bound: "Bounds.liveness", "Missed heartbeats before the other side counts as gone."),
            .optional("takesReturns", .bool, """
                The coordinator takes RETURN, and a result `error`/`lost` as a run lost with its agent: a stopping \
                agent gives its held runs back and reports the runs it ends so.
                """),
        ])),
        .message(Message("Assignment", "One run for an agent to start.", [
            .required("jobID", .string, swift: "JobID", "The job."),
            .required("attempt", .int, bound: "Bounds.attempt", "The attempt (the run's fence)."),
            .defaulted("argv", .array(.string), default: "[]", "The command (absent for a function call)."),
            .optional("function", .string, "The function to call."),
            .optional("args", .json, "Its arguments (absent: `{}`)."),
            .optional("isolated", .bool, "Call it in a fresh host process, ended after the call."),
            .optional("env", .map(.string), "The job's environment variables."),
            .optional("cwd", .string, "Its working directory."),
            .optional("timeout", .double, bound: "Bounds.jobTimeout", "Seconds before it is ended as a timeout."),
            .required("queue", .string, "Its queue (PROC_QUEUE)."),
            .optional("killGraceMilliseconds", key: "kill_grace_ms", .int, bound: "Bounds.graceMilliseconds",
                      "Between SIGTERM and SIGKILL when the run is cancelled or times out."),
        ])),
        .message(Message("JobsMessage", "JOBS: runs to start.", [
            .required("jobs", .array(.message("Assignment")), "The runs."),
            .optional("acks", .array(.message("RunRef")), """
                Results journaled since the last message, for agents that said `acks_in_jobs`: the ACK they \
                would otherwise get as a message of its own.
                """),
        ])),
        .message(Message("CancelRun", "CANCEL: end this attempt (SIGTERM, grace, SIGKILL).", [
            .required("jobID", .string, swift: "JobID", "The job."),
            .required("attempt", .int, bound: "Bounds.attempt", "The attempt."),
            .required("graceMilliseconds", key: "grace_ms", .int, bound: "Bounds.graceMilliseconds",
                      "Between SIGTERM and SIGKILL."),
        ])),
        .message(Message("ProgressReport", "PROGRESS: what a run said on fd 3.", [
            .required("jobID", .string, swift: "JobID", "The job."),
            .required("attempt", .int, bound: "Bounds.attempt", "The attempt."),
            .optional("progress", .double, "0 to 1."),
            .optional("message", .string, "In words."),
        ])),
        .message(Message("RunResult", "How an attempt ended, as the agent saw it.", [
            .required("jobID", .string, swift: "JobID", "The job."),
            .required("attempt", .int, bound: "Bounds.attempt", "The attempt."),
            .required("status", .enumeration("JobStatus"), "completed, error or cancelled."),
            .optional("reason", .enumeration("FailureReason"), "Why it is `error`."),
            .optional("exitCode", .int32, "Its exit code."),
            .optional("signal", .int32, "The signal that ended it."),
            .optional("message", .string, "What happened, in words."),
            .optional("errorType", .string, "The type of the error the function threw (reason `thrown`)."),
            .optional("result", .json, "What the function returned, or the result the command set on fd 3."),
            .required("output", .message("JobOutput"), default: "JobOutput(stdout: \"\", stderr: \"\")",
                      "The captured tails of stdout and stderr."),
            .required("startedAt", .double, swift: "Timestamp", "When it started, in seconds since 1970."),
            .required("finishedAt", .double, swift: "Timestamp", "When it ended."),
        ])),
        .message(Message("ResultsMessage", "RESULT: finished attempts; each frees a slot.", [
            .required("results", .array(.message("RunResult")), "The results."),
            .optional("prefetch", .int, bound: "Bounds.prefetch", "The prefetch it asks for from now on (absent: unchanged)."),
        ])),
        .message(Message("ReturnMessage", """
            RETURN: held runs the agent will not start, because it is stopping: each goes back to pending at \
            once, with no lost attempt counted.
            """, [
            .required("runs", .array(.message("RunRef")), "The runs."),
            .optional("stopping", .bool, "Send this agent nothing more."),
        ])),
        .message(Message("AckMessage", "ACK: these results are journaled; the agent may forget them.", [
            .required("runs", .array(.message("RunRef")), "The runs."),
        ])),
    ]),
    Group("Channel", doc: "What a job writes on fd 3, one JSON object per line.", [
        .message(Message("ChannelLine", """
            One line of a job's fd 3 channel: `{"progress": 0.4, "message": "…"}` becomes a job.progress event \
            (a line with only a message, too); `{"result": <any JSON>}` sets the job's result. A function host \
            ends each call with a line that has `"done": true` and the `result` it returned or the `error` it \
            threw. Other keys are ignored.
            """, [
            .optional("progress", .double, "0 to 1."),
            .optional("message", .string, "In words."),
            .optional("result", .json, "The job's result (the last one written wins)."),
            .optional("done", .bool, "A function host: the call is over (its result, or `error`, is on this line)."),
            .optional("error", .message("ThrownError"), "A function host: the call threw this."),
        ])),
    ]),
    Group("FunctionHost", doc: """
        The function host protocol (docs/contracts.md): an agent runs `HOST --proc-describe` once and reads a \
        HostDescription on its stdout; it runs `HOST --proc-serve` for a warm host and writes one FunctionCall \
        per line on its stdin; the host answers each on fd 3 with ChannelLines, the last with `done`.
        """, [
        .message(Message("HostDescription", "What a function host offers (`HOST --proc-describe`, on stdout).", [
            .required("protocolVersion", key: "protocol", .int, "The host protocol's version: 1."),
            .required("functions", .array(.string), "The names of the functions it offers."),
            .optional("build", .string, "Its build identity: it changes when the executable does."),
            .optional("outputMarks", .bool, """
                It can write the output mark (docs/contracts.md) to stdout and stderr after each call, before \
                its `done` line, and does when started with PROC_OUTPUT_MARKS=1: the agent then writes calls \
                ahead to it and splits its output at the marks.
                """),
        ])),
        .message(Message("FunctionCall", "One call, a line on the host's stdin.", [
            .required("jobID", .string, swift: "JobID", "The job."),
            .required("attempt", .int, "Its attempt."),
            .required("function", .string, "The function."),
            .optional("args", .json, "Its arguments (absent: `{}`)."),
            .optional("queue", .string, "The job's queue."),
        ])),
        .message(Message("ThrownError", "An error a function threw.", [
            .required("type", .string, "The error's type name (`DecodingError` when the arguments did not decode)."),
            .required("message", .string, "The error, in words."),
        ])),
    ]),
    Group("Journal", doc: "What the coordinator's journal keeps besides the events: each job's spec, once.", [
        .message(Message("AdmittedJob", """
            A job as admitted: its number, when, and its spec. The rest of its record is the fold of its \
            events (`JobRecord.apply`).
            """, [
            .required("number", .uint64, "Its number (its id is \"j\" and the number)."),
            .required("submittedAt", .double, swift: "Timestamp", "When it was accepted, in seconds since 1970."),
            .required("spec", .message("JobSpec"), "What was submitted."),
        ])),
        .message(Message("JobState", """
            A job's record without its spec, as of a snapshot's seq: recovery starts from it instead of from \
            the job's admission (a data directory upgraded from before version 6, or history pruned).
            """, [
            .required("number", .uint64, "The job."),
            .required("status", .enumeration("JobStatus"), "Where it is."),
            .required("attempt", .int, "Its attempt."),
            .optional("reason", .enumeration("FailureReason"), "Why it ended in `error`."),
            .optional("exitCode", .int32, "The last run's exit code."),
            .optional("signal", .int32, "The signal that ended the last run."),
            .optional("message", .string, "What happened, in words."),
            .optional("result", .json, "Its result."),
            .optional("agentID", .string, "Its agent."),
            .optional("progress", .double, "Its last progress."),
            .optional("startedAt", .double, swift: "Timestamp", "When its attempt started."),
            .optional("finishedAt", .double, swift: "Timestamp", "When it ended."),
            .required("cancelRequested", .bool, "A cancel was asked."),
            .required("failures", .int, "Attempts that failed by themselves."),
            .required("lostAttempts", .int, "Attempts lost with their agent."),
            .required("recordedAttempts", .array(.int), "Attempts whose results were recorded."),
            .optional("errorType", .string, "The type of the error its function threw."),
        ])),
    ]),
    Group("AgentFiles", doc: "What an agent keeps on disk while it runs.", [
        .message(Message("RunRecord", """
            A run's record in `runs/`, while it runs: a restarted agent ends what is left of the runs its \
            predecessor recorded.
            """, [
            .required("jobID", key: "jobID", .string, swift: "JobID", "The job."),
            .required("attempt", .int, "The attempt."),
            .required("pid", .int32, "The process (its process group too)."),
            .optional("startTime", key: "startTime", .uint64, """
                When the process started, in clock ticks since boot (/proc/PID/stat's starttime): tells it from \
                a later process that reuses the pid.
                """),
        ])),
    ]),
], commands: [
    Command(.client, "INFO", "client → coordinator", body: "Empty", reply: "InfoReply", "Where the coordinator is."),
    Command(.client, "SUBMIT", "client → coordinator", body: "SubmitRequest", reply: "SubmitReply",
            "Accept jobs; answered once they are journaled."),
    Command(.client, "STATUS", "client → coordinator", body: "StatusRequest", reply: "StatusReply", "Jobs and counts."),
    Command(.client, "RESULT", "client → coordinator", body: "ResultRequest", reply: "ResultReply", "One job, with its output."),
    Command(.client, "WAIT", "client → coordinator", body: "WaitRequest", reply: "WaitReply", "Wait for jobs to end."),
    Command(.client, "CANCEL", "client → coordinator", body: "CancelRequest", reply: "CancelReply", "Cancel jobs."),
    Command(.client, "AGENTS", "client → coordinator", body: "Empty", reply: "AgentsReply", "The agents."),
    Command(.client, "QUEUE", "client → coordinator", body: "QueueRequest", reply: "QueueReply",
            "List queues, or set one's limit."),
    Command(.client, "REPLAY", "client → coordinator", body: "ReplayRequest", reply: "ReplayReply",
            "Journaled events from a seq on."),
    Command(.client, "ERROR", "coordinator → client", body: "ErrorReply", "The reply to a request that failed."),
    Command(.agent, "HELLO", "agent → coordinator", body: "Hello", "Who I am, what I offer, what I am running."),
    Command(.agent, "WELCOME", "coordinator → agent", body: "Welcome", "Accepted; heartbeat settings."),
    Command(.agent, "JOBS", "coordinator → agent", body: "JobsMessage", "Runs to start."),
    Command(.agent, "CANCEL", "coordinator → agent", body: "CancelRun", "End this attempt (SIGTERM, grace, SIGKILL)."),
    Command(.agent, "PROGRESS", "agent → coordinator", body: "ProgressReport", "Progress from a job's fd 3 channel."),
    Command(.agent, "RESULT", "agent → coordinator", body: "ResultsMessage", "Finished attempts; each frees a slot."),
    Command(.agent, "HEARTBEAT", "both ways", body: nil, "Sent when nothing else was sent for an interval (empty body)."),
    Command(.agent, "RECONNECT", "coordinator → agent", body: nil, "I do not know you: say HELLO again (empty body)."),
    Command(.agent, "BYE", "agent → coordinator", body: nil, "Leaving: a clean shutdown (empty body)."),
    Command(.agent, "ACK", "coordinator → agent", body: "AckMessage", "These results are journaled: forget them."),
    Command(.agent, "REPLACED", "coordinator → agent", body: nil,
            "Another agent joined under your name: stop (the body is a message in words)."),
    Command(.agent, "REFUSED", "coordinator → agent", body: nil,
            "Your key is not (or no longer) authorized as an agent: stop (the body is a message in words)."),
    Command(.agent, "RETURN", swift: "returned", "agent → coordinator", body: "ReturnMessage",
            "Held runs it will not start: they run elsewhere, no attempt lost."),
], bounds: [
    BoundDecl("slots", "Int", "1...10_000", "Jobs an agent runs at once."),
    BoundDecl("prefetch", "Int", "0...1_000", "Runs an agent holds beyond its slots."),
    BoundDecl("attempt", "Int", "1...Int.max", "A run's attempt."),
    BoundDecl("jobTimeout", "Double", "0.001...31_536_000", unit: "seconds", "A job's timeout: more than nothing, at most a year."),
    BoundDecl("retries", "Int", "0...1_000", "Retries of a job that fails by itself."),
    BoundDecl("priority", "Int", "-1_000_000_000...1_000_000_000", "A job's priority (higher runs first)."),
    BoundDecl("graceSeconds", "Double", "0...86_400", unit: "seconds",
              "SIGTERM → SIGKILL when a job is cancelled, times out, or its agent stops."),
    BoundDecl("graceMilliseconds", "Int", "0...86_400_000", unit: "milliseconds", "The same grace, on the wire."),
    BoundDecl("requestTimeout", "Double", "0.01...86_400", unit: "seconds",
              "How long a client waits for one answer from the coordinator."),
    BoundDecl("waitTimeout", "Double", "0.001...31_536_000", unit: "seconds", "How long `proc wait` (or check-proc) waits in all."),
    BoundDecl("reconnectGraceSeconds", "Double", "0...86_400", unit: "seconds",
              "After a coordinator restart, how long runs in flight wait for their agents."),
    BoundDecl("reconnectMaxSeconds", "Double", "0.01...3_600", unit: "seconds",
              "The longest wait between an agent's reconnect attempts."),
    BoundDecl("heartbeatMilliseconds", "Int", "10...600_000", unit: "milliseconds", "The heartbeat interval, both ways."),
    BoundDecl("liveness", "Int", "1...1_000", "Missed heartbeats before a peer counts as gone."),
    BoundDecl("holdMilliseconds", "Int", "0...100", unit: "milliseconds",
              "How long a commit (coordinator) or a result (agent) may wait for the next ones."),
    BoundDecl("maxAttempts", "Int", "1...1_000", "Times a job's run may be lost with its agent."),
    BoundDecl("outputLimit", "Int", "0...1_073_741_824", unit: "bytes", "Bytes of stdout and of stderr kept per run."),
    BoundDecl("maxRunning", "Int", "0...1_000_000", "A queue's limit of running jobs (0: none)."),
    BoundDecl("statusLimit", "Int", "0...10_000", "Jobs one STATUS lists."),
    BoundDecl("waitRequestMilliseconds", "Int", "0...600_000", unit: "milliseconds", "How long one WAIT request may wait."),
    BoundDecl("replayLimit", "Int", "1...10_000", "Events one REPLAY asks for."),
    BoundDecl("maxCallsPerHost", "Int", "0...1_000_000_000", "Calls a function host process serves before a fresh one takes its slot (0: no limit)."),
])
