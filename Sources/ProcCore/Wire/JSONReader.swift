/// Reads JSON straight from bytes into our hot path's types (JOBS, RESULT, ACK, SUBMIT), without
/// Codable's containers: a pull parser, one pass, no intermediate tree.
///
/// It is strict: anything it does not expect (a wrong type, a null where a value is needed, a number
/// with a fraction where an integer is needed) throws, and `WireCoding.decode` then decodes the message
/// again with `JSONDecoder`, which decides and words the error. So the fast path never accepts what
/// Codable would refuse, and the errors users see stay Codable's.
public struct JSONReader {
    public struct Unexpected: Error {
        @inlinable public init() {}
    }

    private let bytes: UnsafeBufferPointer<UInt8>
    @usableFromInline var index = 0
    /// Nesting of `json()`: bounded, so hostile input ("[[[[…") cannot exhaust the stack.
    private var depth = 0
    static let maxDepth = 512

    public init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    /// Decodes `bytes` with `body`, which must consume the whole document. Inlinable, like
    /// `WireCoding.decode`, so that callers in other modules get it specialized: unspecialized, the
    /// generic metadata lookups cost as much as the parse (perf of ten feed subscribers).
    @inlinable
    public static func read<T>(_ bytes: [UInt8], _ body: (inout JSONReader) throws -> T) throws -> T {
        try bytes.withUnsafeBufferPointer { buffer in
            var reader = JSONReader(buffer)
            let value = try body(&reader)
            reader.skipWhitespace()
            guard reader.index == buffer.count else { throw Unexpected() }
            return value
        }
    }

    @usableFromInline mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    private mutating func peek() throws -> UInt8 {
        skipWhitespace()
        guard index < bytes.count else { throw Unexpected() }
        return bytes[index]
    }

    private mutating func expect(_ byte: UInt8) throws {
        guard try peek() == byte else { throw Unexpected() }
        index += 1
    }

    private mutating func literal(_ text: StaticString) throws {
        let count = text.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw Unexpected() }
        for offset in 0..<count where bytes[index + offset] != text.utf8Start[offset] { throw Unexpected() }
        index += count
    }

    public mutating func peekIsArray() throws -> Bool {
        try peek() == UInt8(ascii: "[")
    }

    /// True (and consumed) when the next value is `null`.
    public mutating func readNull() throws -> Bool {
        guard try peek() == UInt8(ascii: "n") else { return false }
        try literal("null")
        return true
    }

    /// Calls `body` with each key of an object; `body` must read (or `skip`) the key's value.
    public mutating func object(_ body: (inout JSONReader, String) throws -> Void) throws {
        try fields { reader, key in try body(&reader, key.string) }
    }

    /// `object` for a type's fields: each key as the bytes between its quotes (`JSONKey`), matched
    /// against the field names without a String made of it (one longer than 15 bytes is on the heap:
    /// four a job in RESULT's outputs, docs/performance.md item 36).
    public mutating func fields(_ body: (inout JSONReader, JSONKey) throws -> Void) throws {
        try expect(UInt8(ascii: "{"))
        if try peek() == UInt8(ascii: "}") {
            index += 1
            return
        }
        while true {
            let key = try key()
            try expect(UInt8(ascii: ":"))
            try body(&self, key)
            switch try peek() {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"):
                index += 1
                return
            default: throw Unexpected()
            }
        }
    }

    /// A key of printable ASCII without escapes as its bytes; any other as a String (`string`, which
    /// also refuses invalid UTF-8).
    private mutating func key() throws -> JSONKey {
        try expect(UInt8(ascii: "\""))
        let start = index
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                index += 1
                return JSONKey(ascii: UnsafeBufferPointer(rebasing: bytes[start..<index - 1]))
            }
            guard byte >= 0x20, byte < 0x80, byte != UInt8(ascii: "\\") else { break }
            index += 1
        }
        index = start - 1
        return JSONKey(decoded: try string())
    }

    /// Calls `body` for each element of an array; `body` must read the element.
    public mutating func array(_ body: (inout JSONReader) throws -> Void) throws {
        try expect(UInt8(ascii: "["))
        if try peek() == UInt8(ascii: "]") {
            index += 1
            return
        }
        while true {
            try body(&self)
            switch try peek() {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"):
                index += 1
                return
            default: throw Unexpected()
            }
        }
    }

    public mutating func string() throws -> String {
        try expect(UInt8(ascii: "\""))
        let start = index
        // The common case: no escapes.
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
                index += 1
                return try validated(text, start: start)
            }
            if byte == UInt8(ascii: "\\") || byte < 0x20 { break }
            index += 1
        }
        index = start
        var utf8: [UInt8] = []
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                let text = String(decoding: utf8, as: UTF8.self)
                guard text.utf8.count == utf8.count else { throw Unexpected() }  // invalid UTF-8
                return text
            case UInt8(ascii: "\\"):
                guard index < bytes.count else { throw Unexpected() }
                let escaped = bytes[index]
                index += 1
                switch escaped {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(escaped)
                case UInt8(ascii: "n"): utf8.append(0x0A)
                case UInt8(ascii: "r"): utf8.append(0x0D)
                case UInt8(ascii: "t"): utf8.append(0x09)
                case UInt8(ascii: "b"): utf8.append(0x08)
                case UInt8(ascii: "f"): utf8.append(0x0C)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800..<0xDC00).contains(scalar) {
                        // A surrogate pair: the low half must follow.
                        try literal("\\u")
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw Unexpected() }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let unicode = Unicode.Scalar(scalar) else { throw Unexpected() }
                    utf8.append(contentsOf: String(Character(unicode)).utf8)
                default: throw Unexpected()
                }
            default:
                guard byte >= 0x20 else { throw Unexpected() }
                utf8.append(byte)
            }
        }
        throw Unexpected()
    }

    /// `String(decoding:)` repairs invalid UTF-8; JSONDecoder refuses it. Refuse too (its byte count
    /// changes when it was repaired).
    private func validated(_ text: String, start: Int) throws -> String {
        guard text.utf8.count == index - 1 - start else { throw Unexpected() }
        return text
    }

    private mutating func hex4() throws -> UInt32 {
        guard index + 4 <= bytes.count else { throw Unexpected() }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            index += 1
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw Unexpected()
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }

    /// The text of a number (JSON's grammar: `-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?`), and whether
    /// it is an integer (no fraction, no exponent).
    private mutating func numberText() throws -> (String, Bool) {
        _ = try peek()
        let start = index
        func digits() throws {
            let first = index
            while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") { index += 1 }
            guard index > first else { throw Unexpected() }
        }
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count else { throw Unexpected() }
        if bytes[index] == UInt8(ascii: "0") { index += 1 } else { try digits() }
        var integer = true
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            integer = false
            index += 1
            try digits()
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            integer = false
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            try digits()
        }
        return (String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self), integer)
    }

    public mutating func int64() throws -> Int64 {
        _ = try peek()
        // Fast: a short plain integer.
        var value: Int64 = 0
        var negative = false
        var position = index
        if position < bytes.count, bytes[position] == UInt8(ascii: "-") {
            negative = true
            position += 1
        }
        let digitsStart = position
        while position < bytes.count, position - digitsStart < 18,
            case let byte = bytes[position], byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9")
        {
            value = value * 10 + Int64(byte - UInt8(ascii: "0"))
            position += 1
        }
        let digits = position - digitsStart
        let next = position < bytes.count ? bytes[position] : 0x20
        let ends = !(next >= UInt8(ascii: "0") && next <= UInt8(ascii: "9")) && next != UInt8(ascii: ".")
            && next != UInt8(ascii: "e") && next != UInt8(ascii: "E")
        // JSON has no leading zeros ("01").
        if digits > 0, ends, !(digits > 1 && bytes[digitsStart] == UInt8(ascii: "0")) {
            index = position
            return negative ? -value : value
        }
        let (text, integer) = try numberText()
        guard integer, let parsed = Int64(text) else { throw Unexpected() }
        return parsed
    }

    public mutating func int() throws -> Int {
        Int(try int64())
    }

    public mutating func int32() throws -> Int32 {
        guard let value = Int32(exactly: try int64()) else { throw Unexpected() }
        return value
    }

    public mutating func uint64() throws -> UInt64 {
        guard try peek() != UInt8(ascii: "-") else { throw Unexpected() }
        let (text, integer) = try numberText()
        guard integer, let value = UInt64(text) else { throw Unexpected() }
        return value
    }

    public mutating func double() throws -> Double {
        let (text, _) = try numberText()
        guard let value = Double(text), value.isFinite else { throw Unexpected() }
        return value
    }

    public mutating func bool() throws -> Bool {
        switch try peek() {
        case UInt8(ascii: "t"):
            try literal("true")
            return true
        case UInt8(ascii: "f"):
            try literal("false")
            return false
        default: throw Unexpected()
        }
    }

    public mutating func strings() throws -> [String] { try elements { try $0.string() } }

    /// An array whose elements `element` reads.
    public mutating func elements<T>(_ element: (inout JSONReader) throws -> T) throws -> [T] {
        var values: [T] = []
        try array { values.append(try element(&$0)) }
        return values
    }

    public mutating func stringMap() throws -> [String: String] {
        var values: [String: String] = [:]
        try object { reader, key in values[key] = try reader.string() }
        return values
    }

    public mutating func json() throws -> JSONValue {
        switch try peek() {
        case UInt8(ascii: "n"):
            try literal("null")
            return .null
        case UInt8(ascii: "t"), UInt8(ascii: "f"): return .bool(try bool())
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "[") where depth < Self.maxDepth:
            depth += 1
            defer { depth -= 1 }
            var values: [JSONValue] = []
            try array { values.append(try $0.json()) }
            return .array(values)
        case UInt8(ascii: "{") where depth < Self.maxDepth:
            depth += 1
            defer { depth -= 1 }
            var members: [String: JSONValue] = [:]
            try object { reader, key in members[key] = try reader.json() }
            return .object(members)
        case UInt8(ascii: "["), UInt8(ascii: "{"): throw Unexpected()
        default:
            let (text, integer) = try numberText()
            if integer, let value = Int64(text) { return .int(value) }
            guard let value = Double(text), value.isFinite else { throw Unexpected() }
            // As JSONDecoder reads `JSONValue`: a number that is an exact Int64 ("1.0", "1e3") is an int.
            if let exact = Int64(exactly: value) { return .int(exact) }
            return .double(value)
        }
    }

    /// The array under `key` of an object whose other members are skipped (the bodies of JOBS, ACK,
    /// RESULT and SUBMIT); a missing key is refused.
    public mutating func list<T>(in key: String, _ element: (inout JSONReader) throws -> T) throws -> [T] {
        var list: [T]?
        try fields { reader, name in
            guard name.matches(key) else { return try reader.skip() }
            list = try reader.elements(element)
        }
        guard let list else { throw Unexpected() }
        return list
    }

    /// Skips a value of any kind (a key this version does not know).
    public mutating func skip() throws {
        _ = try json()
    }

    /// A string that must be one of `T`'s raw values (a status, a reason, an event type).
    public mutating func rawValue<T: RawRepresentable>(_ type: T.Type = T.self) throws -> T where T.RawValue == String {
        guard let value = T(rawValue: try string()) else { throw Unexpected() }
        return value
    }

    /// `body`'s value, or nil when the next value is `null` (as `decodeIfPresent` reads it).
    public mutating func optional<T>(_ body: (inout JSONReader) throws -> T) throws -> T? {
        try readNull() ? nil : try body(&self)
    }
}

/// A type our hot path decodes by hand (and `WireCoding.decode` tries first).
public protocol JSONReadable: Decodable {
    init(reader: inout JSONReader) throws
}

// MARK: the hot path's types

/// A key a strict reader does not know (`JobSpec(reader:strict:)`): user input with a typo in it.
public struct UnknownKey: Error, Sendable {
    public let key: String
    public let known: [String]
}

extension JobSpec: JSONReadable {
    public init(reader: inout JSONReader) throws {
        try self.init(reader: &reader, strict: false)
    }

    /// `strict`: an unknown key throws `UnknownKey` instead of being skipped (a batch line a user wrote;
    /// on the wire, unknown keys are skipped, so that newer clients can talk to older coordinators).
    public init(reader: inout JSONReader, strict: Bool) throws {
        if try reader.peekIsArray() {
            self.init(argv: try reader.strings())
            return
        }
        var argv: [String]?, command: [String]?, env: [String: String]?, cwd: String?, queue: String?
        var priority: Int?, timeout: Double?, retries: Int?, labels: [String: String]?, name: String?
        try reader.fields { reader, key in
            switch key {
            case "argv": argv = try reader.optional { try $0.strings() }
            case "command": command = try reader.optional { try $0.strings() }
            case "env": env = try reader.optional { try $0.stringMap() }
            case "cwd": cwd = try reader.optional { try $0.string() }
            case "queue": queue = try reader.optional { try $0.string() }
            case "priority": priority = try reader.optional { try $0.int() }
            case "timeout": timeout = try reader.optional { try $0.double() }
            case "retries": retries = try reader.optional { try $0.int() }
            case "labels": labels = try reader.optional { try $0.stringMap() }
            case "name": name = try reader.optional { try $0.string() }
            default:
                if strict { throw UnknownKey(key: key.string, known: JobSpec.keys) }
                try reader.skip()
            }
        }
        guard let given = argv ?? command else { throw JSONReader.Unexpected() }
        self.init(argv: given, env: env, cwd: cwd, queue: queue, priority: priority, timeout: timeout, retries: retries,
                  labels: labels, name: name)
    }
}

/// The journal's job rows, read at every start of the coordinator: with JSONDecoder a million of them took
/// 20 of the 27 seconds a restart took (docs/performance.md, item 32).
extension JobRecord: JSONReadable {
    public init(reader: inout JSONReader) throws {
        var id: String?, number: UInt64?, spec: JobSpec?, status: JobStatus?, attempt: Int?
        var reason: FailureReason?, exitCode: Int32?, signal: Int32?, message: String?, result: JSONValue?
        var agentID: String?, progress: Double?, submittedAt: Double?, startedAt: Double?, finishedAt: Double?
        var cancelRequested: Bool?, failures: Int?, lostAttempts: Int?, recordedAttempts: [Int]?
        try reader.fields { reader, key in
            switch key {
            case "id": id = try reader.string()
            case "number": number = try reader.uint64()
            case "spec": spec = try JobSpec(reader: &reader)
            case "status": status = try reader.rawValue()
            case "attempt": attempt = try reader.int()
            case "reason": reason = try reader.optional { try $0.rawValue() }
            case "exit_code": exitCode = try reader.optional { try $0.int32() }
            case "signal": signal = try reader.optional { try $0.int32() }
            case "message": message = try reader.optional { try $0.string() }
            case "result": result = try reader.optional { try $0.json() }
            case "agent_id": agentID = try reader.optional { try $0.string() }
            case "progress": progress = try reader.optional { try $0.double() }
            case "submitted_at": submittedAt = try reader.double()
            case "started_at": startedAt = try reader.optional { try $0.double() }
            case "finished_at": finishedAt = try reader.optional { try $0.double() }
            case "cancel_requested": cancelRequested = try reader.bool()
            case "failures": failures = try reader.int()
            case "lost_attempts": lostAttempts = try reader.int()
            case "recorded_attempts": recordedAttempts = try reader.elements { try $0.int() }
            default: try reader.skip()
            }
        }
        // What JSONDecoder requires, required here too (it decides, and words the error, for the rest).
        guard let id, let number, let spec, let status, let attempt, let submittedAt, let cancelRequested,
              let failures, let lostAttempts, let recordedAttempts
        else { throw JSONReader.Unexpected() }
        self.init(id: id, number: number, spec: spec, submittedAt: submittedAt)
        self.status = status
        self.attempt = attempt
        self.reason = reason
        self.exitCode = exitCode
        self.signal = signal
        self.message = message
        self.result = result
        self.agentID = agentID
        self.progress = progress
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.cancelRequested = cancelRequested
        self.failures = failures
        self.lostAttempts = lostAttempts
        self.recordedAttempts = recordedAttempts
    }
}

extension SubmitRequest: JSONReadable {
    public init(reader: inout JSONReader) throws {
        self.init(jobs: try reader.list(in: "jobs") { try JobSpec(reader: &$0) })
    }
}

extension JobSummary: JSONReadable {
    public init(reader: inout JSONReader) throws {
        var id: String?, status: JobStatus?, queue: String?, attempt: Int?, command: [String]?
        var reason: FailureReason?, exitCode: Int32?, signal: Int32?, agentID: String?, progress: Double?
        var name: String?
        try reader.fields { reader, key in
            switch key {
            case "id": id = try reader.string()
            case "status": status = try reader.rawValue()
            case "queue": queue = try reader.string()
            case "attempt": attempt = try reader.int()
            case "reason": reason = try reader.optional { try $0.rawValue() }
            case "exit_code": exitCode = try reader.optional { try $0.int32() }
            case "signal": signal = try reader.optional { try $0.int32() }
            case "agent_id": agentID = try reader.optional { try $0.string() }
            case "progress": progress = try reader.optional { try $0.double() }
            case "command": command = try reader.strings()
            case "name": name = try reader.optional { try $0.string() }
            default: try reader.skip()
            }
        }
        guard let id, let status, let queue, let attempt, let command else { throw JSONReader.Unexpected() }
        self.init(id: id, status: status, queue: queue, attempt: attempt, reason: reason, exitCode: exitCode,
                  signal: signal, agentID: agentID, progress: progress, command: command, name: name)
    }
}

extension WaitRequest: JSONReadable {
    public init(reader: inout JSONReader) throws {
        var ids: [String]?, timeout: Int?, finalOnly: Bool?
        try reader.fields { reader, key in
            switch key {
            case "ids": ids = try reader.strings()
            case "timeout_ms": timeout = try reader.int()
            case "final_only": finalOnly = try reader.optional { try $0.bool() }
            default: try reader.skip()
            }
        }
        guard let ids, let timeout else { throw JSONReader.Unexpected() }
        self.init(ids: ids, timeoutMilliseconds: timeout, finalOnly: finalOnly)
    }
}

extension WaitReply: JSONReadable {
    public init(reader: inout JSONReader) throws {
        var jobs: [JobSummary]?, done: Bool?
        try reader.fields { reader, key in
            switch key {
            case "jobs": jobs = try reader.elements { try JobSummary(reader: &$0) }
            case "done": done = try reader.bool()
            default: try reader.skip()
            }
        }
        guard let jobs, let done else { throw JSONReader.Unexpected() }
        self.init(jobs: jobs, done: done)
    }
}

extension SubmitReply: JSONReadable {
    public init(reader: inout JSONReader) throws {
        var ids: [String]?
        try reader.fields { reader, key in
            switch key {
            case "ids": ids = try reader.strings()
            default: try reader.skip()
            }
        }
        guard let ids else { throw JSONReader.Unexpected() }
        self.init(ids: ids)
    }
}

extension Assignment: JSONReadable {
    public init(reader: inout JSONReader) throws {
        var jobID: String?, attempt: Int?, argv: [String]?, queue: String?
        var env: [String: String]?, cwd: String?, timeout: Double?, grace: Int?
        try reader.fields { reader, key in
            switch key {
            case "job_id": jobID = try reader.string()
            case "attempt": attempt = try reader.int()
            case "argv": argv = try reader.strings()
            case "queue": queue = try reader.string()
            case "env": env = try reader.optional { try $0.stringMap() }
            case "cwd": cwd = try reader.optional { try $0.string() }
            case "timeout": timeout = try reader.optional { try $0.double() }
            case "kill_grace_ms": grace = try reader.optional { try $0.int() }
            default: try reader.skip()
            }
        }
        guard let jobID, let attempt, let argv, let queue else { throw JSONReader.Unexpected() }
        self.init(jobID: jobID, attempt: attempt, argv: argv, env: env, cwd: cwd, timeout: timeout, queue: queue,
                  killGraceMilliseconds: grace)
    }
}

extension JobsMessage: JSONReadable {
    public init(reader: inout JSONReader) throws {
        var jobs: [Assignment]?, acks: [RunRef]?
        try reader.fields { reader, key in
            switch key {
            case "jobs": jobs = try reader.elements { try Assignment(reader: &$0) }
            case "acks": acks = try reader.optional { try $0.elements { try RunRef(reader: &$0) } }
            default: try reader.skip()
            }
        }
        guard let jobs else { throw JSONReader.Unexpected() }
        self.init(jobs: jobs, acks: acks)
    }
}

extension RunRef: JSONReadable {
    public init(reader: inout JSONReader) throws {
        var jobID: String?, attempt: Int?
        try reader.fields { reader, key in
            switch key {
            case "job_id": jobID = try reader.string()
            case "attempt": attempt = try reader.int()
            default: try reader.skip()
            }
        }
        guard let jobID, let attempt else { throw JSONReader.Unexpected() }
        self.init(jobID: jobID, attempt: attempt)
    }
}

extension AckMessage: JSONReadable {
    public init(reader: inout JSONReader) throws {
        self.init(runs: try reader.list(in: "runs") { try RunRef(reader: &$0) })
    }
}

extension JobOutput: JSONReadable {
    public init(reader: inout JSONReader) throws {
        var stdout: String?, stderr: String?, stdoutTruncated: Bool?, stderrTruncated: Bool?
        try reader.fields { reader, key in
            switch key {
            case "stdout": stdout = try reader.string()
            case "stderr": stderr = try reader.string()
            case "stdout_truncated": stdoutTruncated = try reader.bool()
            case "stderr_truncated": stderrTruncated = try reader.bool()
            default: try reader.skip()
            }
        }
        guard let stdout, let stderr, let stdoutTruncated, let stderrTruncated else { throw JSONReader.Unexpected() }
        self.init(stdout: stdout, stderr: stderr, stdoutTruncated: stdoutTruncated, stderrTruncated: stderrTruncated)
    }
}

extension RunResult: JSONReadable {
    public init(reader: inout JSONReader) throws {
        var jobID: String?, attempt: Int?, status: JobStatus?, output: JobOutput?
        var startedAt: Double?, finishedAt: Double?
        var reason: FailureReason?, exitCode: Int32?, signal: Int32?, message: String?, result: JSONValue?
        try reader.fields { reader, key in
            switch key {
            case "job_id": jobID = try reader.string()
            case "attempt": attempt = try reader.int()
            case "status": status = try reader.rawValue()
            case "reason": reason = try reader.optional { try $0.rawValue() }
            case "exit_code": exitCode = try reader.optional { try $0.int32() }
            case "signal": signal = try reader.optional { try $0.int32() }
            case "message": message = try reader.optional { try $0.string() }
            case "result": result = try reader.optional { try $0.json() }
            case "output": output = try JobOutput(reader: &reader)
            case "started_at": startedAt = try reader.double()
            case "finished_at": finishedAt = try reader.double()
            default: try reader.skip()
            }
        }
        guard let jobID, let attempt, let status, let output, let startedAt, let finishedAt else {
            throw JSONReader.Unexpected()
        }
        self.init(jobID: jobID, attempt: attempt, status: status, reason: reason, exitCode: exitCode, signal: signal,
                  message: message, result: result, output: output, startedAt: startedAt, finishedAt: finishedAt)
    }
}

extension ResultsMessage: JSONReadable {
    public init(reader: inout JSONReader) throws {
        var results: [RunResult]?, prefetch: Int?
        try reader.fields { reader, key in
            switch key {
            case "results": results = try reader.elements { try RunResult(reader: &$0) }
            case "prefetch": prefetch = try reader.optional { try $0.int() }
            default: try reader.skip()
            }
        }
        guard let results else { throw JSONReader.Unexpected() }
        self.init(results: results, prefetch: prefetch)
    }
}

extension Event: JSONReadable {
    public init(reader: inout JSONReader) throws {
        var seq: UInt64?, time: String?, type: EventType?
        var event = Event(type: .jobSubmitted)
        try reader.fields { reader, key in
            switch key {
            case "seq": seq = try reader.uint64()
            case "time": time = try reader.string()
            case "type": type = try reader.rawValue()
            case "job_id": event.jobID = try reader.optional { try $0.string() }
            case "status": event.status = try reader.optional { try $0.rawValue() }
            case "queue": event.queue = try reader.optional { try $0.string() }
            case "attempt": event.attempt = try reader.optional { try $0.int() }
            case "agent_id": event.agentID = try reader.optional { try $0.string() }
            case "exit_code": event.exitCode = try reader.optional { try $0.int32() }
            case "signal": event.signal = try reader.optional { try $0.int32() }
            case "reason": event.reason = try reader.optional { try $0.string() }
            case "result": event.result = try reader.optional { try $0.json() }
            case "progress": event.progress = try reader.optional { try $0.double() }
            case "message": event.message = try reader.optional { try $0.string() }
            case "command": event.command = try reader.optional { try $0.strings() }
            case "priority": event.priority = try reader.optional { try $0.int() }
            case "name": event.name = try reader.optional { try $0.string() }
            case "duration": event.duration = try reader.optional { try $0.double() }
            case "slots": event.slots = try reader.optional { try $0.int() }
            case "labels": event.labels = try reader.optional { try $0.stringMap() }
            case "hostname": event.hostname = try reader.optional { try $0.string() }
            case "max_running": event.maxRunning = try reader.optional { try $0.int() }
            case "security": event.security = try reader.optional { try $0.string() }
            default: try reader.skip()
            }
        }
        guard let seq, let time, let type else { throw JSONReader.Unexpected() }
        event.seq = seq
        event.time = time
        event.type = type
        self = event
    }
}

extension ReplayReply: JSONReadable {
    public init(reader: inout JSONReader) throws {
        var events: [Event]?, lastSeq: UInt64?
        try reader.fields { reader, key in
            switch key {
            case "events": events = try reader.elements { try Event(reader: &$0) }
            case "last_seq": lastSeq = try reader.uint64()
            default: try reader.skip()
            }
        }
        guard let events, let lastSeq else { throw JSONReader.Unexpected() }
        self.init(events: events, lastSeq: lastSeq)
    }
}

/// An object's key while `JSONReader.fields` reads its value: its bytes in the document (valid only
/// then), or, for a key with escapes or beyond ASCII, the String they decode to. Matched by
/// `case "name":` (`~=`), byte for byte.
public struct JSONKey {
    private let ascii: UnsafeBufferPointer<UInt8>?
    private let decoded: String?

    init(ascii: UnsafeBufferPointer<UInt8>) {
        self.ascii = ascii
        decoded = nil
    }

    init(decoded: String) {
        ascii = nil
        self.decoded = decoded
    }

    public var string: String { decoded ?? String(decoding: ascii!, as: UTF8.self) }

    public func matches(_ name: String) -> Bool {
        guard let ascii else { return decoded == name }
        var name = name
        return name.withUTF8 { $0.elementsEqual(ascii) }
    }

    public static func ~= (name: StaticString, key: JSONKey) -> Bool {
        // A one-character literal may be held as a scalar, without bytes to point at.
        guard let ascii = key.ascii, name.hasPointerRepresentation else { return key.string == name.description }
        return name.utf8CodeUnitCount == ascii.count
            && UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount).elementsEqual(ascii)
    }
}
