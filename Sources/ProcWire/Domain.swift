/// A job's identifier, as printed by `proc submit` ("j42").
public typealias JobID = String

/// Wall-clock time as seconds since the Unix epoch.
public typealias Timestamp = Double

/// The queue of a job that names none.
public let defaultQueueName = "default"

extension JobSpec {
    /// Why a function name cannot be used: empty, too long, or holding anything but letters, digits and
    /// `_ - . :` (a name is a key in hosts written in any language).
    public static func functionNameProblem(_ name: String) -> String? {
        if name.isEmpty { return "function name is empty" }
        if name.utf8.count > 256 { return "function name is too long (over 256 bytes)" }
        let allowed = name.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
                || byte == UInt8(ascii: ":")
        }
        return allowed ? nil : "function name '\(name)' may hold only letters, digits and _ - . :"
    }
}

extension JobStatus {
    public var isFinal: Bool { self == .completed || self == .error || self == .cancelled }
}

extension JobRecord {
    public var queue: String { spec.queue ?? defaultQueueName }
}

extension JobOutput {
    /// Nothing printed.
    public static let empty = JobOutput(stdout: "", stderr: "")
}

extension RunResult {
    public var ref: RunRef { RunRef(jobID: jobID, attempt: attempt) }
}

extension ErrorReply: CustomStringConvertible {
    public var description: String { message }

    public static func badRequest(_ message: String) -> ErrorReply { .init(code: "bad_request", message: message) }
    public static func notFound(_ message: String) -> ErrorReply { .init(code: "not_found", message: message) }
    /// The peer's key does not carry a role that may do this (or was removed).
    public static func forbidden(_ message: String) -> ErrorReply { .init(code: "forbidden", message: message) }
}

extension EventType {
    /// The topic frame's bytes, made once (publishing made an array per event).
    public var topic: [UInt8] { Self.topics[self]! }
    private static let topics = Dictionary(uniqueKeysWithValues: allCases.map { ($0, Array($0.rawValue.utf8)) })
}

extension Event {
    /// The seq of an event body as the coordinator writes it, first: `{"seq":123,`. Nil for anything
    /// else (decode the body in full then). Lets a subscriber keep count of events it does not decode.
    public static func leadingSeq(_ body: [UInt8]) -> UInt64? {
        let prefix: StaticString = #"{"seq":"#
        guard body.count > prefix.utf8CodeUnitCount + 1 else { return nil }
        for index in 0..<prefix.utf8CodeUnitCount where body[index] != prefix.utf8Start[index] { return nil }
        var value: UInt64 = 0
        var index = prefix.utf8CodeUnitCount
        while index < body.count, body[index] >= 48, body[index] <= 57 {
            let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times.addingReportingOverflow(UInt64(body[index] - 48))
            guard !overflow1, !overflow2 else { return nil }
            value = sum
            index += 1
        }
        guard index > prefix.utf8CodeUnitCount, index < body.count, body[index] == UInt8(ascii: ",") else { return nil }
        return value
    }
}
