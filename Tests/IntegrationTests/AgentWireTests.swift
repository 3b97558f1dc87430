import Foundation
import Glibc
import ProcCore
import ProcTestSupport
import Testing
import ZeroMQ

extension Integration {
    /// A coordinator sends the ACK of an agent's results inside the JOBS it sends that
    /// agent in the same flush, when the agent's HELLO said it reads them there; to other agents, and when
    /// there are no JOBS, it sends ACK messages as before. Nothing an agent keeps is forgotten unacknowledged.
    @Suite struct Acks {
        /// Three jobs through one slot: the first two results are acknowledged in the next JOBS (no ACK
        /// message), the last one, with nothing left to send, by an ACK. An agent that did not say so gets
        /// JOBS without acks and an ACK for every result.
        @Test(arguments: [true, false])
        func acksRideOnJobsOnlyForAgentsThatReadThem(acksInJobs: Bool) throws {
            let cluster = try TestCluster()
            defer { cluster.stop() }
            let context = ZMQContext()
            defer { context.terminate() }
            let name = acksInJobs ? "reads-acks" : "older"
            let agent = try RawAgent(context: context, endpoint: "tcp://\(cluster.control)", hello: Hello(
                name: name, hostname: "raw", slots: 1, labels: ["raw": name], pid: getpid(), version: "1", running: [],
                acksInJobs: acksInJobs ? true : nil))
            defer { agent.close() }
            #expect(try eventually(timeout: 20) { try cluster.agentCount() == 1 })
            let ids = try (0..<3).map { _ in try cluster.submit("--label", "raw=\(name)", "--", "true") }

            var acked: [String] = [], ackMessages = 0, started: [String] = []
            while acked.count < 3 {
                let message = try #require(try agent.next(), "no message after \(started), acked \(acked)")
                switch message {
                case .jobs(let message):
                    if acksInJobs {
                        acked += (message.acks ?? []).map(\.jobID)
                    } else {
                        #expect(message.acks == nil)
                    }
                    for assignment in message.jobs {
                        started.append(assignment.jobID)
                        try agent.complete([assignment])
                    }
                case .ack(let ack):
                    ackMessages += 1
                    acked += ack.runs.map(\.jobID)
                default:
                    Issue.record("unexpected \(message.command.rawValue)")
                }
            }
            #expect(started == ids && acked == ids)
            // With one slot, each JOBS after the first follows the result that freed it, in the same flush.
            #expect(ackMessages == (acksInJobs ? 1 : 3))
            let wait = try cluster.proc("wait", ids[0], ids[1], ids[2])
            #expect(wait.code == 0, "\(wait.stdout)\(wait.stderr)")
        }

        /// The agent's side: results acknowledged inside JOBS leave its outbox (they are not in the HELLO of
        /// its next connection); a result not acknowledged stays and is offered again.
        @Test func theAgentForgetsResultsAcknowledgedInJobs() throws {
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let context = ZMQContext()
            defer { context.terminate() }
            let coordinator = try FakeCoordinator(context: context, directory: directory, name: "acks")
            defer { coordinator.close() }
            #expect(try coordinator.hello().acksInJobs == true)
            try coordinator.welcome("acks")
            let a1 = FakeCoordinator.job("a1", ["/bin/true"], directory: directory)
            let a2 = FakeCoordinator.job("a2", ["/bin/true"], directory: directory)
            try coordinator.send(.jobs(JobsMessage(jobs: [a1])))
            let first = try coordinator.results().results
            #expect(first.map(\.jobID) == ["a1"])
            try coordinator.send(.jobs(JobsMessage(jobs: [a2], acks: [RunRef(jobID: "a1", attempt: 1)])))
            let second = try coordinator.results().results
            #expect(second.map(\.jobID) == ["a2"])

            // A coordinator that does not know it any more: the agent introduces itself again, with the
            // results it still keeps.
            try coordinator.send(.reconnect)
            let again = try coordinator.hello()
            #expect(again.running.map(\.jobID) == ["a2"], "\(again.running)")
        }
    }
}

extension Integration {
    /// A `proc-agent` without `--prefetch` asks for max(4, slots) held runs while its
    /// last 8 runs each took 10 ms or less, and for 1 again after a longer one, in the next RESULT. With
    /// `--prefetch N` it keeps N.
    @Suite struct AdaptivePrefetch {
        @Test func itRisesWithShortRunsAndFallsAfterALongOne() throws {
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let context = ZMQContext()
            defer { context.terminate() }
            let coordinator = try FakeCoordinator(context: context, directory: directory, name: "adaptive")
            defer { coordinator.close() }
            #expect(try coordinator.hello().prefetch == 1)
            try coordinator.welcome("adaptive")

            // Short runs, one at a time, until the agent asks for more (8 in a row of 10 ms or less; a loaded
            // machine may make some longer, so up to 200 are tried).
            var asked: [Int] = [], shortRuns = 0
            while asked.isEmpty && shortRuns < 200 {
                let message = try coordinator.run(["/bin/true"], directory: directory)
                shortRuns += 1
                if let prefetch = message.prefetch { asked.append(prefetch) }
            }
            #expect(asked == [4], "after \(shortRuns) short runs")
            #expect(shortRuns >= 8)
            // Then a long one: back to 1, said once.
            let long = try coordinator.run(["/bin/sleep", "0.05"], directory: directory)
            #expect(long.prefetch == 1)
            let next = try coordinator.run(["/bin/sleep", "0.05"], directory: directory)
            #expect(next.prefetch == nil)
        }

        @Test func aGivenPrefetchIsFixed() throws {
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let context = ZMQContext()
            defer { context.terminate() }
            let coordinator = try FakeCoordinator(context: context, directory: directory, name: "adaptive", agentArguments: ["--prefetch", "2"])
            defer { coordinator.close() }
            #expect(try coordinator.hello().prefetch == 2)
            try coordinator.welcome("adaptive")
            var asked: [Int] = []
            for _ in 0..<20 {
                if let prefetch = try coordinator.run(["/bin/true"], directory: directory).prefetch { asked.append(prefetch) }
            }
            #expect(asked.isEmpty)
        }
    }
}

extension Integration {
    /// While every slot is busy and the recent runs are short, a result waits up to
    /// `--result-hold-ms` for the next ones, so one RESULT carries several; the last ones go when a slot
    /// frees. Nothing is left behind.
    @Suite struct ResultHold {
        @Test func resultsOfShortRunsShareMessagesAndNoneIsLeft() throws {
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let context = ZMQContext()
            defer { context.terminate() }
            // A long hold, so that on a loaded machine the runs still end well within it.
            let coordinator = try FakeCoordinator(context: context, directory: directory, name: "holding",
                                                  agentArguments: ["--result-hold-ms", "100"])
            defer { coordinator.close() }
            _ = try coordinator.hello()
            try coordinator.welcome("holding")
            // Until the agent counts its runs as short (it then asks for more prefetch).
            var shortRuns = 0
            while shortRuns < 200, try coordinator.run(["/bin/true"], directory: directory).prefetch == nil {
                shortRuns += 1
            }
            #expect(shortRuns < 200, "the runs never counted as short")

            // Twelve short runs at once through two slots: most results wait for the next ones and go
            // together; the last go when a slot frees. Without the hold, each reap sends what it has (one,
            // now and then two). A run over 10 ms on a loaded machine ends the hold until 8 short ones
            // again, so up to five batches are tried.
            var batches: [[Int]] = []
            for batch in 1...5 {
                let jobs = (1...12).map { FakeCoordinator.job("b\(batch)-\($0)", ["/bin/true"], directory: directory) }
                try coordinator.send(.jobs(JobsMessage(jobs: jobs)))
                var sizes: [Int] = []
                var reported: [String] = []
                while reported.count < jobs.count {
                    let message = try coordinator.results()
                    sizes.append(message.results.count)
                    reported += message.results.map(\.jobID)
                }
                #expect(reported.sorted() == jobs.map(\.jobID).sorted(), "every result comes, once")
                try coordinator.send(.ack(AckMessage(runs: jobs.map { RunRef(jobID: $0.jobID, attempt: 1) })))
                batches.append(sizes)
                if sizes.max()! >= 6 { break }
            }
            #expect(batches.last!.max()! >= 6, "results per RESULT: \(batches)")
        }
    }
}

/// A fake coordinator (a ROUTER in this process) for one real `proc-agent` with 2 slots; `close` ends the
/// agent by PID.
final class FakeCoordinator {
    let peer: RawCoordinator
    let agent: TestProcess
    var number = 0

    init(context: ZMQContext, directory: String, name: String, agentArguments: [String] = []) throws {
        peer = try RawCoordinator(context: context)
        agent = try TestProcess(binary("proc-agent"), [
            "join", "127.0.0.1:\(peer.port)", "--name", name, "--slots", "2", "--data-dir", directory + "/agent",
        ] + agentArguments, directory: directory)
    }

    func close() {
        agent.terminate()
        peer.close()
    }

    /// The agent's next `wanted` message (others are dropped).
    func receive(_ wanted: Wire.AgentCommand) throws -> AgentMessage {
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if let message = try peer.receive(timeoutMilliseconds: 1_000), message.command == wanted { return message }
        }
        throw TestError("no \(wanted.rawValue) from the agent: \(agent.stderr)")
    }

    func hello() throws -> Hello {
        guard case .hello(let hello) = try receive(.hello) else { throw TestError("not a HELLO") }
        return hello
    }

    func results() throws -> ResultsMessage {
        guard case .results(let results) = try receive(.result) else { throw TestError("not a RESULT") }
        return results
    }

    func send(_ message: CoordinatorMessage) throws { try peer.send(message) }

    func welcome(_ name: String, takesReturns: Bool = false) throws {
        try send(.welcome(Welcome(agentID: name, heartbeatMilliseconds: 1000, liveness: 5,
                                  takesReturns: takesReturns ? true : nil)))
    }

    /// Every message of the agent, in order, up to and with the first `last`.
    func collect(until last: Wire.AgentCommand, timeout: Double = 20) throws -> [AgentMessage] {
        var messages: [AgentMessage] = []
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            guard let message = try peer.receive(timeoutMilliseconds: 1_000) else { continue }
            messages.append(message)
            if message.command == last { return messages }
        }
        throw TestError("no \(last.rawValue) from the agent; got \(messages.map(\.command.rawValue)): \(agent.stderr)")
    }

    static func job(_ id: String, _ argv: [String], directory: String) -> Assignment {
        Assignment(jobID: id, attempt: 1, argv: argv, env: nil, cwd: directory, timeout: 10, queue: "default",
                   killGraceMilliseconds: 100)
    }

    /// Runs `argv` as the next job and returns the RESULT that reports it, ACKed.
    func run(_ argv: [String], directory: String) throws -> ResultsMessage {
        number += 1
        try send(.jobs(JobsMessage(jobs: [Self.job("p\(number)", argv, directory: directory)])))
        let message = try results()
        try send(.ack(AckMessage(runs: message.results.map { RunRef(jobID: $0.jobID, attempt: $0.attempt) })))
        return message
    }
}

extension AgentMessage {
    /// The runs a RETURN gives back, the results a RESULT reports (else empty).
    var returnedRuns: [RunRef] { if case .returned(let message) = self { message.runs } else { [] } }
    var reportedResults: [RunResult] { if case .results(let message) = self { message.results } else { [] } }
}
