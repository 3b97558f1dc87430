import Foundation
import Glibc
import ProcCore
import Testing

/// A subscriber to the event feed written in Python (pyzmq): proof that any language with a ZeroMQ
/// library reads the feed. It prints each event as one line, `TOPIC BODY`.
final class PythonSubscriber: @unchecked Sendable {
    static let python = "/usr/bin/python3"
    static var available: Bool { (try? run(python, ["-c", "import zmq"], timeout: 30).code) == 0 }

    let process: TestProcess

    init(endpoint: String, topic: String = "job.", directory: String) throws {
        process = try TestProcess(Self.python, ["-u", "-c", """
            import sys, zmq
            sub = zmq.Context().socket(zmq.SUB)
            sub.setsockopt(zmq.SUBSCRIBE, sys.argv[2].encode())
            sub.connect(sys.argv[1])
            print("subscribed", flush=True)
            while sub.poll(60000):
                topic, body = sub.recv_multipart()
                print(topic.decode(), body.decode(), flush=True)
            """, endpoint, topic], directory: directory)
    }

    /// Submits a probe job until the subscriber shows one of its events: from then on it sees every event
    /// (a SUB socket receives nothing until its subscription has reached the publisher).
    func waitUntilLive(_ cluster: TestCluster) throws -> Bool {
        guard process.waitForOutput("subscribed") else { return false }
        for _ in 0..<40 {
            let id = try cluster.submit("--", "true")
            if process.waitForOutput("\"job_id\":\"\(id)\"", timeout: 0.5) { return true }
        }
        return false
    }

    /// The events it printed, decoded.
    var events: [Event] {
        process.stdout.split(separator: "\n").compactMap { line in
            guard let space = line.firstIndex(of: " ") else { return nil }
            return try? JSONDecoder().decode(Event.self, from: Data(line[line.index(after: space)...].utf8))
        }
    }

    /// Waits until it has printed the final event of each of `ids`.
    func waitForFinals(_ ids: [String], timeout: Double = 30) -> Bool {
        eventually(timeout: timeout) {
            let finals = Set(events.filter { $0.status?.isFinal == true }.compactMap(\.jobID))
            return ids.allSatisfy(finals.contains)
        }
    }

    func stop() { process.terminate(signal: SIGKILL) }
}
