import ProcCore
import Testing

@Suite struct EventCodingTests {
    private func fields(_ event: Event) throws -> [String: JSONValue] {
        let value = try WireCoding.decode(JSONValue.self, from: try WireCoding.encode(event))
        guard case .object(let fields) = value else {
            Issue.record("an event encodes as an object, got \(value)")
            return [:]
        }
        return fields
    }

    @Test func jobEventUsesTheContractNames() throws {
        var event = Event(type: .jobFailed)
        event.seq = 17
        event.time = "2026-11-26T23:16:50.123456Z"
        event.jobID = "j3"
        event.status = .error
        event.queue = "default"
        event.attempt = 2
        event.agentID = "a1"
        event.exitCode = 3
        event.signal = 9
        event.reason = "exit"
        event.result = .object(["k": .int(1)])
        event.progress = 0.5
        event.message = "boom"
        let json = try fields(event)
        #expect(Set(json.keys) == [
            "seq", "time", "type", "job_id", "status", "queue", "attempt", "agent_id", "exit_code", "signal",
            "reason", "result", "progress", "message",
        ])
        #expect(json["seq"] == .int(17))
        #expect(json["time"] == .string("2026-11-26T23:16:50.123456Z"))
        #expect(json["type"] == .string("job.failed"))
        #expect(json["status"] == .string("error"))
        #expect(json["job_id"] == .string("j3"))
        #expect(json["agent_id"] == .string("a1"))
        #expect(json["exit_code"] == .int(3))
        #expect(json["attempt"] == .int(2))
        #expect(json["result"] == .object(["k": .int(1)]))
        #expect(json["progress"] == .double(0.5))
    }

    @Test func nilFieldsAreAbsent() throws {
        let json = try fields(Event(type: .agentLeft))
        #expect(Set(json.keys) == ["seq", "time", "type"])
        #expect(json["type"] == .string("agent.left"))
    }

    @Test func otherFieldsUseSnakeCase() throws {
        var event = Event(type: .queueUpdated)
        event.maxRunning = 4
        event.command = ["a"]
        event.duration = 1.5
        event.slots = 2
        event.labels = ["gpu": "1"]
        event.hostname = "h"
        event.priority = 1
        event.name = "n"
        let json = try fields(event)
        #expect(Set(json.keys) == [
            "seq", "time", "type", "max_running", "command", "duration", "slots", "labels", "hostname", "priority",
            "name",
        ])
    }

    @Test(arguments: JobStatus.allCases)
    func statusIsALowerCaseString(status: JobStatus) throws {
        var event = Event(type: .jobStarted)
        event.status = status
        let value = try #require(try fields(event)["status"]?.stringValue)
        #expect(value == value.lowercased())
        #expect(value == status.rawValue)
    }

    @Test(arguments: EventType.allCases)
    func typeIsALowerCaseDottedString(type: EventType) throws {
        let value = try #require(try fields(Event(type: type))["type"]?.stringValue)
        #expect(value == value.lowercased())
        #expect(value.contains("."))
        #expect(value == type.rawValue)
    }

    @Test func eventRoundTrips() throws {
        var job = JobRecord(id: "j9", number: 9, spec: JobSpec(argv: ["x"], queue: "q"), submittedAt: 0)
        job.status = .running
        job.agentID = "a"
        var event = Event.job(.jobStarted, job)
        event.seq = 3
        event.time = rfc3339(1_700_000_000)
        event.command = ["x"]
        let decoded = try WireCoding.decode(Event.self, from: try WireCoding.encode(event))
        #expect(decoded == event)
        #expect(decoded.queue == "q")
        #expect(decoded.attempt == 1)
    }
}
