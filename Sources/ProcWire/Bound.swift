/// A range numbers from outside must lie in, and the one check for them (flags, config files, the
/// environment, the network). A value outside its range is refused with a sentence that names it and
/// says what is allowed; nothing is clamped or converted silently, and no conversion can trap (a NaN or
/// an infinity turned into an integer is a crash in Swift). The project's ranges are `Bounds`, declared
/// with the wire schema.
public struct Bound<Value: Comparable & Sendable>: Sendable {
    public let range: ClosedRange<Value>
    /// How the value is counted, for the message ("seconds", "milliseconds", "" for a plain count).
    public let unit: String

    public init(_ range: ClosedRange<Value>, unit: String = "") {
        self.range = range
        self.unit = unit
    }

    fileprivate var unitPhrase: String { unit.isEmpty ? "" : " \(unit)" }
}

/// A number outside its range, or not a number at all; `description` says which and what is allowed.
public struct BoundProblem: Error, Sendable, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension Bound where Value == Double {
    /// What is wrong with `value` ("must be between 0 and 86400 seconds; got nan"), or nil.
    public func problem(_ value: Double) -> String? {
        guard value.isFinite else { return "must be a finite number, \(wordedRange)\(unitPhrase); got \(value)" }
        guard range.contains(value) else { return "must be \(wordedRange)\(unitPhrase); got \(Self.format(value))" }
        return nil
    }

    /// `value` if it is finite and in the range (−0 is 0); else the problem, naming the value as `name`.
    public func check(_ value: Double, _ name: String) throws(BoundProblem) -> Double {
        if let problem = problem(value) { throw BoundProblem("\(name) \(problem)") }
        return value == 0 ? 0 : value
    }

    /// `value` checked for a reader: the field's path is added as the error travels up.
    public func wire(_ value: Double) throws(WireError) -> Double {
        if let problem = problem(value) { throw WireError(problem) }
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
    /// What is wrong with `value` ("must be between 1 and 10000; got 0"), or nil.
    public func problem(_ value: Value) -> String? {
        range.contains(value) ? nil : "must be \(wordedRange)\(unitPhrase); got \(value)"
    }

    /// `value` if it is in the range; else the problem, naming the value as `name`.
    public func check(_ value: Value, _ name: String) throws(BoundProblem) -> Value {
        if let problem = problem(value) { throw BoundProblem("\(name) \(problem)") }
        return value
    }

    /// `value` checked for a reader: the field's path is added as the error travels up.
    public func wire(_ value: Value) throws(WireError) -> Value {
        if let problem = problem(value) { throw WireError(problem) }
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
