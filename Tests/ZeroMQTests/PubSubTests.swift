import Testing
import ZeroMQ

@Suite struct PubSubTests {
    @Test func subscriberGetsOnlyMatchingTopics() throws {
        let context = ZMQContext()
        defer { context.terminate() }
        let publisher = try ZMQSocket(context: context, type: .pub)
        defer { publisher.close() }
        let subscriber = try ZMQSocket(context: context, type: .sub)
        defer { subscriber.close() }
        try publisher.bind("tcp://127.0.0.1:*")
        subscriber.subscribe("job.")
        try subscriber.connect(publisher.lastEndpoint)

        var received: [[Frame]] = []
        // Slow joiner: publish until the subscription has reached the publisher (at most 5 s).
        let deadline = monotonicMilliseconds() + 5_000
        while received.isEmpty && monotonicMilliseconds() < deadline {
            #expect(try publisher.send([bytes("agent.joined"), bytes("warm-up")]))
            #expect(try publisher.send([bytes("job.started"), bytes("warm-up")]))
            if let message = try subscriber.receive(timeoutMilliseconds: 50) { received.append(message) }
        }
        try #require(!received.isEmpty, "no message within 5 s")

        for topic in ["agent.left", "queue.updated", "job", "jobs.x", "job.progress", "agent.joined"] {
            #expect(try publisher.send([bytes(topic), bytes("body")]))
        }
        #expect(try publisher.send([bytes("job.completed"), bytes("last")]))
        // One publisher, one subscriber: order is kept, so everything sent before "last" is in by then.
        while received.last?.last != bytes("last") {
            guard let message = try receive(subscriber) else { break }
            received.append(message)
        }

        let topics = received.map { text($0[0]) }
        #expect(received.last == [bytes("job.completed"), bytes("last")])
        #expect(topics.allSatisfy { $0.hasPrefix("job.") }, "\(topics)")
        #expect(topics.contains("job.progress"))
        #expect(!topics.contains("job"))
        #expect(!topics.contains("jobs.x"))
        #expect(received.allSatisfy { $0.count == 2 })
    }
}
