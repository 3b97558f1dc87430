import ProcCore
import Testing

@Suite struct JobSpecTests {
    private func decode(_ json: String) throws -> JobSpec {
        try WireCoding.decode(JobSpec.self, from: Array(json.utf8))
    }

    @Test func bareArrayIsTheArgv() throws {
        let spec = try decode(#"["echo", "hello world"]"#)
        #expect(spec == JobSpec(argv: ["echo", "hello world"]))
    }

    @Test func objectWithArgvAndOptions() throws {
        let spec = try decode("""
            {"argv": ["python3", "train.py"], "env": {"SEED": "1"}, "cwd": "/srv", "queue": "gpu",
             "priority": 7, "timeout": 2.5, "retries": 2, "labels": {"gpu": "1"}, "name": "train"}
            """)
        #expect(spec.argv == ["python3", "train.py"])
        #expect(spec.env == ["SEED": "1"])
        #expect(spec.cwd == "/srv")
        #expect(spec.queue == "gpu")
        #expect(spec.priority == 7)
        #expect(spec.timeout == 2.5)
        #expect(spec.retries == 2)
        #expect(spec.labels == ["gpu": "1"])
        #expect(spec.name == "train")
    }

    @Test func commandIsAnAliasOfArgv() throws {
        let spec = try decode(#"{"command": ["ls", "-l"], "queue": "q"}"#)
        #expect(spec.argv == ["ls", "-l"])
        #expect(spec.queue == "q")
    }

    @Test func argvWinsOverCommand() throws {
        #expect(try decode(#"{"argv": ["a"], "command": ["b"]}"#).argv == ["a"])
    }

    /// A job without argv reads (a function job has none), and is refused by validation unless it names a
    /// function.
    @Test(arguments: [#"{"queue": "q"}"#, #"{}"#, #"{"argv": null}"#])
    func missingArgvIsRefusedUnlessAFunction(json: String) throws {
        let spec = try decode(json)
        #expect(spec.argv.isEmpty)
        #expect(spec.validationProblem()?.hasPrefix("empty command") == true)
    }

    @Test func functionJobsAreCheckedForWhatGoesWithAFunction() throws {
        #expect(try decode(#"{"function": "square", "args": {"x": 3}}"#).validationProblem() == nil)
        #expect(try decode(#"{"function": "square"}"#).validationProblem() == nil)
        #expect(try decode(#"{"function": "square", "argv": ["ls"]}"#).validationProblem()?.contains("not both") == true)
        #expect(try decode(#"{"function": "no spaces"}"#).validationProblem()?.contains("may hold only") == true)
        #expect(try decode(#"{"function": ""}"#).validationProblem() == "function name is empty")
        #expect(try decode(#"{"argv": ["ls"], "args": 1}"#).validationProblem()?.contains("no function") == true)
        #expect(try decode(#"{"argv": ["ls"], "isolated": true}"#).validationProblem()?.contains("no function") == true)
        #expect(try decode(#"{"function": "f", "env": {"A": "1"}}"#).validationProblem()?.contains("isolated") == true)
        #expect(try decode(#"{"function": "f", "cwd": "/tmp", "isolated": true}"#).validationProblem() == nil)
        let big = #"{"function": "f", "args": ""# + String(repeating: "x", count: 1 << 20) + #""}"#
        #expect(try decode(big).validationProblem()?.hasPrefix("args too large") == true)
    }

    @Test func aFunctionJobIsWrittenWithoutArgv() throws {
        let spec = JobSpec(function: "square", args: .object(["x": .int(3)]))
        #expect(String(decoding: WireCoding.bytes(spec), as: UTF8.self) == #"{"function":"square","args":{"x":3}}"#)
        #expect(try decode(String(decoding: WireCoding.bytes(spec), as: UTF8.self)) == spec)
    }

    @Test(arguments: [#"{"argv": "echo hi"}"#, #"42"#, #"[1, 2]"#])
    func wrongShapesAreErrors(json: String) {
        #expect(throws: WireError.self) { try decode(json) }
    }

    @Test func encodingRoundTripsAndOmitsNils() throws {
        let spec = JobSpec(argv: ["a", "b"], queue: "q", priority: 1, labels: ["k": "v"])
        let bytes = try WireCoding.encode(spec)
        #expect(try WireCoding.decode(JobSpec.self, from: bytes) == spec)
        let object = try WireCoding.decode(JSONValue.self, from: bytes)
        guard case .object(let fields) = object else {
            Issue.record("not an object: \(object)")
            return
        }
        #expect(Set(fields.keys) == ["argv", "queue", "priority", "labels"])
    }

    @Test func validSpecHasNoProblem() {
        let spec = JobSpec(argv: ["true"], env: ["A": "1"], cwd: "/", queue: "q", timeout: 1, retries: 0)
        #expect(spec.validationProblem() == nil)
    }

    @Test(arguments: [
        (JobSpec(argv: []), "empty command"),
        (JobSpec(argv: ["", "x"]), "empty program"),
        (JobSpec(argv: ["true"], retries: -1), "retries"),
        (JobSpec(argv: ["true"], timeout: 0), "timeout"),
        (JobSpec(argv: ["true"], timeout: -3), "timeout"),
        (JobSpec(argv: ["true"], timeout: .nan), "timeout"),
        (JobSpec(argv: ["true"], env: ["A=B": "1"]), "'='"),
        (JobSpec(argv: ["true"], env: ["": "1"]), "non-empty"),
        (JobSpec(argv: ["true"], cwd: ""), "working directory"),
        (JobSpec(argv: ["true"], queue: ""), "queue"),
    ])
    func validationProblems(spec: JobSpec, mentions: String) throws {
        let problem = try #require(spec.validationProblem())
        #expect(problem.contains(mentions))
    }

    @Test func oversizedArgvIsAProblem() throws {
        let spec = JobSpec(argv: ["echo", String(repeating: "x", count: 100)])
        #expect(spec.validationProblem(maxArgvBytes: 1_000) == nil)
        let problem = try #require(spec.validationProblem(maxArgvBytes: 50))
        #expect(problem.contains("too large"))
    }
}
