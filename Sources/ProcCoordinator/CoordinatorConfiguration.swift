import Glibc
import ProcCore
import ZeroMQ

/// How a coordinator listens, stores and watches its agents.
public struct CoordinatorConfiguration: Sendable {
    /// Control endpoints (ROUTER): agents and clients. DESIGN §2 default: tcp://*:5555.
    public var controlEndpoints: [String] = ["tcp://*:5555"]
    /// The event feed (PUB). DESIGN §2 default: tcp://*:5556.
    public var eventsEndpoint: String = "tcp://*:5556"
    /// Where the journal lives.
    public var dataDirectory: String = "./proc-data"
    /// Heartbeat interval towards agents, and how many missed intervals make an agent gone.
    public var heartbeatMilliseconds: Int = 1_000
    public var liveness: Int = 3
    /// After a restart, how long runs in flight wait for their agents to reconnect before they are lost.
    /// Longer than an agent's longest reconnect backoff (32 s) is safest; less only retries sooner.
    public var reconnectGraceMilliseconds: Int = 40_000
    /// Messages the event feed may queue per subscriber before it drops (then seq + replay recover).
    public var publishHighWaterMark: Int32 = 1_000_000
    /// Queue limits set at start (`[queues.NAME] max_running = N` in the config file).
    public var queueLimits: [String: Int] = [:]
    public var cluster = ClusterSettings()
    /// CURVE on the control and events sockets, and the keys allowed in (nil: no CURVE).
    public var security: CoordinatorSecurity?
    /// Listening on a network address without CURVE, allowed by `--insecure`: said in the log, in INFO
    /// and in every agent.joined event.
    public var insecure = false
    /// A peer that sends a bigger message is disconnected by libzmq (before any of it is parsed).
    public var maxMessageBytes: Int64 = 64 << 20
    /// How long a commit may wait to share its transaction with the next ones, while nobody waits on it:
    /// no client reply, and no agent that would run dry (see `Coordinator.mayHoldCommit`). 0: never.
    public var commitHoldMilliseconds: Int = 2

    public init() {}

    /// "curve", "insecure" or "local" (see `Event.security`).
    public var securityMode: String { security != nil ? "curve" : insecure ? "insecure" : "local" }
}

/// The coordinator's key pair and where the public keys it accepts are kept (`AuthorizedKeys`).
public struct CoordinatorSecurity: Sendable {
    public var keys: CurveKeyPair
    public var authorizedKeysDirectory: String
    /// How often the directory is checked for changes (SIGHUP, via `Coordinator.reloadKeys`, is at once).
    public var reloadIntervalMilliseconds: Int = 1_000

    public init(keys: CurveKeyPair, authorizedKeysDirectory: String) {
        self.keys = keys
        self.authorizedKeysDirectory = authorizedKeysDirectory
    }
}

/// Whether an endpoint can only be reached from this host: inproc, ipc, or tcp on a numeric loopback
/// address (127.0.0.0/8 or ::1). Anything else counts as a network address: host names, interface names,
/// wildcards, and libzmq's "source;destination" form, which binds the destination.
public func isLocalEndpoint(_ endpoint: String) -> Bool {
    if endpoint.hasPrefix("inproc://") || endpoint.hasPrefix("ipc://") { return true }
    guard endpoint.hasPrefix("tcp://"), !endpoint.contains(";") else { return false }
    var host = String(endpoint.dropFirst("tcp://".count))
    guard let colon = host.lastIndex(of: ":") else { return false }
    host = String(host[..<colon])
    if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
    var v4 = in_addr()
    if inet_pton(AF_INET, host, &v4) == 1 { return UInt32(bigEndian: v4.s_addr) >> 24 == 127 }
    var v6 = in6_addr()
    if inet_pton(AF_INET6, host, &v6) == 1 {
        return withUnsafeBytes(of: &v6) { Array($0) } == [UInt8](repeating: 0, count: 15) + [1]
    }
    return false
}

public let procVersion = "0.1.0"
