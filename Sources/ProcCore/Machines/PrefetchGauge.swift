

/// How many runs an agent asks to hold beyond its slots, from how long its recent runs took
/// (docs/design-notes.md, note 8). While the last `window` runs each ended within `shortRunSeconds`, it asks for
/// `whileShort`; after a longer one, for `base` again, until `window` short runs in a row have ended.
///
/// Why: a held run starts the moment a slot frees, with no round trip, and two or more held let the
/// coordinator share one commit among several jobs (docs/design-notes.md, note 9). On W1 as separate processes that is
/// 12–15% of the wall time and a quarter of the coordinator's CPU per job.
/// The cost is that a held run may wait behind a run on its agent while a slot frees elsewhere: while the
/// runs are short, that wait is one short run.
public struct PrefetchGauge: Sendable, Equatable {
    public static let window = 8
    public static let shortRunSeconds = 0.010
    public let base: Int
    public let whileShort: Int
    private var shortInARow = 0

    public init(base: Int, whileShort: Int) {
        self.base = base
        self.whileShort = whileShort
    }

    /// What the agent asks for now.
    public var current: Int { runsAreShort ? whileShort : base }

    /// Whether the last `window` runs each ended within `shortRunSeconds`.
    public var runsAreShort: Bool { shortInARow >= Self.window }

    /// A run ended after `seconds` (from its spawn).
    public mutating func ran(seconds: Double) {
        shortInARow = seconds <= Self.shortRunSeconds ? min(shortInARow + 1, Self.window) : 0
    }
}
