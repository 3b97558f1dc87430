/// The ranges numbers from outside must lie in, and the one check for them (flags, config files, the
/// environment, the network). A value outside its range is refused with a sentence that names it and
/// says what is allowed; nothing is clamped or converted silently, and no conversion can trap (a NaN or
/// an infinity turned into an integer is a crash in Swift).
public struct Bound<Value: Comparable & Sendable>: Sendable {
    public let range: ClosedRange<Value>
    /// How the value is counted, for the message ("seconds", "milliseconds", "" for a plain count).
    public let unit: String

    public init(_ range: ClosedRange<Value>, unit: String = "") {
        self.range = range
        self.unit = unit
    }
}

/// A number outside its range, or not a number at all; `description` says which and what is allowed.
public struct BoundProblem: Error, Sendable, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension Bound where Value == Double {
    /// `value` if it is finite and in the range (−0 is 0); else the problem, naming the value as `name`.
    public func check(_ value: Double, _ name: String) throws(BoundProblem) -> Double {
        guard value.isFinite else {
            throw BoundProblem("\(name) must be a finite number, \(wordedRange)\(unitPhrase); got \(value)")
        }
        guard range.contains(value) else {
            throw BoundProblem("\(name) must be \(wordedRange)\(unitPhrase); got \(Self.format(value))")
        }
        return value == 0 ? 0 : value
    }

    /// The value checked in seconds, as whole milliseconds (rounded); cannot overflow once checked.
    public func milliseconds(_ seconds: Double, _ name: String) throws(BoundProblem) -> Int {
        precondition(range.upperBound <= 9e12, "a bound in seconds that whole milliseconds cannot hold")
        return Int((try check(seconds, name) * 1000).rounded())
    }

    private var wordedRange: String {
        if range.upperBound == .greatestFiniteMagnitude { return "at least \(Self.format(range.lowerBound))" }
        return "between \(Self.format(range.lowerBound)) and \(Self.format(range.upperBound))"
    }

    static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : "\(value)"
    }
}

extension Bound where Value: FixedWidthInteger {
    /// `value` if it is in the range; else the problem, naming the value as `name`.
    public func check(_ value: Value, _ name: String) throws(BoundProblem) -> Value {
        guard range.contains(value) else {
            throw BoundProblem("\(name) must be \(wordedRange)\(unitPhrase); got \(value)")
        }
        return value
    }

    /// A wider integer (an Int64 read from JSON or TOML) checked and converted: never traps.
    public func check<Other: BinaryInteger>(converting value: Other, _ name: String) throws(BoundProblem) -> Value {
        guard let exact = Value(exactly: value) else {
            throw BoundProblem("\(name) must be \(wordedRange)\(unitPhrase); got \(value)")
        }
        return try check(exact, name)
    }

    private var wordedRange: String {
        if range.upperBound == Value.max { return "at least \(range.lowerBound)" }
        return "between \(range.lowerBound) and \(range.upperBound)"
    }
}

extension Bound {
    fileprivate var unitPhrase: String { unit.isEmpty ? "" : " \(unit)" }
}

/// The bounds of the project, one place for each kind of number (README lists the user-facing ones).
public enum Bounds {
    /// Jobs an agent runs at once.
    public static let slots = Bound(1...10_000)
    /// Runs an agent holds beyond its slots.
    public static let prefetch = Bound(0...1_000)
    /// A job's timeout, in seconds: more than nothing, at most a year.
    public static let jobTimeout = Bound(0.001...365 * 86_400, unit: "seconds")
    /// Retries of a job that fails by itself.
    public static let retries = Bound(0...1_000)
    /// A job's priority (higher runs first).
    public static let priority = Bound(-1_000_000_000...1_000_000_000)
    /// SIGTERM → SIGKILL when a job is cancelled, times out, or its agent stops.
    public static let graceSeconds = Bound(0.0...86_400, unit: "seconds")
    public static let graceMilliseconds = Bound(0...86_400_000, unit: "milliseconds")
    /// How long a client waits for one answer from the coordinator.
    public static let requestTimeout = Bound(0.01...86_400, unit: "seconds")
    /// How long `proc wait` (or a check-proc run) waits in all.
    public static let waitTimeout = Bound(0.001...365 * 86_400, unit: "seconds")
    /// After a coordinator restart, how long runs in flight wait for their agents.
    public static let reconnectGraceSeconds = Bound(0.0...86_400, unit: "seconds")
    /// The longest wait between an agent's reconnect attempts.
    public static let reconnectMaxSeconds = Bound(0.01...3_600, unit: "seconds")
    /// Heartbeat interval, and missed heartbeats before a peer counts as gone.
    public static let heartbeatMilliseconds = Bound(10...600_000, unit: "milliseconds")
    public static let liveness = Bound(1...1_000)
    /// How long a commit (coordinator) or a result (agent) may wait for the next ones.
    public static let holdMilliseconds = Bound(0...100, unit: "milliseconds")
    /// Times a job's run may be lost with its agent.
    public static let maxAttempts = Bound(1...1_000)
    /// Bytes of stdout and of stderr kept per run.
    public static let outputLimit = Bound(0...(1 << 30), unit: "bytes")
    /// A queue's limit of running jobs (0: none).
    public static let maxRunning = Bound(0...1_000_000)
    /// Jobs `proc status` lists.
    public static let statusLimit = Bound(0...10_000)
    /// A WAIT request's own timeout (the client asks again after it).
    public static let waitRequestMilliseconds = Bound(0...600_000, unit: "milliseconds")
    /// Events one REPLAY request asks for.
    public static let replayLimit = Bound(1...10_000)
}
