import Foundation
import ProcCore
import ProcWire
import Testing

/// The generated writers must write the JSON the generated Codable conformance writes: same keys, same
/// values, absent optionals left out. Each type is checked both ways: the two encodings parse to the same
/// JSON value, and the written bytes read back to the value with both the reader and `JSONDecoder`.
@Suite struct WireWriterTests {
    static let awkward = "quote \" backslash \\ slash / newline \n tab \t cr \r bell \u{07} nul \u{0} é 漢字 🚀"

    private func check<T: WireWritable & WireReadable & Codable & Equatable>(_ value: T) throws {
        let written = value.jsonBytes
        let parsedWritten = try WireCoding.decode(JSONValue.self, from: written)
        let parsedCodable = try WireCoding.decode(JSONValue.self, from: try WireCoding.encode(value))
        #expect(parsedWritten == parsedCodable, "\(T.self): \(String(decoding: written, as: UTF8.self))")
        #expect(try WireCoding.decode(T.self, from: written) == value)
        #expect(try JSONDecoder().decode(T.self, from: Data(written)) == value)
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
        #expect(try WireCoding.decode(SubmitRequest.self, from: request.jsonBytes).jobs == request.jobs)
        let reply = SubmitReply(ids: ["j1", Self.awkward])
        #expect(try JSONDecoder().decode(SubmitReply.self, from: Data(reply.jsonBytes)).ids == reply.ids)
        #expect(try WireCoding.decode(SubmitReply.self, from: reply.jsonBytes).ids == reply.ids)
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
            #expect(try WireCoding.decode(WaitReply.self, from: written) == reply)
            #expect(try JSONDecoder().decode(WaitReply.self, from: Data(written)).jobs == reply.jobs)
        }
    }

    @Test func waitRequests() throws {
        for request in [WaitRequest(ids: ["j1", "a\"b"], timeoutMilliseconds: 1_000, finalOnly: true),
                        WaitRequest(ids: [], timeoutMilliseconds: 0)] {
            let written = request.jsonBytes
            #expect(try WireCoding.decode(JSONValue.self, from: written)
                    == WireCoding.decode(JSONValue.self, from: try WireCoding.encode(request)))
            #expect(try WireCoding.decode(WaitRequest.self, from: written) == request)
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


/// The generated readers: what they take, and for what they refuse, the field and the reason, said by
/// the reader itself (there is no second parse to word an error).
@Suite struct WireReaderTests {
    private func read<T: WireReadable>(_ type: T.Type, _ text: String, strict: Bool = false) throws(WireError) -> T {
        try WireCoding.decode(T.self, from: Array(text.utf8), strict: strict)
    }

    private func refusal<T: WireReadable>(_ type: T.Type, _ text: String, strict: Bool = false) -> String? {
        do {
            _ = try read(T.self, text, strict: strict)
            return nil
        } catch {
            return error.description
        }
    }

    @Test func jobSpecs() throws {
        #expect(try read(JobSpec.self, #"["/bin/true"]"#) == JobSpec(argv: ["/bin/true"]))
        #expect(try read(JobSpec.self, #" [ "a" , "b\n\u00e9\ud83d\ude80" ] "#).argv == ["a", "b\né🚀"])
        let full = try read(JobSpec.self, #"{"argv":["a"],"env":{"K":"V"},"cwd":"/","queue":"q","priority":-2,"timeout":1.5,"retries":3,"labels":{"g":"1"},"name":"n","extra":{"x":[1,2,{"y":null}]}}"#)
        #expect(full == JobSpec(argv: ["a"], env: ["K": "V"], cwd: "/", queue: "q", priority: -2, timeout: 1.5,
                                retries: 3, labels: ["g": "1"], name: "n"))
        #expect(try read(JobSpec.self, #"{"command":["a"]}"#).argv == ["a"])
        #expect(try read(JobSpec.self, #"{"argv":["a"],"timeout":2,"cwd":null}"#).timeout == 2)
        // Codable agrees on what it takes.
        #expect(try JSONDecoder().decode(JobSpec.self, from: Data(full.jsonBytes)) == full)
        #expect(try JSONDecoder().decode(JobSpec.self, from: Data(#"["x"]"#.utf8)) == JobSpec(argv: ["x"]))
    }

    @Test(arguments: [
        (#"{"argv":["a"],"priority":1.5}"#, "priority: expected an integer, found 1.5"),
        (#"{"argv":["a"],"priority":"1"}"#, "priority: expected an integer, found a string"),
        (#"{"argv":[1]}"#, "argv[0]: expected a string, found a number"),
        (#"{"argv":["a", "b", null]}"#, "argv[2]: expected a string, found null"),
        (#"{"env":{"K":"V"}}"#, nil),
        (#"{"argv":["a"],"env":{"K":5}}"#, "env.K: expected a string, found a number"),
        (#"{"argv":["a"],"timeout":-1}"#, "timeout: must be between 0.001 and 31536000 seconds; got -1"),
        (#"{"argv":["a"],"retries":100000}"#, "retries: must be between 0 and 1000; got 100000"),
        (#"{"argv":["a"],"priority":99999999999999999999}"#, "priority: 99999999999999999999 is out of range for an integer"),
        (#"{"argv":["a"]} x"#, "unexpected 'x' (not JSON) after the end of the JSON value"),
        (#"{"argv":["a"],}"#, "expected a key (a string), found '}' (not JSON)"),
        (#"{"argv":["a\x"]}"#, "argv[0]: an invalid escape in a string"),
        (#"{"argv":["\ud800"]}"#, "argv[0]: a lone surrogate in a string"),
        (#"{"argv":["a"],"priority":01}"#, "priority: a number with a leading zero is not JSON"),
        ("{\"argv\":[\"tab\tinside\"]}", "argv[0]: a control character in a string (escape it)"),
        ("", "unexpected end of the message"),
        ("{", "unexpected end of the message"),
        ("[[", "argv[0]: expected a string, found an array"),
        (#"{"argv":["a"],"timout":5}"#, nil),
    ] as [(String, String?)])
    func jobSpecRefusals(_ text: String, _ expected: String?) {
        #expect(refusal(JobSpec.self, text) == expected, "\(text)")
    }

    @Test func strictReadersRefuseUnknownKeysWithTheNearestOne() {
        #expect(refusal(JobSpec.self, #"{"argv":["a"],"timout":5}"#, strict: true)
            == "unknown key 'timout'; did you mean 'timeout'? (keys: argv, function, args, isolated, env, cwd, queue, priority, timeout, retries, labels, name)")
        #expect(refusal(JobSpec.self, #"{"argv":["a"],"command":["b"]}"#, strict: true) == nil, "an alias is a known key")
    }

    @Test func deepNestingIsRefusedNotACrash() {
        let deep = #"{"argv":["a"],"extra":"# + String(repeating: "[", count: 100_000) + "}"
        #expect(refusal(JobSpec.self, deep)?.contains("nested more than 512 levels deep") == true)
    }

    /// The journal's job records, read at every start of the coordinator.
    @Test func jobRecords() throws {
        var record = JobRecord(id: "j7", number: 7, spec: JobSpec(argv: ["true"]), submittedAt: 1_795_147_070.123456)
        #expect(try WireCoding.decode(JobRecord.self, from: record.jsonBytes) == record)
        record.status = .error
        record.reason = .signal
        record.result = .object(["a": .array([.int(1), .double(1.5), .null, .bool(false), .string("s")])])
        record.recordedAttempts = [1, 2, 3]
        #expect(try WireCoding.decode(JobRecord.self, from: record.jsonBytes) == record)
        let row = #"{"id":"j1","number":1,"spec":{"argv":["a"]},"status":"pending","attempt":1,"submitted_at":1,"cancel_requested":false,"failures":0,"lost_attempts":0,"recorded_attempts":[]"#
        #expect(refusal(JobRecord.self, row + "}") == nil)
        #expect(refusal(JobRecord.self, row + #","exit_code":null,"result":null,"later_field":[1]}"#) == nil)
        #expect(refusal(JobRecord.self, row + #","status":"lost"}"#)
            == "status: 'lost' is not one of pending, running, completed, error, cancelled")
        #expect(refusal(JobRecord.self, row.replacingOccurrences(of: #","failures":0"#, with: "") + "}") == "missing \"failures\"")
        #expect(refusal(JobRecord.self, row.replacingOccurrences(of: #""number":1"#, with: #""number":-1"#) + "}")
            == "number: expected an integer of 0 or more, found a negative number")
        #expect(refusal(JobRecord.self, row + #","spec":{"argv":"x"}}"#) == "spec.argv: expected an array, found a string")
    }

    /// Keys are matched as the bytes between their quotes (`JSONKey`): one written with escapes, or
    /// beyond ASCII, or of one character, is still the key.
    @Test func keysWithEscapesOrBeyondASCII() throws {
        let output = #""output":{"stdout":"","stderr":"","stdout_truncated":false,"stderr_truncated":false}"#
        #expect(try read(RunResult.self, #"{"job\u005fid":"j1","attempt":1,"status":"completed",\#(output),"started_at":1,"finished_at":2}"#).jobID == "j1")
        #expect(try read(RunResult.self, #"{"job_id":"j1","attempt":1,"status":"completed","\u00e9t\u00e9":1,"été":[2],"x":3,\#(output),"started_at":1,"finished_at":2}"#).attempt == 1)
        #expect(try read(RunResult.self, #"{"job_id":"j1","attempt":1,"status":"completed","output":{"stdout":"","stderr":"","stdout_trunc\u0061ted":true,"stderr_truncated":false},"started_at":1,"finished_at":2}"#).output.stdoutTruncated)
        #expect(try read(RunResult.self, #"{"job_id":"j1","job_i":"j2","job_idx":"j3","attempt":1,"status":"completed",\#(output),"started_at":1,"finished_at":2}"#).jobID == "j1")
        var bytes = Array(#"{"argv":["a"],""#.utf8)
        bytes += [0xC3, 0x28]
        bytes += Array(#"":1}"#.utf8)
        #expect(throws: WireError("invalid UTF-8 in a string")) { try WireCoding.decode(JobSpec.self, from: bytes) }
    }

    @Test func agentMessagesNameTheirField() {
        let output = #""output":{"stdout":"","stderr":"","stdout_truncated":false,"stderr_truncated":false}"#
        #expect(refusal(ResultsMessage.self, #"{"results":[{"job_id":"j1","attempt":1,"status":"completed",\#(output),"started_at":1,"finished_at":2},{"job_id":"j2","attempt":0,"status":"completed",\#(output),"started_at":1,"finished_at":2}]}"#)
            == "results[1].attempt: must be at least 1; got 0")
        #expect(refusal(RunResult.self, #"{"job_id":"j1","attempt":1,"status":"weird",\#(output),"started_at":1,"finished_at":2}"#)
            == "status: 'weird' is not one of pending, running, completed, error, cancelled")
        #expect(refusal(RunResult.self, #"{"job_id":"j1","attempt":1,"status":"error","exit_code":4294967296,\#(output),"started_at":1,"finished_at":2}"#)
            == "exit_code: 4294967296 is out of range (32 bits)")
        #expect(refusal(Assignment.self, #"{"job_id":"j1","attempt":2,"argv":["a"]}"#) == "missing \"queue\"")
        #expect(refusal(Hello.self, #"{"name":"a","hostname":"h","slots":9223372036854775807,"labels":{},"pid":1,"version":"1","running":[]}"#)
            == "slots: must be between 1 and 10000; got 9223372036854775807")
        #expect(refusal(Welcome.self, #"{"agent_id":"a","heartbeat_ms":0,"liveness":3}"#)
            == "heartbeat_ms: must be between 10 and 600000 milliseconds; got 0")
        #expect(refusal(RunRef.self, #"{"job_id":"j1","attempt":"3"}"#) == "attempt: expected an integer, found a string")
    }

    @Test func events() throws {
        let submitted = try read(Event.self, #"{"seq":1,"time":"t","type":"job.submitted","job_id":"j1","command":["a"],"priority":0,"future_field":{"x":1}}"#)
        #expect(submitted.command == ["a"] && submitted.priority == 0)
        #expect(refusal(Event.self, #"{"seq":4,"time":"t","type":"job.exploded"}"#)?.hasPrefix("type: 'job.exploded' is not one of") == true)
        #expect(refusal(Event.self, #"{"time":"t","type":"job.started"}"#) == "missing \"seq\"")
        var event = Event(type: .jobFailed)
        event.seq = 9
        event.time = "2026-11-26T23:16:50.123456Z"
        event.jobID = "j9"
        event.status = .error
        event.message = WireWriterTests.awkward
        let reply = ReplayReply(events: [event, Event(type: .agentLeft)], lastSeq: 9)
        #expect(try WireCoding.decode(ReplayReply.self, from: try WireCoding.encode(reply)) == reply)
        #expect(try WireCoding.decode(Event.self, from: event.jsonBytes) == event)
    }
}
