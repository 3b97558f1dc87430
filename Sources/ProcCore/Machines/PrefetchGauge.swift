/// How many runs an agent asks to hold beyond its slots, from how long its recent runs took
/// (docs/design-notes.md, note 8). While the last `window` runs each ended within `shortRunSeconds`, it asks for
/// `whileShort`; after a longer one, for `base` again, until `window` short runs in a row have ended.
///
/// Why: a held run starts the moment a slot frees, with no round trip, and two or more held let the
/// coordinator share one commit among several jobs (docs/design-notes.md, note 9). On W1 as separate processes that is
/// 12–15% of the wall time and a quarter of the coordinator's CPU per job.
/// The cost is that a held run may wait behind a run on its agent while a slot frees elsewhere: while the
/// runs are short, that wait is one short run.
///
/// Calls to warm function hosts that end within `quickCallSeconds` get a deeper window, `whileQuickCalls`:
/// such a call costs less than the round trip that brings the next one, so the window (runs in flight
/// per round trip) sets the rate. W4 with a separate agent: 8.7k calls/s with 4 held, 14k with 16, 18k
/// with 64. What a held call can wait behind is then a few milliseconds of calls.
public struct PrefetchGauge: Sendable, Equatable {
    public static let window = 8
    public static let shortRunSeconds = 0.010
    public static let quickCallSeconds = 0.001
    public let base: Int
    public let whileShort: Int
    public let whileQuickCalls: Int
    private var shortInARow = 0
    private var quickCallsInARow = 0

    /// `whileQuickCalls` nil: as `whileShort`.
    public init(base: Int, whileShort: Int, whileQuickCalls: Int? = nil) {
        self.base = base
        self.whileShort = whileShort
        self.whileQuickCalls = max(whileQuickCalls ?? whileShort, whileShort)
    }

    /// What the agent asks for now.
    public var current: Int { callsAreQuick ? whileQuickCalls : runsAreShort ? whileShort : base }

    /// Whether the last `window` runs each ended within `shortRunSeconds`.
    public var runsAreShort: Bool { shortInARow >= Self.window }

    /// Whether the last `window` runs were each a call to a warm host that ended within `quickCallSeconds`.
    public var callsAreQuick: Bool { quickCallsInARow >= Self.window }

    /// A run ended after `seconds` (from its start); `warmCall`: it was a call to a warm function host.
    public mutating func ran(seconds: Double, warmCall: Bool = false) {
        shortInARow = seconds <= Self.shortRunSeconds ? min(shortInARow + 1, Self.window) : 0
        quickCallsInARow = warmCall && seconds <= Self.quickCallSeconds ? min(quickCallsInARow + 1, Self.window) : 0
    }
}
