/// An agent's function hosts, as a machine: which host process takes a call, when a host is retired and a
/// fresh one takes its place. It decides; the agent starts, feeds and ends the processes.
///
/// - Each function is offered by one host executable (its path); a call goes to an idle host process of
///   that executable, else a new one is started. At most one call runs in a host process at a time, so
///   with `slots` calls at once there are at most `slots` busy processes.
/// - A host that served `maxCallsPerHost` calls (0: no limit) is retired after its call; one that was
///   signalled (a cancel, a timeout, a stop) or died is never used again; an `isolated` call gets a
///   process of its own, retired after it.
public struct HostPool: Sendable {
    public typealias HostID = Int

    public struct Host: Sendable, Equatable {
        public let id: HostID
        public let path: String
        /// Calls sent to it, in all.
        public internal(set) var calls = 0
        /// The call it runs now.
        public internal(set) var busy: JobID?
        /// Serves one call only.
        public let isolated: Bool
        /// Gets no more calls: it ends once its call (if any) is over.
        public internal(set) var retired = false
    }

    public enum Decision: Sendable, Equatable {
        /// Send the call to this idle host.
        case use(HostID)
        /// Start a host of `path` as `id`, then send it the call.
        case launch(HostID, path: String)
        /// No host offers the function.
        case unknown
    }

    /// Function name → the path of the host that offers it.
    public let offers: [String: String]
    public let maxCallsPerHost: Int
    public private(set) var hosts: [HostID: Host] = [:]
    /// Idle hosts by path, the most recently used last (it is taken first: its memory is warm).
    private var idle: [String: [HostID]] = [:]
    private var nextID: HostID = 1

    public init(offers: [String: String], maxCallsPerHost: Int = 0) {
        self.offers = offers
        self.maxCallsPerHost = max(0, maxCallsPerHost)
    }

    /// A host for a call of `function`.
    public mutating func take(_ function: String, for jobID: JobID, isolated: Bool) -> Decision {
        guard let path = offers[function] else { return .unknown }
        if !isolated, let id = idle[path]?.popLast() {
            hosts[id]!.busy = jobID
            hosts[id]!.calls += 1
            return .use(id)
        }
        let id = nextID
        nextID += 1
        hosts[id] = Host(id: id, path: path, calls: 1, busy: jobID, isolated: isolated)
        return .launch(id, path: path)
    }

    /// This idle host takes a call that was written to it ahead of its turn (`canTakeAhead`).
    public mutating func use(_ id: HostID, for jobID: JobID) -> Bool {
        guard var host = hosts[id], host.busy == nil, !host.retired else { return false }
        idle[host.path]?.removeAll { $0 == id }
        host.busy = jobID
        host.calls += 1
        hosts[id] = host
        return true
    }

    /// Whether one more call may be written to this busy host ahead of its turn, after the `ahead` calls
    /// written to it already: not an isolated or retired host, nor one whose limit of calls they reach.
    public func canTakeAhead(_ id: HostID, ahead: Int = 0) -> Bool {
        guard let host = hosts[id], host.busy != nil, !host.retired, !host.isolated else { return false }
        return maxCallsPerHost == 0 || host.calls + ahead < maxCallsPerHost
    }

    /// A host's call is over (it answered). Returns whether the host should now end (retired: its limit of
    /// calls, an isolated call, or it was signalled); else it waits for the next call.
    public mutating func callEnded(_ id: HostID) -> Bool {
        guard var host = hosts[id] else { return false }
        host.busy = nil
        if host.isolated || host.retired || (maxCallsPerHost > 0 && host.calls >= maxCallsPerHost) {
            host.retired = true
            hosts[id] = host
            return true
        }
        hosts[id] = host
        idle[host.path, default: []].append(id)
        return false
    }

    /// The host got a signal (its call was cancelled or timed out, or the agent stops): never used again.
    public mutating func retire(_ id: HostID) {
        guard hosts[id] != nil else { return }
        hosts[id]!.retired = true
        idle[hosts[id]!.path]?.removeAll { $0 == id }
    }

    /// Every host is retired (the agent stops): the idle ones, returned, should end now.
    public mutating func retireAll() -> [HostID] {
        let idleHosts = hosts.values.filter { $0.busy == nil && !$0.retired }.map(\.id).sorted()
        for id in hosts.keys { hosts[id]!.retired = true }
        idle.removeAll()
        return idleHosts
    }

    /// The host process is gone (reaped): its call, if it had one, is returned (it crashed with it).
    public mutating func ended(_ id: HostID) -> JobID? {
        guard let host = hosts.removeValue(forKey: id) else { return nil }
        idle[host.path]?.removeAll { $0 == id }
        return host.busy
    }

    public var isEmpty: Bool { hosts.isEmpty }
}
