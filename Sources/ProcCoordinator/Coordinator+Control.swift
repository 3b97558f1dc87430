import ProcCore
import ZeroMQ

extension Coordinator {
    /// Drains the control socket, bounded per call so timers and other sockets get their turn, so replies
    /// waiting for the end of the iteration (`flush`) stay under `maxOutboundBytes` (a flood of large
    /// requests, REPLAY or STATUS, is served in turns, not all in memory at once), and so one transaction
    /// holds at most about `maxAdmittedPerIteration` new jobs (a million-job batch is committed in steps,
    /// and heartbeats and other clients are answered in between).
    func readControl() {
        guard let control else { return }
        var userID: String?
        for _ in 0..<10_000 where outboundBytes < Self.maxOutboundBytes && admitted < Self.maxAdmittedPerIteration {
            let message: [Frame]?
            do {
                // The User-Id exists only behind the ZAP handler: do not look it up on every frame otherwise.
                message = configuration.security == nil ? try control.receive() : try control.receive(userID: &userID)
            } catch {
                logger.warning("control receive failed", metadata: ["error": "\(error)"])
                return
            }
            guard let message else { return }
            stats.messagesIn += 1
            route(message, userID: userID)
        }
    }

    private func route(_ message: [Frame], userID: String?) {
        guard message.count >= 3 else { return reject(message, "too few frames") }
        let peer = message[0]
        let proto = message[1]
        let role = role(ofUserID: userID)
        if proto == Wire.agentProtocolBytes, message.count == 4 {
            if let role, role?.mayJoinAsAgent != true {
                return refuseAgentConnection(peer, role: role)
            }
            handleAgentFrames(peer: peer, command: message[2], body: message[3], key: userID)
        } else if proto == Wire.clientProtocolBytes, message.count == 5 {
            if let role, role == nil {
                reject(message, "key no longer authorized")
                return replyError(peer, message[3], .forbidden(
                    "this key is not authorized any more; ask the coordinator's operator"))
            }
            handleClient(peer: peer, command: message[2], requestID: message[3], body: message[4],
                         role: role.flatMap { $0 })
        } else if message.count == 5 {
            reject(message, "unknown protocol")
            replyError(peer, message[3], ErrorReply(
                code: "protocol",
                message: "unsupported protocol '\(printable(proto))'; this coordinator "
                    + "speaks \(Wire.clientProtocol) and \(Wire.agentProtocol)"))
        } else {
            reject(message, "malformed message")
        }
    }

    /// An agent message from a key that may not join: say so (the agent stops) and forget the agent.
    private func refuseAgentConnection(_ peer: Frame, role: PeerRole??) {
        let why = switch role {
        case .some(.some(let role)): "this key has the role '\(role.rawValue)'; only agent keys may join"
        default: "this key is not authorized any more"
        }
        reject([peer], "agent message from a non-agent key")
        if let agentID = agentsByRoute[peer] {
            refuseAgent(agentID, because: why)
        } else {
            outbound.append([peer, Wire.agentProtocolBytes, Array(Wire.AgentCommand.refused.rawValue.utf8),
                             Array(why.utf8)])
        }
    }

    /// Counts and logs (rate-limited) a message refused for `why`, one of a fixed set of kinds.
    func reject(_ message: [Frame], _ why: String, detail: String? = nil) {
        noteRejected(why, peer: message.first.map(printable) ?? "?", detail: detail ?? "\(message.count) frames")
    }

    // MARK: clients

    /// Who asked what: a client request's envelope, for its reply.
    struct ClientRequest {
        let peer: Frame
        let requestID: Frame
        let command: Wire.ClientCommand
        let role: PeerRole?
    }

    private func handleClient(peer: Frame, command: Frame, requestID: Frame, body: Frame, role: PeerRole?) {
        guard let command = Wire.ClientCommand(rawValue: String(decoding: command, as: UTF8.self)) else {
            reject([peer], "unknown client command")
            return replyError(peer, requestID, .badRequest("unknown command '\(printable(command))'"))
        }
        if let role, command != .queue, !role.may(command, changesState: true) {
            reject([peer], "forbidden command")
            return replyError(peer, requestID, .forbidden(
                "\(command.rawValue) is not allowed for the role '\(role.rawValue)' of this key (clients may)"))
        }
        let request = ClientRequest(peer: peer, requestID: requestID, command: command, role: role)
        do {
            switch command {
            case .info:
                let port = boundEventsEndpoint.split(separator: ":").last.flatMap { Int($0) }
                reply(request, InfoReply(
                    version: procVersion, eventsPort: port, eventsEndpoint: boundEventsEndpoint, lastSeq: lastSeq,
                    jobs: state.jobs.count, agents: state.agents.count, security: configuration.securityMode,
                    role: role?.rawValue, rejected: stats.rejectedByKind))
            case .submit: try submit(request, WireCoding.decode(SubmitRequest.self, from: body))
            case .status: reply(request, try status(WireCoding.decode(StatusRequest.self, from: body)))
            case .result: try result(request, WireCoding.decode(ResultRequest.self, from: body))
            case .wait: try wait(request, WireCoding.decode(WaitRequest.self, from: body))
            case .cancel: try cancel(request, WireCoding.decode(CancelRequest.self, from: body))
            case .agents: reply(request, AgentsReply(agents: state.agentInfos()))
            case .queue: try queue(request, WireCoding.decode(QueueRequest.self, from: body))
            case .replay: try replay(request, WireCoding.decode(ReplayRequest.self, from: body))
            case .error: replyError(peer, requestID, .badRequest("ERROR is a reply, not a request"))
            }
        } catch let error as ErrorReply {
            if error.code == "bad_request" { reject([peer], "invalid client request", detail: error.message) }
            replyError(peer, requestID, error)
        } catch let error as WireError {
            reject([peer], "invalid client request", detail: "\(command.rawValue): \(error)")
            replyError(peer, requestID, .badRequest("invalid \(command.rawValue) request: \(error)"))
        } catch {
            logger.error("request failed", metadata: ["command": .string(command.rawValue), "error": "\(error)"])
            replyError(peer, requestID, ErrorReply(code: "internal", message: "\(error)"))
        }
    }

    private func reply<T: WireWritable>(_ request: ClientRequest, _ body: T) {
        reply(request.peer, request.requestID, request.command, body)
    }

    /// Admits the jobs; the reply goes after the commit that makes them durable. One invalid spec refuses
    /// the whole request.
    private func submit(_ request: ClientRequest, _ submit: SubmitRequest) {
        for (index, spec) in submit.jobs.enumerated() {
            if let problem = spec.validationProblem() {
                reject([request.peer], "invalid job spec", detail: problem)
                let which = submit.jobs.count > 1 ? "job \(index + 1) of \(submit.jobs.count): " : ""
                return replyError(request.peer, request.requestID, .badRequest("invalid job: \(which)\(problem)"))
            }
        }
        admitted += submit.jobs.count
        let now = currentTimestamp()
        let (ids, effects) = state.submit(submit.jobs, now: now)
        apply(effects, at: now)
        reply(request, SubmitReply(ids: ids))
    }

    private func result(_ request: ClientRequest, _ asked: ResultRequest) throws {
        guard let job = state.jobs[asked.id] else { throw ErrorReply.notFound("unknown job id '\(asked.id)'") }
        let pending = batch.outputs.last { $0.number == job.number }?.output
        var output = try pending ?? (job.status.isFinal ? journal?.output(of: job.number) : nil)
        if output == nil && job.status.isFinal && !job.recordedAttempts.isEmpty { output = .empty }
        reply(request, ResultReply(job: job, output: output, waiting: state.waitingReason(job)))
    }

    /// Parks the request until its jobs are final (or those it waits for, with `final_only`) or it times out.
    private func wait(_ request: ClientRequest, _ wait: WaitRequest) throws {
        // Each job read once, in place (`withJob`): the getter copies the whole record.
        var unknown: [JobID] = [], notFinal: [JobID] = []
        for id in wait.ids {
            switch state.withJob(id, { $0.status.isFinal }) {
            case nil: unknown.append(id)
            case false?: notFinal.append(id)
            case true?: break
            }
        }
        guard unknown.isEmpty else { throw ErrorReply.notFound(Self.unknownIDs(unknown)) }
        let timeout = Int64(min(try checked(Bounds.waitRequestMilliseconds, wait.timeoutMilliseconds, "timeout_ms"), 60_000))
        let id = waiters.add(route: request.peer, requestID: request.requestID, ids: wait.ids, notFinal: notFinal,
                             finalOnly: wait.finalOnly ?? false, deadline: monotonicMilliseconds() + timeout)
        if notFinal.isEmpty {
            waiters.expire(id)
        } else {
            loop.schedule(afterMilliseconds: timeout) { [unowned self] in waiters.expire(id) }
        }
    }

    private func cancel(_ request: ClientRequest, _ cancel: CancelRequest) throws {
        let now = currentTimestamp()
        if let queue = cancel.queue {
            let (result, effects) = state.cancel(queue: queue, now: now)
            apply(effects, at: now)
            return reply(request, result)
        }
        let ids = cancel.ids ?? []
        guard !ids.isEmpty else { return replyError(request.peer, request.requestID, .badRequest("nothing to cancel")) }
        let unknown = ids.filter { state.jobs[$0] == nil }
        guard unknown.isEmpty else { throw ErrorReply.notFound(Self.unknownIDs(unknown)) }
        let (result, _, effects) = state.cancel(ids, now: now)
        apply(effects, at: now)
        reply(request, result)
    }

    /// Lists the queues, or sets one's limit first (which an observer may not).
    private func queue(_ request: ClientRequest, _ queue: QueueRequest) throws {
        if let name = queue.name, let limit = queue.maxRunning {
            if let role = request.role, !role.may(.queue, changesState: true) {
                reject([request.peer], "forbidden command")
                return replyError(request.peer, request.requestID, .forbidden(
                    "setting a queue limit is not allowed for the role '\(role.rawValue)' of this key"))
            }
            if let problem = JobSpec.nameProblem(name, what: "queue name") { throw ErrorReply.badRequest(problem) }
            _ = try checked(Bounds.maxRunning, limit, "max_running")
            apply(state.setQueueLimit(name, maxRunning: limit), at: currentTimestamp())
            batch.queueLimits.append((name, limit))
        }
        reply(request, QueueReply(queues: state.queueInfos()))
    }

    /// The journaled bodies, spliced as they are into a ReplayReply (nothing decoded or re-encoded), each
    /// with its job's command put back where it was taken out to be stored.
    private func replay(_ request: ClientRequest, _ replay: ReplayRequest) throws {
        let limit = try checked(Bounds.replayLimit, replay.limit, "limit")
        let stored = try journal?.events(from: replay.fromSeq, limit: limit, maxBytes: 2 << 20) ?? []
        var json = Array(#"{"events":["#.utf8)
        json.reserveCapacity(stored.reduce(64) { $0 + $1.body.count + 1 })
        for (index, event) in stored.enumerated() {
            if index > 0 { json.append(UInt8(ascii: ",")) }
            json.append(contentsOf: published(event))
        }
        json.append(contentsOf: Array(#"],"last_seq":\#(lastSeq)}"#.utf8))
        replyRaw(request.peer, request.requestID, request.command, json)
    }

    private func status(_ request: StatusRequest) throws -> StatusReply {
        if let ids = request.ids, !ids.isEmpty {
            let unknown = ids.filter { state.jobs[$0] == nil }
            guard unknown.isEmpty else { throw ErrorReply.notFound(Self.unknownIDs(unknown)) }
            return StatusReply(jobs: ids.map { summary(state.jobs[$0]!) }, counts: state.counts(queue: request.queue))
        }
        let limit = try checked(Bounds.statusLimit, request.limit ?? 50, "limit")
        let newest = state.newestJobs(limit: limit, queue: request.queue)
        return StatusReply(jobs: newest.map(summary), counts: state.counts(queue: request.queue))
    }

    /// A job as STATUS shows it: with why it waits, when it is pending and no agent could take it.
    private func summary(_ job: JobRecord) -> JobSummary {
        var summary = JobSummary(job)
        summary.waiting = state.waitingReason(job)
        return summary
    }

    /// An event's body as it was published: the stored body with its job's command put back.
    private func published(_ event: StoredEvent) -> [UInt8] {
        guard event.seq > commandsStoredThrough, let jobID = EventBodies.commandJob(event.body),
            let command = state.withJob(jobID, { $0.spec.argv }), !command.isEmpty
        else { return event.body }
        return EventBodies.withCommand(event.body, command)
    }

    /// "unknown job id 'j9'", or for many "unknown job ids 'x1', … (and 19990 more)": the first ten, in
    /// the order asked.
    static func unknownIDs(_ ids: [JobID]) -> String {
        let shown = ids.prefix(10).map { "'\($0)'" }.joined(separator: ", ")
        let more = ids.count > 10 ? " (and \(ids.count - 10) more)" : ""
        return (ids.count == 1 ? "unknown job id " : "unknown job ids ") + shown + more
    }

    /// A request's number in its bound, or a bad_request that says what is allowed.
    private func checked(_ bound: Bound<Int>, _ value: Int, _ name: String) throws -> Int {
        do { return try bound.check(value, name) } catch { throw ErrorReply.badRequest(error.description) }
    }

    func reply<T: WireWritable>(_ peer: Frame, _ requestID: Frame, _ command: Wire.ClientCommand, _ body: T) {
        replyRaw(peer, requestID, command, body.jsonBytes)
    }

    func replyRaw(_ peer: Frame, _ requestID: Frame, _ command: Wire.ClientCommand, _ bytes: [UInt8]) {
        outboundBytes += bytes.count
        outbound.append([peer, Wire.clientProtocolBytes, Array(command.rawValue.utf8), requestID, bytes])
    }

    func replyError(_ peer: Frame, _ requestID: Frame, _ error: ErrorReply) {
        reply(peer, requestID, .error, error)
    }

    /// A frame for a log line: its text when it is short UTF-8, else its size.
    func printable(_ frame: Frame) -> String {
        if frame.count <= 64, let text = String(validating: frame, as: UTF8.self),
            text.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7f })
        {
            return text
        }
        return "<\(frame.count) bytes>"
    }
}
