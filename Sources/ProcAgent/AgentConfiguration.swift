import Glibc
import ProcCore
import ZeroMQ

/// How an agent joins and what it offers.
public struct AgentConfiguration: Sendable {
    /// The coordinator's control endpoint ("tcp://10.0.0.1:5555", or an inproc endpoint in single-host mode).
    public var coordinatorEndpoint: String
    /// Unique in the cluster; a restart with the same name is recognised as the same agent.
    public var name: String
    /// Jobs run at once.
    public var slots: Int
    /// Runs held beyond `slots`, each started the moment a slot frees, with no round trip to the
    /// coordinator in between. The coordinator fills every free slot in the cluster before it fills any
    /// agent's prefetch. 0: take only what can start at once.
    public var prefetch: Int = 1
    /// While the agent's recent runs are all short (`PrefetchGauge`), it asks for this many instead of
    /// `prefetch` (nil: always `prefetch`). `proc-agent` sets it to `max(4, slots)` unless `--prefetch` is
    /// given: short runs gain most from held ones (no round trip, commits shared: docs/design-notes.md, note 8), and
    /// what a held run can wait behind is one of them.
    public var shortRunPrefetch: Int?
    /// While the recent runs are all quick calls to warm function hosts (`PrefetchGauge`), this many (nil:
    /// as `shortRunPrefetch`). `proc-agent` and single-host mode set it to `quickCallPrefetch(slots:)` unless
    /// `--prefetch` is given.
    public var quickCallPrefetch: Int?
    /// How long a result may wait to go with the next ones in one RESULT, while every slot is busy and the
    /// recent runs are short (`ResultHold`); 0: never.
    public var resultHoldMilliseconds: Int = 2
    /// When the agent stops, how long its running jobs get between SIGTERM and SIGKILL.
    public var stopGraceMilliseconds: Int = 5_000

    /// The prefetch of the agent inside a single-host coordinator: as many runs as slots, at least 4.
    /// Prefetch costs load balance between agents, and there is usually one; and with two or more held,
    /// the coordinator may hold a commit back to share it with the next jobs (docs/design-notes.md, note 9): on W1,
    /// 4 held runs took 2,000 jobs from about 1,400 commits to 480.
    public static func linkedPrefetch(slots: Int) -> Int { max(4, slots) }

    /// Held calls while calls are quick: enough to cover a round trip to the coordinator (PrefetchGauge).
    public static func quickCallPrefetch(slots: Int) -> Int { min(max(64, 8 * slots), Bounds.prefetch.range.upperBound) }
    /// Jobs that require labels run only on agents that carry them all.
    public var labels: [String: String] = [:]
    /// Bytes of stdout and of stderr kept per run (the last part).
    public var outputLimit: Int = 64 * 1024
    /// Become a child subreaper, so the orphaned grandchildren of jobs are re-parented to this process
    /// and reaped here (no zombies, nothing escapes). For processes that are agents (`proc-agent`,
    /// `proc-coordinator --standalone`); off for an agent inside someone else's program (the library).
    public var adoptsOrphans = false
    /// Where the agent keeps unacknowledged results and records of its runs, so both survive a restart
    /// of the agent (nil: in memory only, as in single-host mode, where agent and coordinator share a
    /// process).
    public var dataDirectory: String?
    /// Until the coordinator's WELCOME says otherwise.
    public var heartbeatMilliseconds: Int = 1_000
    public var liveness: Int = 3
    /// Reconnect backoff: doubles from min to max, with jitter.
    public var reconnectMinMilliseconds: Int = 1_000
    public var reconnectMaxMilliseconds: Int = 32_000
    /// Variables every job gets from the agent's own environment (the rest of the agent's environment,
    /// its secrets included, is not passed on). The job spec's `env` and `PROC_*` come on top.
    public var inheritedEnvironment: [String: String]
    /// CURVE keys for the connection to the coordinator (nil: none, for a coordinator without CURVE).
    public var security: CurveClientKeys?
    /// A bigger message from the coordinator drops the connection (a reconnect follows).
    public var maxMessageBytes: Int64 = 64 << 20
    /// Function host executables (`--functions PATH…`): each is asked at the start which functions it
    /// offers, and runs their calls in warm processes, one call at a time per process.
    public var functionHosts: [String] = []
    /// Calls one host process serves before a fresh one takes its place (0: no limit).
    public var maxCallsPerHost: Int = 0
    /// Who jobs run as (nil: the agent's own user); see `RunAsUser`. Their HOME, USER and LOGNAME are this
    /// user's, unless the job spec's `env` sets them.
    public var runAs: RunAsUser?

    public init(coordinatorEndpoint: String, name: String, slots: Int) {
        self.coordinatorEndpoint = coordinatorEndpoint
        self.name = name
        self.slots = slots
        self.inheritedEnvironment = Self.defaultInheritedEnvironment()
    }

    public static let inheritedVariables = ["PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "TMPDIR", "SHELL"]

    public static func defaultInheritedEnvironment() -> [String: String] {
        var environment: [String: String] = [:]
        for name in inheritedVariables {
            if let value = getenv(name) { environment[name] = String(cString: value) }
        }
        if environment["PATH"] == nil { environment["PATH"] = "/usr/local/bin:/usr/bin:/bin" }
        return environment
    }

    /// "HOSTNAME" — the default name.
    public static func hostname() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        gethostname(&buffer, buffer.count)
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
