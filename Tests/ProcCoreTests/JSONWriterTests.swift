import Foundation
import ProcCore
import Testing

/// The hand-written JSON of the hot path must be the JSON Codable writes: same keys, same values, absent
/// optionals left out. Each type is checked both ways: the two encodings parse to the same JSON value,
/// and the hand-written bytes decode (with `JSONDecoder`) back to the value.
@Suite struct JSONWriterTests {
    static let awkward = "quote \" backslash \\ slash / newline \n tab \t cr \r bell \u{07} nul \u{0} é 漢字 🚀"

    private func check<T: JSONWritable & Decodable & Equatable>(_ value: T) throws {
        let written = value.jsonBytes
        let parsedWritten = try WireCoding.decode(JSONValue.self, from: written)
        let parsedCodable = try WireCoding.decode(JSONValue.self, from: try WireCoding.encode(value))
        #expect(parsedWritten == parsedCodable, "\(T.self): \(String(decoding: written, as: UTF8.self))")
        #expect(try WireCoding.decode(T.self, from: written) == value)
    }

    @Test func eventsEveryFieldAndNone() throws {
        var event = Event(type: .jobFailed)
        event.seq = 18_446_744_073_709_551_615
        event.time = "2026-11-26T23:16:50.123456Z"
        event.jobID = "j3"
        event.status = .error
        event.queue = Self.awkward
        event.attempt = 2
        event.agentID = "a1"
        event.exitCode = -3
        event.signal = 9
        event.reason = "exit"
        event.result = .object([
            "k": .int(-1), "d": .double(0.1), "n": .null, "b": .bool(true), "s": .string(Self.awkward),
            "a": .array([.int(1), .double(2.5), .object([:]), .array([])]),
        ])
        event.progress = 0.333333333333
        event.message = Self.awkward
        event.command = ["/bin/sh", "-c", Self.awkward, ""]
        event.priority = -5
        event.name = "name"
        event.duration = 1.0e-6
        event.slots = 64
        event.labels = ["gpu": "1", "zone": Self.awkward, "": ""]
        event.hostname = "host"
        event.maxRunning = 0
        event.security = "curve"
        try check(event)
        try check(Event(type: .agentLeft))
        var whole = Event(type: .jobProgress)
        whole.progress = 1.0
        whole.duration = 1_795_147_070.0
        try check(whole)
    }

    @Test func jobRecordsAndSpecs() throws {
        var spec = JobSpec(
            argv: ["echo", Self.awkward], env: ["A": "1", "B": Self.awkward], cwd: "/tmp", queue: "q",
            priority: 3, timeout: 2.5, retries: 4, labels: ["gpu": "1"], name: "n")
        try check(spec)
        var record = JobRecord(id: "j7", number: 7, spec: spec, submittedAt: 1_795_147_070.123456)
        try check(record)
        record.status = .error
        record.attempt = 3
        record.reason = .timeout
        record.exitCode = 1
        record.signal = 15
        record.message = Self.awkward
        record.result = .array([.string("x"), .int(Int64.max), .int(Int64.min)])
        record.agentID = "a"
        record.progress = 0.5
        record.startedAt = 1_795_147_071.5
        record.finishedAt = 1_795_147_072
        record.cancelRequested = true
        record.failures = 2
        record.lostAttempts = 1
        record.recordedAttempts = [1, 3]
        try check(record)
        spec = JobSpec(argv: ["true"])
        try check(spec)
    }

    @Test func agentMessages() throws {
        var record = JobRecord(id: "j1", number: 1, spec: JobSpec(argv: ["true"]), submittedAt: 1)
        var plain = Assignment(job: record)
        try check(JobsMessageBox(message: JobsMessage(jobs: [plain])))
        record.spec = JobSpec(argv: ["a", "b"], env: ["K": "V"], cwd: "/", queue: "q", timeout: 0.25)
        plain = Assignment(job: record, killGraceMilliseconds: 5_000)
        try check(plain)
        try check(CancelRun(jobID: "j1", attempt: 2, graceMilliseconds: 0))
        try check(RunRef(jobID: "j1", attempt: 2))
        try check(AckBox(message: AckMessage(runs: [RunRef(jobID: "j1", attempt: 1), RunRef(jobID: "j2", attempt: 9)])))
        let output = JobOutput(stdout: Self.awkward, stderr: "", stdoutTruncated: true)
        try check(output)
        let result = RunResult(
            jobID: "j1", attempt: 1, status: .error, reason: .signal, exitCode: nil, signal: 9,
            message: "killed", result: .object(["ok": .bool(false)]), output: output,
            startedAt: 1_795_147_070.25, finishedAt: 1_795_147_071.125)
        try check(result)
        try check(ResultsBox(message: ResultsMessage(results: [result, RunResult(
            jobID: "j2", attempt: 1, status: .completed, exitCode: 0, startedAt: 1, finishedAt: 2)])))
    }

    @Test func nonFiniteNumbersBecomeNull() throws {
        var writer = JSONWriter()
        writer.beginArray()
        writer.double(.nan)
        writer.double(.infinity)
        writer.double(-0.5)
        writer.endArray()
        #expect(String(decoding: writer.bytes, as: UTF8.self) == "[null,null,-0.5]")
    }
}

// The message types are not Equatable (nothing else needs them to be); these boxes compare their contents.

private struct JobsMessageBox: JSONWritable, Decodable, Equatable {
    var message: JobsMessage
    static func == (a: Self, b: Self) -> Bool { a.message.jobs == b.message.jobs }
    func write(to writer: inout JSONWriter) { message.write(to: &writer) }
    func encode(to encoder: any Encoder) throws { try message.encode(to: encoder) }
    init(message: JobsMessage) { self.message = message }
    init(from decoder: any Decoder) throws { message = try JobsMessage(from: decoder) }
}

private struct AckBox: JSONWritable, Decodable, Equatable {
    var message: AckMessage
    static func == (a: Self, b: Self) -> Bool { a.message.runs == b.message.runs }
    func write(to writer: inout JSONWriter) { message.write(to: &writer) }
    func encode(to encoder: any Encoder) throws { try message.encode(to: encoder) }
    init(message: AckMessage) { self.message = message }
    init(from decoder: any Decoder) throws { message = try AckMessage(from: decoder) }
}

private struct ResultsBox: JSONWritable, Decodable, Equatable {
    var message: ResultsMessage
    static func == (a: Self, b: Self) -> Bool { a.message.results == b.message.results }
    func write(to writer: inout JSONWriter) { message.write(to: &writer) }
    func encode(to encoder: any Encoder) throws { try message.encode(to: encoder) }
    init(message: ResultsMessage) { self.message = message }
    init(from decoder: any Decoder) throws { message = try ResultsMessage(from: decoder) }
}
