import Foundation
import ProcClient
import ProcCore
import Testing
import ZeroMQ

extension Integration {
    /// The event feed as any ZeroMQ library sees it: a plain SUB socket, checked field by field.
    @Suite struct FeedContract {
        @Test func plainSubscriberSeesTheContract() async throws {
            let cluster = try TestCluster(standaloneSlots: 2)
            defer { cluster.stop() }
            let context = ZMQContext()
            defer { context.terminate() }
            let socket = try ZMQSocket(context: context, type: .sub)
            defer { socket.close() }
            socket.subscribe("job.")
            try socket.connect(cluster.eventsEndpoint)

            // The slow joiner: submit until the first event arrives (bounded), then the real batch.
            var first: [Frame]?
            for _ in 0..<50 where first == nil {
                _ = try cluster.submit("--", "true")
                first = try socket.receive(timeoutMilliseconds: 200)
            }
            #expect(first != nil, "no event reached a plain SUB socket")
            let ids = try cluster.proc("submit", "--batch", "-", stdin: """
                ["true"]
                ["sh", "-c", "exit 5"]
                ["sh", "-c", "echo '{\\"progress\\": 0.25}' >&3; echo '{\\"result\\": [1, 2]}' >&3"]
                """).stdout.split(separator: "\n").map(String.init)
            #expect(ids.count == 3)

            var messages: [[Frame]] = first.map { [$0] } ?? []
            var finals = Set<String>()
            let deadline = Date().addingTimeInterval(20)
            while finals.count < ids.count && Date() < deadline {
                guard let message = try socket.receive(timeoutMilliseconds: 200) else { continue }
                messages.append(message)
                if let body = try? JSONSerialization.jsonObject(with: Data(message.last!)) as? [String: Any],
                    let id = body["job_id"] as? String, ids.contains(id),
                    ["completed", "error", "cancelled"].contains(body["status"] as? String ?? "")
                {
                    finals.insert(id)
                }
            }
            #expect(finals.count == ids.count)

            var previousSeq: Int?
            let timePattern = #"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$"#
            var types = Set<String>()
            for message in messages {
                #expect(message.count == 2, "two frames: topic, then JSON")
                let topic = String(decoding: message[0], as: UTF8.self)
                let body = try #require(try JSONSerialization.jsonObject(with: Data(message[1])) as? [String: Any])
                #expect(body["type"] as? String == topic)
                #expect(topic.hasPrefix("job."))
                types.insert(topic)
                let seq = try #require(body["seq"] as? Int)
                if let previousSeq { #expect(seq == previousSeq + 1, "seq +1 per event, no gaps") }
                previousSeq = seq
                let time = try #require(body["time"] as? String)
                #expect(time.range(of: timePattern, options: .regularExpression) != nil, "RFC 3339 UTC: \(time)")
                #expect(body["job_id"] is String)
                #expect(body["queue"] as? String == "default")
                #expect(body["attempt"] is Int)
                let status = try #require(body["status"] as? String)
                #expect(["pending", "running", "completed", "error", "cancelled"].contains(status))
                switch topic {
                case "job.submitted": #expect(status == "pending")
                case "job.started": #expect(status == "running" && body["agent_id"] is String)
                case "job.progress": #expect(body["progress"] as? Double == 0.25)
                case "job.completed": #expect(status == "completed" && body["exit_code"] as? Int == 0)
                case "job.failed": #expect(status == "error" && body["reason"] as? String == "exit" && body["exit_code"] as? Int == 5)
                default: break
                }
                if topic == "job.completed", body["job_id"] as? String == ids[2] {
                    #expect(body["result"] as? [Int] == [1, 2])
                }
            }
            #expect(types.isSuperset(of: ["job.submitted", "job.started", "job.completed", "job.failed", "job.progress"]))

            // The journal holds the same events: seq from 1 with no gap.
            let history = try await cluster.history()
            #expect(history.map(\.seq) == Array(1...UInt64(history.count)))
        }

        /// The Swift client hands events over in slices of at most a few hundred (EventSubscription); a
        /// burst of thousands read at once must still come out whole and in order.
        @Test func aSwiftSubscriberSeesABurstWholeAndInOrder() async throws {
            let cluster = try TestCluster()  // no agent: the jobs stay pending
            defer { cluster.stop() }
            let client = try ProcClient(coordinator: cluster.control, requestTimeout: 30)
            defer { client.close() }
            let first = try await client.info().lastSeq + 1
            let events = client.events(topics: ["job.submitted"], from: first)
            let count = 3_000
            let batch = String(repeating: "[\"true\"]\n", count: count)
            #expect(try cluster.proc("submit", "--batch", "-", stdin: batch).code == 0)
            let seqs = try await withThrowingTaskGroup(of: [UInt64]?.self) { group in
                group.addTask {
                    var seqs: [UInt64] = []
                    for try await event in events {
                        seqs.append(event.seq)
                        if seqs.count == count { break }
                    }
                    return seqs
                }
                group.addTask {
                    try await Task.sleep(for: .seconds(60))
                    return nil
                }
                let first = try await group.next() ?? nil
                group.cancelAll()
                return first
            }
            #expect(seqs == Array(first..<first + UInt64(count)))
        }

        @Test func seqContinuesAcrossRestart() async throws {
            let data = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: data) }
            var lastSeq: UInt64 = 0
            do {
                let cluster = try TestCluster(standaloneSlots: 1, dataDirectory: data)
                let id = try cluster.submit("--", "true")
                #expect(try cluster.proc("wait", id).code == 0)
                lastSeq = try await cluster.history().last?.seq ?? 0
                cluster.stop()
            }
            #expect(lastSeq > 0)
            let again = try TestCluster(standaloneSlots: 1, dataDirectory: data)
            defer { again.stop() }
            let id = try again.submit("--", "true")
            #expect(try again.proc("wait", id).code == 0)
            let history = try await again.history()
            #expect(history.map(\.seq) == Array(1...UInt64(history.count)), "no seq reused or skipped")
            #expect(history.count > Int(lastSeq))
            #expect(try again.status("j1") == .completed, "the old job is still known")
        }
    }
}
