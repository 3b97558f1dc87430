import Foundation
import Glibc
import ProcCore
import ProcTestSupport
import Testing
import ZeroMQ

extension Integration {
    /// Thousands of random and mutated messages, built from valid ones, at a
    /// running coordinator and at a running agent. Both must go on serving a normal batch correctly, with
    /// bounded memory. PROC_FUZZ_MESSAGES sets the count (longer runs by hand), PROC_FUZZ_SEED replays a run.
    @Suite struct Fuzz {
        static let clientProtocol = "PROC-CLIENT/1", agentProtocol = "PROC-AGENT/1"

        /// Valid coordinator-bound messages, from the generated types: every client request and every agent
        /// message.
        static func coordinatorTemplates(directory: String) -> [[Frame]] {
            let id: Frame = [0, 0, 0, 0, 0, 0, 0, 1]
            let job = JobSpec(argv: ["/bin/true"], env: ["A": "b"], cwd: directory, queue: "fuzz", priority: 1, timeout: 5,
                              retries: 1, labels: ["fuzz-only": "1"], name: "f")
            let call = JobSpec(function: "square", args: .object(["x": .int(3)]), queue: "fuzz", labels: ["fuzz-only": "1"])
            func hello(_ name: String, acksInJobs: Bool?) -> AgentMessage {
                .hello(Hello(name: name, hostname: "h", slots: 1, labels: [:], pid: 1, version: "1", running: [],
                             acksInJobs: acksInJobs))
            }
            let result = RunResult(jobID: "j1", attempt: 1, status: .completed, exitCode: 0, startedAt: 1, finishedAt: 2)
            return [
                WireFrames.request(.info, id: id, Empty()),
                WireFrames.request(.submit, id: id, SubmitRequest(jobs: [job, job, call])),
                WireFrames.request(.status, id: id, StatusRequest(ids: ["j1"], queue: "fuzz", limit: 5)),
                WireFrames.request(.result, id: id, ResultRequest(id: "j1")),
                WireFrames.request(.wait, id: id, WaitRequest(ids: ["j1"], timeoutMilliseconds: 0)),
                WireFrames.request(.cancel, id: id, CancelRequest(ids: ["j999999"])),
                WireFrames.request(.agents, id: id, Empty()),
                WireFrames.request(.queue, id: id, QueueRequest(name: "fuzz", maxRunning: 2)),
                WireFrames.request(.replay, id: id, ReplayRequest(fromSeq: 1, limit: 10)),
                hello("fuzz-agent", acksInJobs: nil).frames,
                hello("fuzz-acks", acksInJobs: true).frames,
                AgentMessage.results(ResultsMessage(results: [result])).frames,
                AgentMessage.progress(ProgressReport(jobID: "j1", attempt: 1, progress: 0.5, message: "m")).frames,
                AgentMessage.returned(ReturnMessage(runs: [RunRef(jobID: "j1", attempt: 1)], stopping: true)).frames,
                AgentMessage.heartbeat.frames,
                AgentMessage.bye.frames,
            ]
        }

        @Test func theCoordinatorSurvivesHostileMessages() async throws {
            let (count, seed) = fuzzSettings(ciDefault: 20_000)
            print("fuzz: coordinator, \(count) messages, PROC_FUZZ_SEED=\(seed)")
            let cluster = try TestCluster(agents: [["--name", "a1", "--slots", "2"]])
            defer { cluster.stop() }
            try Self.checkBatch(cluster, size: 30, tag: "before")

            let context = ZMQContext()
            defer { context.terminate() }
            let dealer = try ZMQSocket(context: context, type: .dealer)
            defer { dealer.close() }
            dealer.setOption(ZMQ_SNDHWM, 0)
            try dealer.connect("tcp://\(cluster.control)")
            var fuzzer = Fuzzer(
                seed: seed, templates: Self.coordinatorTemplates(directory: cluster.directory),
                commands: Wire.ClientCommand.allCases.map(\.rawValue) + Wire.AgentCommand.allCases.map(\.rawValue)
                    + ["", "NOPE", "info", String(repeating: "S", count: 300)],
                protocols: [Self.clientProtocol, Self.agentProtocol, "PROC-CLIENT/2", "PROC-AGENT/0", "", "PROC-CLIENT/1\u{0}"])

            // Requests get ids of their own, so the bytes of each SUBMIT the coordinator accepted are known:
            // the jobs it holds may take memory, nothing else may.
            var sentBodies: [UInt64: Int] = [:]
            var nextID: UInt64 = 1
            var acceptedBytes = 0
            // Answers INFO (so everything sent before it was handled), draining other replies on the way.
            var syncNumber: UInt64 = 1 << 40
            func sync() throws -> InfoReply? {
                syncNumber += 1
                let id = withUnsafeBytes(of: syncNumber.bigEndian) { Array($0) }
                _ = try dealer.send([Array(Self.clientProtocol.utf8), Array("INFO".utf8), id, Array("{}".utf8)])
                let deadline = Date().addingTimeInterval(30)
                while Date() < deadline {
                    guard let reply = try dealer.receive(timeoutMilliseconds: 1_000) else { continue }
                    if reply.count == 4, reply[2] == id { return try? WireCoding.decode(InfoReply.self, from: reply[3]) }
                    if reply.count == 4, reply[1] == Array("SUBMIT".utf8), reply[2].count == 8 {
                        acceptedBytes += sentBodies.removeValue(forKey: reply[2].reduce(0) { $0 << 8 | UInt64($1) }) ?? 0
                    }
                }
                return nil
            }
            func drain() throws {
                while let reply = try dealer.receive() {
                    guard reply.count == 4, reply[2].count == 8 else { continue }
                    let id = reply[2].reduce(0) { $0 << 8 | UInt64($1) }
                    let size = sentBodies.removeValue(forKey: id)
                    if reply[1] == Array("SUBMIT".utf8) { acceptedBytes += size ?? 0 }
                }
            }
            func fuzz(_ n: Int) throws {
                for index in 0..<n {
                    var message = fuzzer.message()
                    if message.count >= 4, message[0] == Array(Self.clientProtocol.utf8), message[2].count == 8 {
                        nextID += 1
                        message[2] = withUnsafeBytes(of: nextID.bigEndian) { Array($0) }
                        sentBodies[nextID] = message[3].count
                    }
                    _ = try dealer.send(message)
                    try drain()
                    if index % 500 == 499 { #expect(try sync() != nil, "the coordinator stopped answering at \(index)") }
                }
            }

            try fuzz(1_000)  // warm-up: caches, the journal's pages
            #expect(try sync() != nil)
            let before = try #require(residentKiB(of: cluster.coordinator.pid))
            let (jobsBefore, acceptedBefore) = (try #require(try sync()).jobs, acceptedBytes)
            try fuzz(count)
            // Not ZMTP at all, on both ports: random bytes, an HTTP request, a greeting with a bad mechanism.
            let controlPort = Int(cluster.control.split(separator: ":").last!)!
            let eventsPort = Int(cluster.eventsEndpoint.split(separator: ":").last!)!
            for round in 0..<60 {
                let payload: [UInt8] = switch round % 3 {
                case 0: fuzzer.bytes(fuzzer.int(1..<4096))
                case 1: Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
                default: [0xFF] + [UInt8](repeating: 0, count: 8) + [1, 0x7F, 3, 0] + Array("EVIL".utf8) + [UInt8](repeating: 0, count: 60)
                }
                sendRawTCP(port: round % 2 == 0 ? controlPort : eventsPort, payload)
            }
            let info = try #require(try sync())
            let after = try #require(residentKiB(of: cluster.coordinator.pid), "the coordinator is gone")
            let rejected = info.rejected ?? [:]
            let accepted = (jobs: info.jobs - jobsBefore, kib: (acceptedBytes - acceptedBefore) / 1024)
            print("fuzz: coordinator RSS \(before) KiB before, \(after) KiB after \(count) messages; accepted \(accepted.jobs) "
                + "jobs in \(accepted.kib) KiB of requests; rejected \(rejected.values.reduce(0, +)) "
                + "\(rejected.sorted { $0.key < $1.key })")
            #expect(rejected.values.reduce(0, +) > count / 4)
            // The jobs it accepted stay in memory (history is kept), and answers about them (STATUS, REPLAY)
            // grow with them. Beyond that, memory must not grow with the number of messages.
            let allowance = 32 * 1024 + 8 * accepted.kib + 8 * accepted.jobs
            #expect(after - before < allowance, "RSS grew from \(before) to \(after) KiB (allowed: \(allowance))")
            #expect(cluster.coordinator.poll() == nil)

            // The fuzzer's HELLOs made fake agents: once its connection is gone they are declared lost.
            dealer.close()
            #expect(eventually(timeout: 30) {
                let agents = (try? cluster.proc("agents", "--json").stdout) ?? ""
                return agents.contains("\"a1\"") && !agents.contains("fuzz")
            })
            try Self.checkBatch(cluster, size: 100, tag: "after")
            // The log was rate-limited: far fewer lines than rejected messages.
            let lines = cluster.coordinator.stderr.split(separator: "\n").filter { $0.contains("rejected input") }.count
            #expect(lines < 200, "\(lines) log lines for the rejected messages")
        }

        /// A normal batch: every job completes, with its own output.
        static func checkBatch(_ cluster: TestCluster, size: Int, tag: String) throws {
            let batch = (1...size).map { #"{"argv": ["sh", "-c", "echo \#(tag)-\#($0)"], "queue": "check"}"# }
                .joined(separator: "\n")
            let submitted = try cluster.proc("submit", "--batch", "-", stdin: batch + "\n")
            #expect(submitted.code == 0, "\(submitted.stderr)")
            let ids = submitted.stdout.split(separator: "\n").map(String.init)
            #expect(ids.count == size)
            let wait = try cluster.procArgs(["wait"] + ids, timeout: 120)
            #expect(wait.code == 0, "\(wait.stdout) \(wait.stderr)")
            for index in [0, size / 2, size - 1] {
                let result = try cluster.proc("result", ids[index], "--json")
                let reply = try JSONDecoder().decode(ResultReply.self, from: Data(result.stdout.utf8))
                #expect(reply.job.status == .completed && reply.stdout == "\(tag)-\(index + 1)\n")
            }
        }

        /// The agent's side: a fake coordinator (a ROUTER in this test) welcomes a real proc-agent, then
        /// throws mutated WELCOME, JOBS, CANCEL, ACK, HEARTBEAT and RECONNECT messages at it.
        @Test func theAgentSurvivesHostileMessages() async throws {
            let (count, seed) = fuzzSettings(ciDefault: 10_000)
            print("fuzz: agent, \(count) messages, PROC_FUZZ_SEED=\(seed)")
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let context = ZMQContext()
            defer { context.terminate() }
            let router = try ZMQSocket(context: context, type: .router)
            defer { router.close() }
            router.setOption(ZMQ_SNDHWM, 0)
            try router.bind("tcp://127.0.0.1:*")
            let port = router.lastEndpoint.split(separator: ":").last!
            let agent = try TestProcess(binary("proc-agent"), [
                "join", "127.0.0.1:\(port)", "--name", "fz", "--slots", "2", "--data-dir", directory + "/agent",
                "--reconnect-max", "0.2",
            ], directory: directory)
            defer { agent.terminate() }

            let proto = Wire.agentProtocolBytes
            let welcome = CoordinatorMessage.welcome(Welcome(agentID: "fz", heartbeatMilliseconds: 1000, liveness: 3)).frames
            var route: Frame?
            var results: [String: RunResult] = [:]
            // Reads what the agent sent: welcomes each HELLO (a reconnect brings a new route), acks results.
            func pump(wait milliseconds: Int = 0) throws {
                var first = true
                while let message = first ? try router.receive(timeoutMilliseconds: milliseconds) : try router.receive() {
                    first = false
                    guard message.count == 4, message[1] == proto else { continue }
                    switch String(decoding: message[2], as: UTF8.self) {
                    case "HELLO":
                        route = message[0]
                        _ = try router.send([message[0]] + welcome)
                    case "RESULT":
                        guard let batch = try? WireCoding.decode(ResultsMessage.self, from: message[3]) else { continue }
                        for result in batch.results { results[result.jobID] = result }
                        let ack = AckMessage(runs: batch.results.map { RunRef(jobID: $0.jobID, attempt: $0.attempt) })
                        _ = try router.send([message[0], proto, Array("ACK".utf8), WireCoding.bytes(ack)])
                    default:
                        continue
                    }
                }
            }
            #expect(eventually(timeout: 20) { (try? pump(wait: 200)) != nil && route != nil }, "no HELLO: \(agent.stderr)")

            let job = Assignment(jobID: "fz-1", attempt: 1, argv: ["/bin/true"], cwd: directory, timeout: 5, queue: "fuzz",
                                 killGraceMilliseconds: 100)
            let run = RunRef(jobID: "fz-1", attempt: 1)
            var fuzzer = Fuzzer(
                seed: seed,
                templates: [
                    welcome,
                    CoordinatorMessage.jobs(JobsMessage(jobs: [job])).frames,
                    CoordinatorMessage.jobs(JobsMessage(jobs: [job], acks: [run])).frames,
                    CoordinatorMessage.cancel(CancelRun(jobID: "fz-1", attempt: 1, graceMilliseconds: 100)).frames,
                    CoordinatorMessage.ack(AckMessage(runs: [run])).frames,
                    CoordinatorMessage.heartbeat.frames,
                    CoordinatorMessage.reconnect.frames,
                ],
                // Not REPLACED or REFUSED: those stop an agent on purpose.
                commands: ["WELCOME", "JOBS", "CANCEL", "ACK", "HEARTBEAT", "RECONNECT", "HELLO", "RESULT", "PROGRESS",
                           "BYE", "", "NOPE"],
                protocols: [Self.agentProtocol, "PROC-AGENT/2", Self.clientProtocol, ""])
            func fuzz(_ n: Int) throws {
                for index in 0..<n {
                    if let route { _ = try router.send([route] + fuzzer.message()) }
                    if index % 100 == 99 {
                        if let route { _ = try router.send([route] + welcome) }  // undo odd heartbeat settings
                        try pump(wait: 5)
                    }
                }
                try pump(wait: 200)
            }
            try fuzz(500)
            let before = try #require(residentKiB(of: agent.pid), "the agent is gone: \(agent.stderr)")
            try fuzz(count)
            let after = try #require(residentKiB(of: agent.pid), "the agent is gone: \(agent.stderr)")

            // Still a working agent: a normal batch, each job with its own output.
            results.removeAll()
            let jobs = CoordinatorMessage.jobs(JobsMessage(jobs: (1...20).map {
                Assignment(jobID: "final-\($0)", attempt: 1, argv: ["sh", "-c", "echo ok-$PROC_JOB_ID"], cwd: directory,
                           queue: "check")
            })).frames
            #expect(eventually(timeout: 30) {
                if let route {
                    _ = try? router.send([route] + welcome)
                    _ = try? router.send([route] + jobs)
                }
                try? pump(wait: 500)
                return (1...20).allSatisfy { results["final-\($0)"] != nil }
            }, "the agent did not run the batch: \(agent.stderr.suffix(2000))")
            for index in 1...20 {
                let result = results["final-\(index)"]
                #expect(result?.status == .completed && result?.output.stdout == "ok-final-\(index)\n")
            }
            print("fuzz: agent RSS \(before) KiB before, \(after) KiB after \(count) messages")
            #expect(after - before < 64 * 1024, "RSS grew from \(before) to \(after) KiB")
            #expect(agent.poll() == nil)
            #expect(agent.stderr.contains("dropped a message from the coordinator"))
        }
    }
}
