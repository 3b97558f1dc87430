import ProcCore

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

    public init() {}
}

public let procVersion = "0.1.0"
