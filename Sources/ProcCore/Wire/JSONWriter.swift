/// Writes JSON straight into a byte buffer: the encoder of the hot path (events, job rows, JOBS, RESULT,
/// ACK). Foundation's `JSONEncoder` goes through Codable's keyed containers, boxes and generic metadata
/// for every field; per job that came to about a quarter of the coordinator's CPU (docs/performance.md).
///
/// The output is the JSON `WireCoding.encode` writes for the same value (same keys, absent optionals
/// left out, slashes not escaped), so either side may decode it with `JSONDecoder`; a test checks each
/// type against Codable.
public struct JSONWriter {
    public private(set) var bytes: [UInt8] = []
    /// No member written yet in the current object or array (or a key was just written).
    private var first = true

    public init(capacity: Int = 256) {
        bytes.reserveCapacity(capacity)
    }

    private mutating func separator() {
        if !first { bytes.append(UInt8(ascii: ",")) }
        first = false
    }

    public mutating func beginObject() {
        separator()
        bytes.append(UInt8(ascii: "{"))
        first = true
    }

    public mutating func endObject() {
        bytes.append(UInt8(ascii: "}"))
        first = false
    }

    public mutating func beginArray() {
        separator()
        bytes.append(UInt8(ascii: "["))
        first = true
    }

    public mutating func endArray() {
        bytes.append(UInt8(ascii: "]"))
        first = false
    }

    /// A key of the current object (ours are plain ASCII, never escaped).
    public mutating func key(_ key: StaticString) {
        separator()
        bytes.append(UInt8(ascii: "\""))
        raw(key)
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
        first = true
    }

    public mutating func string(_ value: String) {
        separator()
        bytes.append(UInt8(ascii: "\""))
        var value = value
        value.withUTF8 { utf8 in
            var start = 0
            for index in 0..<utf8.count {
                let byte = utf8[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<index]))
                start = index + 1
                bytes.append(UInt8(ascii: "\\"))
                switch byte {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): bytes.append(byte)
                case 0x0A: bytes.append(UInt8(ascii: "n"))
                case 0x0D: bytes.append(UInt8(ascii: "r"))
                case 0x09: bytes.append(UInt8(ascii: "t"))
                case 0x08: bytes.append(UInt8(ascii: "b"))
                case 0x0C: bytes.append(UInt8(ascii: "f"))
                default:
                    let hex: [UInt8] = Array("0123456789abcdef".utf8)
                    bytes.append(contentsOf: [UInt8(ascii: "u"), 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
                }
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start...]))
        }
        bytes.append(UInt8(ascii: "\""))
    }

    public mutating func int<T: BinaryInteger>(_ value: T) {
        separator()
        if let value = Int64(exactly: value) {
            if value < 0 { bytes.append(UInt8(ascii: "-")) }
            digits(value.magnitude)
        } else {
            bytes.append(contentsOf: String(value).utf8)
        }
    }

    /// Integral values as integers ("3", as `JSONEncoder` writes them); NaN and infinities, which JSON
    /// cannot carry, as null.
    public mutating func double(_ value: Double) {
        guard value.isFinite else { return null() }
        if value.rounded() == value && abs(value) < 9.0e15 {
            int(Int64(value))
        } else if let micros = Self.exactMicroseconds(value) {
            // Timestamps and durations: written without `description`'s String, which is on the heap
            // once longer than 15 bytes (five a job, docs/performance.md item 36).
            separator()
            if micros < 0 { bytes.append(UInt8(ascii: "-")) }
            digits(micros.magnitude / 1_000_000)
            bytes.append(UInt8(ascii: "."))
            var fraction = micros.magnitude % 1_000_000
            var width = 6
            while width > 1, fraction % 10 == 0 {
                fraction /= 10
                width -= 1
            }
            digits(fraction, width: width)
        } else {
            separator()
            bytes.append(contentsOf: value.description.utf8)
        }
    }

    /// `value` as a whole number of microseconds, when that is exact and its six decimals are the
    /// shortest that read back as `value`, which is what `description` writes: the decimal n / 10⁶ reads
    /// back as the double nearest to it, which is `Double(n) / 1e6` (IEEE division rounds correctly), and
    /// below 2³³ doubles are closer together than 10⁻⁶, so no shorter decimal reads back as `value`. From
    /// 10⁻⁴ up, where `description` writes no exponent. Not for integral values.
    static func exactMicroseconds(_ value: Double) -> Int64? {
        let magnitude = abs(value)
        guard magnitude >= 1e-4, magnitude < 8_589_934_592 else { return nil }
        let micros = (value * 1e6).rounded()
        guard micros / 1e6 == value else { return nil }
        return Int64(micros)
    }

    /// The decimal digits of `value`, at least `width` of them (zeros in front).
    private mutating func digits(_ value: UInt64, width: Int = 1) {
        var buffer: (UInt64, UInt64, UInt64) = (0, 0, 0)  // room for 24 digits; UInt64 has at most 20
        withUnsafeMutableBytes(of: &buffer) { raw in
            var index = raw.count
            var rest = value
            repeat {
                index -= 1
                raw[index] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
            } while rest > 0 || raw.count - index < width
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[index...]))
        }
    }

    public mutating func bool(_ value: Bool) {
        separator()
        raw(value ? "true" : "false")
    }

    public mutating func null() {
        separator()
        raw("null")
    }

    /// A literal's bytes as they are (no allocation, unlike `Array("true".utf8)`).
    private mutating func raw(_ literal: StaticString) {
        literal.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// A key that is not a literal (a map's own keys), escaped like any string.
    private mutating func memberKey(_ text: String) {
        string(text)
        bytes.append(UInt8(ascii: ":"))
        first = true
    }

    public mutating func strings(_ values: [String]) {
        beginArray()
        for value in values { string(value) }
        endArray()
    }

    /// A string map, keys sorted (so the same map always writes the same bytes).
    public mutating func stringMap(_ values: [String: String]) {
        beginObject()
        for key in values.keys.sorted() {
            memberKey(key)
            string(values[key]!)
        }
        endObject()
    }

    public mutating func json(_ value: JSONValue) {
        switch value {
        case .null: null()
        case .bool(let value): bool(value)
        case .int(let value): int(value)
        case .double(let value): double(value)
        case .string(let value): string(value)
        case .array(let values):
            beginArray()
            for value in values { json(value) }
            endArray()
        case .object(let members):
            beginObject()
            for key in members.keys.sorted() {
                memberKey(key)
                json(members[key]!)
            }
            endObject()
        }
    }

    // Optional members: written only when present, as `encodeIfPresent` does.

    public mutating func field(_ key: StaticString, _ value: String?) {
        guard let value else { return }
        self.key(key)
        string(value)
    }

    public mutating func field<T: BinaryInteger>(_ key: StaticString, _ value: T?) {
        guard let value else { return }
        self.key(key)
        int(value)
    }

    public mutating func field(_ key: StaticString, _ value: Double?) {
        guard let value else { return }
        self.key(key)
        double(value)
    }

    public mutating func field(_ key: StaticString, _ value: Bool?) {
        guard let value else { return }
        self.key(key)
        bool(value)
    }

    public mutating func field(_ key: StaticString, _ value: [String]?) {
        guard let value else { return }
        self.key(key)
        strings(value)
    }

    public mutating func field(_ key: StaticString, _ value: [String: String]?) {
        guard let value else { return }
        self.key(key)
        stringMap(value)
    }

    public mutating func field(_ key: StaticString, _ value: JSONValue?) {
        guard let value else { return }
        self.key(key)
        json(value)
    }

    public mutating func field<T: JSONWritable>(_ key: StaticString, _ value: T?) {
        guard let value else { return }
        self.key(key)
        value.write(to: &self)
    }

    /// An object whose one member is the array `key` (the bodies of JOBS, ACK, RESULT and SUBMIT).
    public mutating func list<T: JSONWritable>(in key: StaticString, _ values: [T]) {
        beginObject()
        field(key, values)
        endObject()
    }

    public mutating func field<T: JSONWritable>(_ key: StaticString, _ values: [T]) {
        self.key(key)
        beginArray()
        for value in values { value.write(to: &self) }
        endArray()
    }
}

/// A type with a hand-written JSON form (the same JSON as its `Encodable` conformance).
public protocol JSONWritable: Encodable {
    func write(to writer: inout JSONWriter)
}

extension JSONWritable {
    @inlinable
    public var jsonBytes: [UInt8] {
        var writer = JSONWriter()
        write(to: &writer)
        return writer.bytes
    }
}

// MARK: the hot path's types

extension Event: JSONWritable {
    public func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("seq"); writer.int(seq)
        writer.key("time"); writer.string(time)
        writer.key("type"); writer.string(type.rawValue)
        writer.field("job_id", jobID)
        writer.field("status", status?.rawValue)
        writer.field("queue", queue)
        writer.field("attempt", attempt)
        writer.field("agent_id", agentID)
        writer.field("exit_code", exitCode)
        writer.field("signal", signal)
        writer.field("reason", reason)
        writer.field("result", result)
        writer.field("progress", progress)
        writer.field("message", message)
        writer.field("command", command)
        writer.field("priority", priority)
        writer.field("name", name)
        writer.field("duration", duration)
        writer.field("slots", slots)
        writer.field("labels", labels)
        writer.field("hostname", hostname)
        writer.field("max_running", maxRunning)
        writer.field("security", security)
        writer.endObject()
    }
}

extension JobSpec: JSONWritable {
    public func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("argv"); writer.strings(argv)
        writer.field("env", env)
        writer.field("cwd", cwd)
        writer.field("queue", queue)
        writer.field("priority", priority)
        writer.field("timeout", timeout)
        writer.field("retries", retries)
        writer.field("labels", labels)
        writer.field("name", name)
        writer.endObject()
    }
}

extension SubmitRequest: JSONWritable {
    public func write(to writer: inout JSONWriter) { writer.list(in: "jobs", jobs) }
}

extension JobSummary: JSONWritable {
    public func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("id"); writer.string(id)
        writer.key("status"); writer.string(status.rawValue)
        writer.key("queue"); writer.string(queue)
        writer.key("attempt"); writer.int(attempt)
        writer.field("reason", reason?.rawValue)
        writer.field("exit_code", exitCode)
        writer.field("signal", signal)
        writer.field("agent_id", agentID)
        writer.field("progress", progress)
        writer.key("command"); writer.strings(command)
        writer.field("name", name)
        writer.endObject()
    }
}

/// `proc wait` on a big batch is answered with every job's summary (2,000 on W1): 5% of the loop.
extension WaitReply: JSONWritable {
    public func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.field("jobs", jobs)
        writer.key("done"); writer.bool(done)
        writer.endObject()
    }
}

extension WaitRequest: JSONWritable {
    public func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("ids"); writer.strings(ids)
        writer.key("timeout_ms"); writer.int(timeoutMilliseconds)
        writer.field("final_only", finalOnly)
        writer.endObject()
    }
}

extension SubmitReply: JSONWritable {
    public func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("ids"); writer.strings(ids)
        writer.endObject()
    }
}

extension JobRecord: JSONWritable {
    public func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("id"); writer.string(id)
        writer.key("number"); writer.int(number)
        writer.key("spec"); spec.write(to: &writer)
        writer.key("status"); writer.string(status.rawValue)
        writer.key("attempt"); writer.int(attempt)
        writer.field("reason", reason?.rawValue)
        writer.field("exit_code", exitCode)
        writer.field("signal", signal)
        writer.field("message", message)
        writer.field("result", result)
        writer.field("agent_id", agentID)
        writer.field("progress", progress)
        writer.key("submitted_at"); writer.double(submittedAt)
        writer.field("started_at", startedAt)
        writer.field("finished_at", finishedAt)
        writer.key("cancel_requested"); writer.bool(cancelRequested)
        writer.key("failures"); writer.int(failures)
        writer.key("lost_attempts"); writer.int(lostAttempts)
        writer.key("recorded_attempts")
        writer.beginArray()
        for attempt in recordedAttempts { writer.int(attempt) }
        writer.endArray()
        writer.endObject()
    }
}

extension JobOutput: JSONWritable {
    public func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("stdout"); writer.string(stdout)
        writer.key("stderr"); writer.string(stderr)
        writer.key("stdout_truncated"); writer.bool(stdoutTruncated)
        writer.key("stderr_truncated"); writer.bool(stderrTruncated)
        writer.endObject()
    }
}

extension Assignment: JSONWritable {
    public func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("job_id"); writer.string(jobID)
        writer.key("attempt"); writer.int(attempt)
        writer.key("argv"); writer.strings(argv)
        writer.field("env", env)
        writer.field("cwd", cwd)
        writer.field("timeout", timeout)
        writer.key("queue"); writer.string(queue)
        writer.field("kill_grace_ms", killGraceMilliseconds)
        writer.endObject()
    }
}

extension JobsMessage: JSONWritable {
    public func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.field("jobs", jobs)
        if let acks { writer.field("acks", acks) }
        writer.endObject()
    }
}

extension RunRef: JSONWritable {
    public func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("job_id"); writer.string(jobID)
        writer.key("attempt"); writer.int(attempt)
        writer.endObject()
    }
}

extension AckMessage: JSONWritable {
    public func write(to writer: inout JSONWriter) { writer.list(in: "runs", runs) }
}

extension RunResult: JSONWritable {
    public func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("job_id"); writer.string(jobID)
        writer.key("attempt"); writer.int(attempt)
        writer.key("status"); writer.string(status.rawValue)
        writer.field("reason", reason?.rawValue)
        writer.field("exit_code", exitCode)
        writer.field("signal", signal)
        writer.field("message", message)
        writer.field("result", result)
        writer.key("output"); output.write(to: &writer)
        writer.key("started_at"); writer.double(startedAt)
        writer.key("finished_at"); writer.double(finishedAt)
        writer.endObject()
    }
}

extension ResultsMessage: JSONWritable {
    public func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.field("results", results)
        writer.field("prefetch", prefetch)
        writer.endObject()
    }
}

extension CancelRun: JSONWritable {
    public func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("job_id"); writer.string(jobID)
        writer.key("attempt"); writer.int(attempt)
        writer.key("grace_ms"); writer.int(graceMilliseconds)
        writer.endObject()
    }
}
