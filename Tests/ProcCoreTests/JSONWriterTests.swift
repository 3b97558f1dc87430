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
        let request = SubmitRequest(jobs: [spec, record.spec])
        #expect(try JSONDecoder().decode(SubmitRequest.self, from: Data(request.jsonBytes)).jobs == request.jobs)
        #expect(try JSONReader.read(request.jsonBytes) { try SubmitRequest(reader: &$0) }.jobs == request.jobs)
        let reply = SubmitReply(ids: ["j1", Self.awkward])
        #expect(try JSONDecoder().decode(SubmitReply.self, from: Data(reply.jsonBytes)).ids == reply.ids)
        #expect(try JSONReader.read(reply.jsonBytes) { try SubmitReply(reader: &$0) }.ids == reply.ids)
        #expect(try JSONReader.read(WireCoding.bytes(reply)) { try SubmitReply(reader: &$0) }.ids == reply.ids)
    }

    /// Subscribers count the events they do not decode by the seq at the head of the body.
    @Test func theSeqAtTheHeadOfAnEventBody() throws {
        var event = Event(type: .jobStarted)
        event.seq = 18_446_744_073_709_551_615
        event.time = "2026-11-26T23:16:50.123456Z"
        #expect(Event.leadingSeq(event.jsonBytes) == event.seq)
        #expect(Event.leadingSeq(Array(#"{"seq":7,"type":"x"}"#.utf8)) == 7)
        for refused in [#"{"seq":18446744073709551616,"#, #"{"seq":7}"#, #"{"seq":,"#, #"{ "seq":7,"#, #"{"type":"x","seq":7}"#, ""] {
            #expect(Event.leadingSeq(Array(refused.utf8)) == nil, "\(refused)")
        }
    }

    @Test func waitReplies() throws {
        var record = JobRecord(id: "j1", number: 1, spec: JobSpec(argv: ["true"]), submittedAt: 1)
        let plain = JobSummary(record)
        try check(plain)
        record.spec = JobSpec(argv: [Self.awkward, "b"], queue: "q", name: Self.awkward)
        record.status = .error
        record.reason = .signal
        record.exitCode = -1
        record.signal = 9
        record.agentID = "a/1"
        record.progress = 0.25
        let full = JobSummary(record)
        try check(full)
        for reply in [WaitReply(jobs: [plain, full], done: false), WaitReply(jobs: [], done: true)] {
            let written = reply.jsonBytes
            #expect(try WireCoding.decode(JSONValue.self, from: written)
                    == WireCoding.decode(JSONValue.self, from: try WireCoding.encode(reply)))
            let read = try JSONReader.read(written) { try WaitReply(reader: &$0) }
            #expect(read.jobs == reply.jobs && read.done == reply.done)
            #expect(try JSONDecoder().decode(WaitReply.self, from: Data(written)).jobs == reply.jobs)
        }
    }

    @Test func waitRequests() throws {
        for request in [WaitRequest(ids: ["j1", "a\"b"], timeoutMilliseconds: 1_000, finalOnly: true),
                        WaitRequest(ids: [], timeoutMilliseconds: 0)] {
            let written = request.jsonBytes
            #expect(try WireCoding.decode(JSONValue.self, from: written)
                    == WireCoding.decode(JSONValue.self, from: try WireCoding.encode(request)))
            let read = try JSONReader.read(written) { try WaitRequest(reader: &$0) }
            #expect(read.ids == request.ids && read.timeoutMilliseconds == request.timeoutMilliseconds
                    && read.finalOnly == request.finalOnly)
        }
    }

    @Test func agentMessages() throws {
        var record = JobRecord(id: "j1", number: 1, spec: JobSpec(argv: ["true"]), submittedAt: 1)
        var plain = Assignment(job: record)
        try check(JobsMessage(jobs: [plain]))
        try check(JobsMessage(jobs: [plain], acks: [RunRef(jobID: "j0", attempt: 2)]))
        try check(JobsMessage(jobs: [], acks: []))
        record.spec = JobSpec(argv: ["a", "b"], env: ["K": "V"], cwd: "/", queue: "q", timeout: 0.25)
        plain = Assignment(job: record, killGraceMilliseconds: 5_000)
        try check(plain)
        try check(CancelRun(jobID: "j1", attempt: 2, graceMilliseconds: 0))
        try check(RunRef(jobID: "j1", attempt: 2))
        try check(AckMessage(runs: [RunRef(jobID: "j1", attempt: 1), RunRef(jobID: "j2", attempt: 9)]))
        try check(ResultsMessage(results: [], prefetch: 4))
        let output = JobOutput(stdout: Self.awkward, stderr: "", stdoutTruncated: true)
        try check(output)
        let result = RunResult(
            jobID: "j1", attempt: 1, status: .error, reason: .signal, exitCode: nil, signal: 9,
            message: "killed", result: .object(["ok": .bool(false)]), output: output,
            startedAt: 1_795_147_070.25, finishedAt: 1_795_147_071.125)
        try check(result)
        try check(ResultsMessage(results: [result, RunResult(
            jobID: "j2", attempt: 1, status: .completed, exitCode: 0, startedAt: 1, finishedAt: 2)]))
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

    /// Numbers are written without a String in between (integers, and doubles that are a whole number of
    /// microseconds): the same text as `description` for doubles (bar the integral ones, written as
    /// integers), and every double reads back as itself.
    /// Clock readings and durations are whole microseconds: at most six decimals, and each reads back as
    /// itself. With nanoseconds a timestamp took `description`'s slow path and a duration carried the two
    /// readings' rounding ("0.006169795989990234").
    @Test func timestampsAndDurationsAreWholeMicroseconds() {
        func written(_ value: Double) -> String {
            var writer = JSONWriter()
            writer.double(value)
            return String(decoding: writer.bytes, as: UTF8.self)
        }
        var previous = currentTimestamp()
        for _ in 0..<2_000 {
            let now = currentTimestamp()
            for value in [now, duration(from: previous, to: now)] {
                let text = written(value)
                #expect((text.split(separator: ".").dropFirst().first?.count ?? 0) <= 6, "\(value) written as \(text)")
                #expect(Double(text) == value, "\(text) reads back as \(value)")
            }
            previous = now
        }
        #expect(written(duration(from: 1_795_813_867.077961, to: 1_795_813_867.084131)) == "0.00617")
        #expect(duration(from: 1_795_813_867.5, to: 1_795_813_867.5) == 0)
    }

    @Test func numbersAsTheyWereWritten() {
        var generator = SystemRandomNumberGenerator()
        var doubles: [Double] = [0.02, -0.5, 0.1, 0.0001, 0.00012, 0.00001, 123.5, 1.000001, 8_589_934_591.999999,
                                 8_589_934_592.5, 1_795_147_070.123456, 1_795_147_070.1, -1_795_147_070.000001,
                                 .ulpOfOne, 1e300, -2.5e-7, 0.3, 1.0 / 3.0]
        for _ in 0..<20_000 {
            // Timestamps as `currentTimestamp` makes them, durations, and arbitrary doubles.
            doubles.append(Double(Int64.random(in: 1_700_000_000_000_000...1_900_000_000_000_000,
                                               using: &generator)) / 1e6)
            doubles.append(Double(Int.random(in: 1...100_000_000, using: &generator)) / 1e6)
            doubles.append(Double.random(in: -1e10...1e10, using: &generator))
            doubles.append(Double(bitPattern: UInt64.random(in: 0...UInt64.max, using: &generator)))
        }
        for value in doubles where value.isFinite {
            var writer = JSONWriter()
            writer.double(value)
            let text = String(decoding: writer.bytes, as: UTF8.self)
            #expect(Double(text) == value, "\(value) written as \(text)")
            if value.rounded() != value {
                #expect(text == value.description, "\(value) written as \(text)")
            }
        }
        let integers: [Int64] = [0, 7, 10, -1, -10, 1_795_147_070, .max, .min]
        for value in integers {
            var writer = JSONWriter()
            writer.int(value)
            #expect(String(decoding: writer.bytes, as: UTF8.self) == String(value))
        }
        var writer = JSONWriter()
        writer.int(UInt64.max)
        #expect(String(decoding: writer.bytes, as: UTF8.self) == String(UInt64.max))
    }
}

/// The hand-written reader against JSONDecoder: on every input, `WireCoding.decode` (the reader first,
/// JSONDecoder when the reader refuses) gives what JSONDecoder alone gives, value or error.
@Suite struct JSONReaderTests {
    private func same<T: JSONReadable & Equatable>(_ type: T.Type, _ text: String, fast: Bool? = nil) {
        let bytes = Array(text.utf8)
        let codable = try? JSONDecoder().decode(T.self, from: Data(bytes))
        let ours = try? WireCoding.decode(T.self, from: bytes)
        #expect(ours == codable, "\(T.self) from \(text)")
        if let fast {
            let byReader = try? JSONReader.read(bytes) { try T(reader: &$0) }
            #expect((byReader != nil) == fast, "reader \(fast ? "takes" : "refuses") \(text)")
            if let byReader { #expect(byReader == codable, "\(T.self) from \(text)") }
        }
    }

    @Test func jobSpecs() {
        same(JobSpec.self, #"["/bin/true"]"#, fast: true)
        same(JobSpec.self, #" [ "a" , "b\n\u00e9\ud83d\ude80" ] "#, fast: true)
        same(JobSpec.self, #"{"argv":["a"],"env":{"K":"V"},"cwd":"/","queue":"q","priority":-2,"timeout":1.5,"retries":3,"labels":{"g":"1"},"name":"n","extra":{"x":[1,2,{"y":null}]}}"#, fast: true)
        same(JobSpec.self, #"{"command":["a"]}"#, fast: true)
        same(JobSpec.self, #"{"argv":null,"command":["a"]}"#, fast: true)
        same(JobSpec.self, #"{"argv":["a"],"timeout":2}"#, fast: true)
        same(JobSpec.self, #"{"argv":["a"],"priority":1.0}"#, fast: false)  // JSONDecoder decides
        same(JobSpec.self, #"{"argv":["a"],"priority":1e2}"#, fast: false)
        same(JobSpec.self, #"{"argv":["a"],"priority":1.5}"#, fast: false)
        same(JobSpec.self, #"{"argv":["a"],"priority":"1"}"#, fast: false)
        same(JobSpec.self, #"{"argv":[1]}"#, fast: false)
        same(JobSpec.self, #"{"env":{"K":"V"}}"#, fast: false)
        same(JobSpec.self, #"{"argv":["a"]} x"#, fast: false)
        same(JobSpec.self, #"{"argv":["a"],}"#, fast: false)
        same(JobSpec.self, #"{"argv":["a\x"]}"#, fast: false)
        same(JobSpec.self, #"{"argv":["\ud800"]}"#, fast: false)
        same(JobSpec.self, #"{"argv":["a"],"priority":01}"#, fast: false)
        same(JobSpec.self, #"{"argv":["a"],"priority":99999999999999999999}"#, fast: false)
        same(JobSpec.self, "{\"argv\":[\"tab\tinside\"]}", fast: false)
        same(JobSpec.self, "", fast: false)
        same(JobSpec.self, "{", fast: false)
        same(JobSpec.self, String(repeating: "[", count: 10_000), fast: false)
    }

    /// The journal's job rows, read by hand at each start of the coordinator.
    @Test func jobRecords() throws {
        var record = JobRecord(id: "j7", number: 7, spec: JobSpec(argv: ["true"]), submittedAt: 1_795_147_070.123456)
        #expect(try JSONReader.read(record.jsonBytes) { try JobRecord(reader: &$0) } == record)
        record.spec = JobSpec(argv: ["echo", JSONWriterTests.awkward], env: ["A": JSONWriterTests.awkward], cwd: "/", queue: "q", priority: -1,
                              timeout: 1.5, retries: 2, labels: ["g": "1"], name: "n")
        record.status = .error
        record.attempt = 3
        record.reason = .signal
        record.exitCode = -1
        record.signal = 9
        record.message = JSONWriterTests.awkward
        record.result = .object(["a": .array([.int(1), .double(1.5), .null, .bool(false), .string("s")])])
        record.agentID = "a1"
        record.progress = 0.25
        record.startedAt = 1_795_147_071.5
        record.finishedAt = 1_795_147_072
        record.cancelRequested = true
        record.failures = 1
        record.lostAttempts = 1
        record.recordedAttempts = [1, 2, 3]
        #expect(try JSONReader.read(record.jsonBytes) { try JobRecord(reader: &$0) } == record)
        let row = #"{"id":"j1","number":1,"spec":{"argv":["a"]},"status":"pending","attempt":1,"submitted_at":1,"cancel_requested":false,"failures":0,"lost_attempts":0,"recorded_attempts":[]"#
        same(JobRecord.self, row + "}", fast: true)
        same(JobRecord.self, row + #","exit_code":null,"result":null,"later_field":[1]}"#, fast: true)
        same(JobRecord.self, row + #","status":"lost"}"#, fast: false)
        same(JobRecord.self, row.replacingOccurrences(of: #","failures":0"#, with: "") + "}", fast: false)
        same(JobRecord.self, row.replacingOccurrences(of: #""number":1"#, with: #""number":-1"#) + "}", fast: false)
    }

    /// Keys are matched as the bytes between their quotes (`JSONKey`): one written with escapes, or
    /// beyond ASCII, or of one character, is still the key JSONDecoder sees.
    @Test func keysWithEscapesOrBeyondASCII() {
        let output = #""output":{"stdout":"","stderr":"","stdout_truncated":false,"stderr_truncated":false}"#
        same(RunResult.self, #"{"job\u005fid":"j1","attempt":1,"status":"completed",\#(output),"started_at":1,"finished_at":2}"#,
             fast: true)
        same(RunResult.self, #"{"job_id":"j1","attempt":1,"status":"completed","\u00e9t\u00e9":1,"été":[2],"x":3,\#(output),"started_at":1,"finished_at":2}"#,
             fast: true)
        same(RunResult.self, #"{"job_id":"j1","attempt":1,"status":"completed","output":{"stdout":"","stderr":"","stdout_trunc\u0061ted":true,"stderr_truncated":false},"started_at":1,"finished_at":2}"#,
             fast: true)
        same(RunResult.self, #"{"job_id":"j1","job_i":"j2","job_idx":"j3","attempt":1,"status":"completed",\#(output),"started_at":1,"finished_at":2}"#,
             fast: true)
        var bytes = Array(#"{"argv":["a"],""#.utf8)
        bytes += [0xC3, 0x28]
        bytes += Array(#"":1}"#.utf8)
        #expect((try? JSONReader.read(bytes) { try JobSpec(reader: &$0) }) == nil, "invalid UTF-8 in a key")
        #expect((try? JSONDecoder().decode(JobSpec.self, from: Data(bytes))) == nil)
    }

    @Test func invalidUTF8IsRefusedByBoth() {
        var bytes = Array(#"{"argv":[""#.utf8)
        bytes += [0xC3, 0x28]
        bytes += Array(#""]}"#.utf8)
        #expect((try? JSONReader.read(bytes) { try JobSpec(reader: &$0) }) == nil)
        #expect((try? JSONDecoder().decode(JobSpec.self, from: Data(bytes))) == nil)
    }

    @Test func resultsAndAssignments() {
        same(RunResult.self, #"{"job_id":"j1","attempt":1,"status":"completed","exit_code":0,"output":{"stdout":"x","stderr":"","stdout_truncated":false,"stderr_truncated":true},"started_at":1795147070.25,"finished_at":1795147071}"#, fast: true)
        same(RunResult.self, #"{"job_id":"j1","attempt":1,"status":"error","reason":"signal","signal":9,"result":{"a":[1,1.0,1e3,1.5,-0,true,null,"s",9223372036854775808]},"output":{"stdout":"","stderr":"","stdout_truncated":false,"stderr_truncated":false},"started_at":1,"finished_at":2}"#, fast: true)
        same(RunResult.self, #"{"job_id":"j1","attempt":1,"status":"weird","output":{"stdout":"","stderr":"","stdout_truncated":false,"stderr_truncated":false},"started_at":1,"finished_at":2}"#, fast: false)
        same(RunResult.self, #"{"job_id":"j1","attempt":1,"status":"error","exit_code":4294967296,"output":{"stdout":"","stderr":"","stdout_truncated":false,"stderr_truncated":false},"started_at":1,"finished_at":2}"#, fast: false)
        same(RunResult.self, #"{"job_id":"j1","attempt":1,"status":"completed","output":{"stdout":"","stderr":""},"started_at":1,"finished_at":2}"#, fast: false)
        same(Assignment.self, #"{"job_id":"j1","attempt":2,"argv":["a"],"queue":"default","kill_grace_ms":5000}"#, fast: true)
        same(Assignment.self, #"{"job_id":"j1","attempt":2,"argv":["a"],"env":null,"queue":"default"}"#, fast: true)
        same(Assignment.self, #"{"job_id":"j1","attempt":2,"argv":["a"]}"#, fast: false)
        same(RunRef.self, #"{"job_id":"j1","attempt":3}"#, fast: true)
        same(RunRef.self, #"{"job_id":"j1","attempt":-3}"#, fast: true)
        same(RunRef.self, #"{"job_id":"j1","attempt":"3"}"#, fast: false)
    }

    @Test func events() throws {
        same(Event.self, #"{"seq":1,"time":"t","type":"job.submitted","job_id":"j1","command":["a"],"priority":0,"future_field":{"x":1}}"#, fast: true)
        same(Event.self, #"{"seq":2,"time":"t","type":"job.completed","status":"completed","exit_code":0,"duration":0.001,"result":{"n":1.0}}"#, fast: true)
        same(Event.self, #"{"seq":3,"time":"t","type":"agent.joined","slots":4,"labels":{"gpu":"1"},"hostname":"h","security":"curve"}"#, fast: true)
        same(Event.self, #"{"seq":4,"time":"t","type":"job.exploded"}"#, fast: false)
        same(Event.self, #"{"seq":-1,"time":"t","type":"job.started"}"#, fast: false)
        same(Event.self, #"{"seq":5,"time":"t","type":"job.started","status":"lost"}"#, fast: false)
        same(Event.self, #"{"time":"t","type":"job.started"}"#, fast: false)
        var event = Event(type: .jobFailed)
        event.seq = 9
        event.time = "2026-11-26T23:16:50.123456Z"
        event.jobID = "j9"
        event.status = .error
        event.reason = "exit"
        event.exitCode = 2
        event.message = JSONWriterTests.awkward
        let reply = ReplayReply(events: [event, Event(type: .agentLeft)], lastSeq: 9)
        let bytes = try WireCoding.encode(reply)
        let read = try JSONReader.read(bytes) { try ReplayReply(reader: &$0) }
        #expect(read.events == reply.events && read.lastSeq == 9)
        #expect(try JSONReader.read(event.jsonBytes) { try Event(reader: &$0) } == event)
    }
}
