import Logging
import ProcCore
import ZeroMQ

/// CURVE and roles (DESIGN §3, Security): the ZAP handler lets a connection in only if its key is in the
/// authorized-keys directory, and every message is then checked against the key's current role, so a
/// key removed from the directory stops working on connections it already has.
extension Coordinator {
    /// Loop only. Before the sockets bind: libzmq asks the handler from the first handshake on.
    func startSecurity(_ security: CoordinatorSecurity) throws {
        do {
            authorized = try AuthorizedKeys.load(directory: security.authorizedKeysDirectory)
        } catch {
            throw CoordinatorError("\(error)")
        }
        keysSignature = AuthorizedKeys.signature(directory: security.authorizedKeysDirectory) ?? ""
        logKeys(reloaded: false, previous: AuthorizedKeys())
        zap = try ZAPHandler(loop: loop) { [unowned self] request in authorize(request) }
        keysTimer = loop.every(milliseconds: Int64(max(50, security.reloadIntervalMilliseconds))) { [unowned self] in
            reloadKeysIfChanged()
        }
    }

    func stopSecurity() {
        if let keysTimer { loop.cancel(keysTimer) }
        keysTimer = nil
        zap?.close()
        zap = nil
    }

    private func authorize(_ request: ZAPRequest) -> ZAPDecision {
        guard request.mechanism == "CURVE", let key = request.curvePublicKey else {
            noteRejected("handshake without CURVE", peer: request.address)
            return .deny(reason: "CURVE required")
        }
        // A key added a moment ago counts at once: look at the directory again before refusing.
        if authorized.role(of: key) == nil { reloadKeysIfChanged(force: true) }
        guard authorized.role(of: key) != nil else {
            stats.refusedHandshakes += 1
            noteRejected("unknown key", peer: "\(request.address) key \(key)")
            return .deny(reason: "key not authorized")
        }
        return .allow(userID: key)
    }

    /// Re-reads the authorized keys now (SIGHUP). Any thread.
    public func reloadKeys() {
        loop.execute { [self] in reloadKeysIfChanged(force: true) }
    }

    /// Re-reads the directory when it changed and then held still for a tick (a certificate being copied
    /// in is not read half-written), or at once when `force`d. When it cannot be read for now (out of file
    /// descriptors: a stranger can open connections), the keys loaded stay as they are: only a key that
    /// is really gone is revoked.
    private func reloadKeysIfChanged(force: Bool = false) {
        guard let security = configuration.security else { return }
        guard let signature = AuthorizedKeys.signature(directory: security.authorizedKeysDirectory) else { return }
        guard signature != keysSignature else {
            keysCandidate = nil
            return
        }
        if !force && keysCandidate != signature {
            keysCandidate = signature
            return
        }
        keysCandidate = nil
        let previous = authorized
        do {
            authorized = try AuthorizedKeys.load(directory: security.authorizedKeysDirectory, previous: previous)
        } catch AuthorizedKeys.LoadError.gone(let message) {
            authorized = AuthorizedKeys()
            logger.error("authorized keys directory gone; refusing every key until it is back", metadata: ["error": .string(message)])
        } catch {
            logger.warning("cannot read the authorized keys now; keeping the ones loaded", metadata: ["error": "\(error)"])
            return
        }
        keysSignature = signature
        logKeys(reloaded: true, previous: previous)
        for (agentID, key) in agentKeys where authorized.role(of: key) != .agent {
            refuseAgent(agentID, because: "this agent's key is no longer authorized as an agent")
        }
    }

    /// Counts by role, every key added, removed or changed (by certificate name), and every problem.
    private func logKeys(reloaded: Bool, previous: AuthorizedKeys) {
        logger.info(reloaded ? "authorized keys reloaded" : "authorized keys loaded", metadata: [
            "keys.agent": .stringConvertible(authorized.count(.agent)),
            "keys.client": .stringConvertible(authorized.count(.client)),
            "keys.observer": .stringConvertible(authorized.count(.observer)),
            "directory": .string(configuration.security?.authorizedKeysDirectory ?? ""),
        ])
        for (key, entry) in authorized.entries where previous.entries[key]?.role != entry.role {
            logger.info("key \(entry.name) is authorized as \(entry.role.rawValue)", metadata: ["key": .string(key)])
        }
        for (key, entry) in previous.entries where authorized.entries[key] == nil {
            logger.info("key \(entry.name) is no longer authorized", metadata: ["key": .string(key)])
        }
        for problem in authorized.problems { logger.warning("authorized key: \(problem)") }
    }

    /// The role of a message's sender: nil when keys are not checked (no CURVE), `.some(nil)` when the
    /// key has no role (any more).
    func role(ofUserID userID: String?) -> PeerRole?? {
        guard configuration.security != nil else { return .none }
        // Every TCP peer passed the ZAP handler, which always names the key as User-Id. Only an inproc
        // peer (the built-in agent and client of single-host mode, in this process) comes without one.
        guard let userID else { return .none }
        return .some(authorized.role(of: userID))
    }

    /// Tells an agent's connection it may not take part, and forgets the agent.
    func refuseAgent(_ agentID: String, because reason: String) {
        sendToAgent(agentID, .refused(reason))
        dropAgent(agentID, reason: reason)
    }

    /// Counts and logs a rejected message or handshake: the first of a kind at once, then at most one
    /// line per kind every 10 s with how many there were since, so a flood cannot flood the log.
    func noteRejected(_ kind: String, peer: String, detail: String = "") {
        stats.rejected += 1
        stats.rejectedByKind[kind, default: 0] += 1
        let now = monotonicMilliseconds()
        var entry = rejectLog[kind] ?? (lastLogged: nil, suppressed: 0)
        if entry.lastLogged.map({ now - $0 >= 10_000 }) ?? true {
            var metadata: Logger.Metadata = ["why": .string(kind), "peer": .string(peer)]
            if !detail.isEmpty { metadata["detail"] = .string(detail) }
            if entry.suppressed > 0 { metadata["more.since.last"] = .stringConvertible(entry.suppressed) }
            logger.warning("rejected input", metadata: metadata)
            entry = (now, 0)
        } else {
            entry.suppressed += 1
        }
        rejectLog[kind] = entry
    }
}
