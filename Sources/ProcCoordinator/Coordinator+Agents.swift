import ProcCore
import ZeroMQ

/// The agent protocol, on the coordinator's side. An agent is reached over a socket (its ROUTER route)
/// or, in single-host mode, by calls on this loop (`LocalAgentEndpoint`); past the link, both are the
/// same messages (`AgentMessage`, `CoordinatorMessage`) handled by the same code.
extension Coordinator {
    /// An agent's link: everything a message to or from it reads or changes, behind one lookup.
    struct AgentLink {
        enum Route {
            case socket(Frame)
            case local(any LocalAgentEndpoint)
        }
        var route: Route
        /// Heartbeats both ways; nil for an agent on this loop, which cannot fall silent alone.
        var liveness: PeerLiveness?
        /// Its HELLO said it reads ACKs carried by JOBS (`Hello.acksInJobs`).
        var acksInJobs: Bool
    }

    // MARK: in

    /// A message from an agent's socket.
    func handleAgentFrames(peer: Frame, command: Frame, body: Frame, key: String?) {
        guard let command = Wire.AgentCommand(frame: command) else { return reject([peer], "unknown agent command") }
        let message: AgentMessage
        do {
            guard let decoded = try AgentMessage(command, body: body) else {
                return reject([peer], "unexpected agent command", detail: command.rawValue)
            }
            message = decoded
        } catch {
            return reject([peer], command == .hello ? "invalid HELLO" : "invalid agent message body",
                          detail: "\(command.rawValue): \(error)")
        }
        if case .hello(let hello) = message { return self.hello(hello, route: .socket(peer), key: key) }
        guard let agentID = agentsByRoute[peer] else {
            // Not (or no longer) known: a coordinator restart, or an agent we declared gone. Ask it to
            // introduce itself again; it keeps its results until then.
            outbound.append([peer] + CoordinatorMessage.reconnect.frames)
            return
        }
        agentLinks[agentID]?.liveness?.heard(at: monotonicMilliseconds())
        handle(message, from: agentID, peer: peer)
    }

    private func handle(_ message: AgentMessage, from agentID: String, peer: Frame?) {
        switch message {
        case .results(let results):
            if let prefetch = results.prefetch { state.setPrefetch(prefetch, of: agentID) }
            finished(results.results, from: agentID)
        case .progress(let report):
            let now = currentTimestamp()
            apply(state.progress(report, from: agentID, now: now), at: now)
        case .heartbeat:
            break
        case .returned(let returned):
            let now = currentTimestamp()
            apply(state.returned(returned.runs, stopping: returned.stopping ?? false, from: agentID, now: now), at: now)
            needsSchedule = true
        case .bye:
            dropAgent(agentID, reason: "agent stopped")
        case .hello:
            preconditionFailure("HELLO is handled before")
        }
    }

    /// Results from an agent: recorded, and acknowledged after the commit.
    func finished(_ results: [RunResult], from agentID: String) {
        let now = currentTimestamp()
        for run in results { apply(state.finished(run, from: agentID, now: now), at: now) }
        acks[agentID, default: []].append(contentsOf: results.lazy.map(\.ref))
        needsSchedule = true
    }

    private func hello(_ hello: Hello, route: AgentLink.Route, key: String?) {
        if let problem = Self.helloProblem(hello) {
            if case .socket(let peer) = route { reject([peer], "invalid HELLO", detail: problem) }
            return
        }
        let agentID = hello.name
        if let old = agentLinks[agentID], !old.route.isSame(as: route) {
            forget(old.route)
            // If another process still holds that connection, it must stop: two agents under one name
            // would take each other's place forever. (If it was this agent's own old connection, it is
            // closed and this goes nowhere.)
            send(.replaced("another agent named '\(agentID)' joined from \(hello.hostname) (pid \(hello.pid))"),
                 over: old.route)
        }
        if let oldAgent = self.agentID(of: route), oldAgent != agentID { dropAgent(oldAgent, reason: "renamed") }
        var liveness: PeerLiveness?
        switch route {
        case .socket(let peer):
            agentsByRoute[peer] = agentID
            liveness = PeerLiveness(intervalMilliseconds: configuration.heartbeatMilliseconds,
                                    liveness: configuration.liveness, now: monotonicMilliseconds())
        case .local(let endpoint):
            localAgents[ObjectIdentifier(endpoint)] = agentID
        }
        agentLinks[agentID] = AgentLink(route: route, liveness: liveness, acksInJobs: hello.acksInJobs ?? false)
        if configuration.security != nil, let key { agentKeys[agentID] = key }
        let info = AgentInfo(id: agentID, hostname: hello.hostname, slots: hello.slots, running: 0,
                             labels: hello.labels, joinedAt: currentTimestamp(), pid: hello.pid,
                             prefetch: hello.prefetch, functions: hello.functions)
        apply(state.agentJoined(info, running: hello.running, now: info.joinedAt), at: info.joinedAt)
        sendToAgent(agentID, .welcome(Welcome(
            agentID: agentID, heartbeatMilliseconds: configuration.heartbeatMilliseconds,
            liveness: configuration.liveness, takesReturns: true)))
        logger.info("agent joined", metadata: [
            "agent.id": .string(agentID), "agent.slots": .stringConvertible(hello.slots),
            "agent.host": .string(hello.hostname),
        ])
        needsSchedule = true
    }

    /// What makes a HELLO unusable that its reader does not check: a name that is not one, bad labels.
    static func helloProblem(_ hello: Hello) -> String? {
        if let problem = AgentName.problem(hello.name) { return problem }
        if let problem = JobSpec.labelProblem(hello.labels) { return problem }
        return nil
    }

    private func agentID(of route: AgentLink.Route) -> String? {
        switch route {
        case .socket(let peer): agentsByRoute[peer]
        case .local(let endpoint): localAgents[ObjectIdentifier(endpoint)]
        }
    }

    private func forget(_ route: AgentLink.Route) {
        switch route {
        case .socket(let peer): agentsByRoute[peer] = nil
        case .local(let endpoint): localAgents[ObjectIdentifier(endpoint)] = nil
        }
    }

    func dropAgent(_ agentID: String, reason: String) {
        if let link = agentLinks.removeValue(forKey: agentID) { forget(link.route) }
        agentKeys[agentID] = nil
        let now = currentTimestamp()
        apply(state.agentLeft(agentID, reason: reason, now: now), at: now)
        logger.info("agent left", metadata: ["agent.id": .string(agentID), "reason": .string(reason)])
    }

    // MARK: out

    /// A message for an agent; it leaves after the commit, with everything else.
    func sendToAgent(_ agentID: String, _ message: CoordinatorMessage) {
        guard let index = agentLinks.index(forKey: agentID) else { return }
        send(message, over: agentLinks.values[index].route)
        agentLinks.values[index].liveness?.sent(at: monotonicMilliseconds())
    }

    private func send(_ message: CoordinatorMessage, over route: AgentLink.Route) {
        switch route {
        case .socket(let peer): outbound.append([peer] + message.frames)
        case .local(let endpoint): localOutbound.append((endpoint, message))
        }
    }

    /// JOBS for an agent, carrying the ACK of its results journaled in this batch when it reads them
    /// there: one message instead of two, in each process and both ZeroMQ I/O threads.
    func sendJobs(_ assignments: [Assignment], to agentID: String) {
        guard let link = agentLinks[agentID] else { return }
        let runs = link.acksInJobs ? acks.removeValue(forKey: agentID) : nil
        sendToAgent(agentID, .jobs(JobsMessage(jobs: assignments, acks: runs)))
    }

    /// Every tick: heartbeat the agents we have not written to, and drop the ones we stopped hearing.
    func heartbeat() {
        let now = monotonicMilliseconds()
        for (agentID, link) in agentLinks {
            switch link.liveness?.check(at: now) ?? PeerLiveness.Action.none {
            case .none: break
            case .sendHeartbeat: sendToAgent(agentID, .heartbeat)
            case .lost(let silent): dropAgent(agentID, reason: "no heartbeat for \(silent) ms")
            }
        }
    }
}

extension Coordinator: LocalCoordinatorEndpoint {
    /// Single-host mode: a message from the agent on this loop, handled as one read from a socket.
    public func receive(_ message: AgentMessage, from agent: any LocalAgentEndpoint) {
        guard control != nil else { return }
        if case .hello(let hello) = message { return self.hello(hello, route: .local(agent), key: nil) }
        guard let agentID = localAgents[ObjectIdentifier(agent)] else {
            localOutbound.append((agent, .reconnect))
            return
        }
        handle(message, from: agentID, peer: nil)
    }
}

extension Coordinator.AgentLink.Route {
    func isSame(as other: Self) -> Bool {
        switch (self, other) {
        case (.socket(let a), .socket(let b)): a == b
        case (.local(let a), .local(let b)): a === b
        default: false
        }
    }
}
