/// The heartbeat rule, for either side of an agent's link: say something at least every interval, and
/// count the other side as gone after `liveness` intervals of silence. Times are milliseconds on a
/// monotonic clock, given by the caller (no clock is read here).
public struct PeerLiveness: Sendable, Equatable {
    public private(set) var intervalMilliseconds: Int64
    public private(set) var liveness: Int64
    public private(set) var lastHeard: Int64
    public private(set) var lastSent: Int64

    public init(intervalMilliseconds: Int, liveness: Int, now: Int64) {
        self.intervalMilliseconds = Int64(intervalMilliseconds)
        self.liveness = Int64(liveness)
        lastHeard = now
        lastSent = now
    }

    public enum Action: Sendable, Equatable {
        case none
        /// Nothing was sent for an interval: send a HEARTBEAT.
        case sendHeartbeat
        /// Nothing was heard for `liveness` intervals: the other side is gone.
        case lost(silentMilliseconds: Int64)
    }

    /// Anything came from the other side.
    public mutating func heard(at now: Int64) { lastHeard = now }

    /// Anything went to the other side.
    public mutating func sent(at now: Int64) { lastSent = now }

    /// New settings (a WELCOME's); the clocks go on.
    public mutating func reconfigure(intervalMilliseconds: Int, liveness: Int) {
        self.intervalMilliseconds = Int64(intervalMilliseconds)
        self.liveness = Int64(liveness)
    }

    /// What is due at `now`. Losing the peer comes before heartbeating it.
    public func check(at now: Int64) -> Action {
        let silent = now - lastHeard
        if silent > intervalMilliseconds * liveness { return .lost(silentMilliseconds: silent) }
        if now - lastSent >= intervalMilliseconds { return .sendHeartbeat }
        return .none
    }

    /// How often to check so that a heartbeat never goes out much later than its interval.
    public static func tickMilliseconds(interval: Int) -> Int64 { Int64(max(10, min(200, interval / 4))) }
}

/// How long an agent waits before it tries to reach its coordinator again: from `minimum`, doubling to
/// `maximum`, each wait plus up to a quarter more at random (so a restarted coordinator is not met by
/// every agent at once). A welcome starts it over.
public struct ReconnectBackoff: Sendable, Equatable {
    public let minimum: Int
    public let maximum: Int
    public private(set) var next: Int

    public init(minimumMilliseconds: Int, maximumMilliseconds: Int) {
        maximum = max(1, maximumMilliseconds)
        minimum = max(1, min(minimumMilliseconds, maximum))
        next = minimum
    }

    /// The wait before the next attempt, in milliseconds; `jitter` picks a number in the range it is
    /// given (`Int.random(in:)` in use, a fixed choice in tests).
    public mutating func delay(jitter: (ClosedRange<Int>) -> Int) -> Int {
        let wait = next + jitter(0...max(1, next / 4))
        next = min(next * 2, maximum)
        return wait
    }

    /// Connected and welcomed: the next wait is the shortest again.
    public mutating func reset() { next = minimum }
}
