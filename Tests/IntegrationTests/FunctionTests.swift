import Foundation
import Glibc
import Proc
import ProcClient
import ProcCore
import Testing

// The example host's functions as this test program knows them: by name and by their Codable types only
// (their code runs in proc-example-functions, never here).
struct Square: ProcFunction {
    struct Input: Codable, Sendable { var x: Int }
    struct Output: Codable, Sendable, Equatable { var square: Int }
    static let name = "square"
    func run(_ input: Input, context: FunctionContext) async throws -> Output { fatalError("runs in its host") }
}

struct Fail: ProcFunction {
    struct Input: Codable, Sendable { var message: String? }
    static let name = "fail"
    func run(_ input: Input, context: FunctionContext) async throws -> [String: Int] { fatalError("runs in its host") }
}

struct Crash: ProcFunction {
    struct Input: Codable, Sendable { var how: String? }
    static let name = "crash"
    func run(_ input: Input, context: FunctionContext) async throws -> Int { fatalError("runs in its host") }
}

struct Sleep: ProcFunction {
    struct Input: Codable, Sendable { var seconds: Double }
    static let name = "sleep"
    func run(_ input: Input, context: FunctionContext) async throws -> Double { fatalError("runs in its host") }
}

struct Steps: ProcFunction {
    struct Input: Codable, Sendable { var steps: Int; var pauseMilliseconds: Int? }
    static let name = "progress"
    func run(_ input: Input, context: FunctionContext) async throws -> Int { fatalError("runs in its host") }
}

struct Whoami: ProcFunction {
    struct Input: Codable, Sendable {}
    struct Output: Codable, Sendable, Equatable { var pid: Int32; var calls: Int }
    static let name = "whoami"
    func run(_ input: Input, context: FunctionContext) async throws -> Output { fatalError("runs in its host") }
}

let exampleFunctions = binary("proc-example-functions")

extension Integration {
    /// Functions as jobs (issue 20): a real host executable (proc-example-functions) in warm processes,
    /// each outcome seen through the CLI, the Swift API and a Python subscriber.
    @Suite struct Functions {
        /// `proc result --json` of a job.
        func result(_ cluster: TestCluster, _ id: String) throws -> ResultReply {
            let shown = try cluster.proc("result", id, "--json")
            guard shown.code == 0 else { throw TestError("proc result \(id): \(shown.stderr)") }
            return try JSONDecoder().decode(ResultReply.self, from: Data(shown.stdout.utf8))
        }

        func status(_ cluster: TestCluster, _ ids: [String]) throws -> StatusReply {
            let shown = try cluster.procArgs(["status", "--json"] + ids)
            guard shown.code == 0 else { throw TestError("proc status: \(shown.stderr)") }
            return try JSONDecoder().decode(StatusReply.self, from: Data(shown.stdout.utf8))
        }

        @Test(.enabled(if: PythonSubscriber.available, "needs python3-zmq"))
        func everyOutcomeThroughTheCLIAndAPythonSubscriber() async throws {
            let cluster = try TestCluster(standaloneSlots: 2, coordinatorArguments: [
                "--functions", exampleFunctions, "--kill-grace", "1"])
            defer { cluster.stop() }
            #expect(cluster.coordinator.stdout.contains("functions=square,pair,fail,crash,sleep,progress,echo,whoami"))
            let subscriber = try PythonSubscriber(endpoint: cluster.eventsEndpoint, directory: cluster.directory)
            defer { subscriber.stop() }
            #expect(try subscriber.waitUntilLive(cluster))

            let square = try cluster.submit("--function", "square", "--args", #"{"x": 7}"#)
            let thrown = try cluster.submit("--function", "fail", "--args", #"{"message": "boom"}"#)
            let crashed = try cluster.submit("--function", "crash")
            let badArgs = try cluster.submit("--function", "square", "--args", #"{"x": "seven"}"#)
            let stepping = try cluster.submit("--function", "progress", "--args", #"{"steps": 3}"#)
            let timedOut = try cluster.submit("--function", "sleep", "--args", #"{"seconds": 30}"#, "--timeout", "0.3")
            let ended = [square, thrown, crashed, badArgs, stepping, timedOut]
            #expect(try cluster.procArgs(["wait"] + ended + ["--timeout", "60"]).code == 1, "some end in error")

            let completed = try result(cluster, square)
            #expect(completed.job.status == .completed && completed.job.result == .object(["square": .int(49)]))
            #expect(completed.job.spec.function == "square" && completed.job.spec.argv.isEmpty)
            let threw = try result(cluster, thrown).job
            #expect(threw.status == .error && threw.reason == .thrown)
            #expect(threw.errorType == "ExampleError" && threw.message == "boom")
            let crash = try result(cluster, crashed)
            #expect(crash.job.status == .error && crash.job.reason == .crashed)
            #expect(crash.job.signal == SIGILL || crash.job.signal == SIGTRAP, "a trap: \(crash.job.message ?? "")")
            #expect(crash.stderr?.contains("crashed as asked") == true, "the host's stderr is the call's")
            let decoding = try result(cluster, badArgs).job
            #expect(decoding.reason == .thrown && decoding.errorType == "DecodingError")
            #expect(decoding.message?.contains("args.x") == true, "\(decoding.message ?? "")")
            #expect(try result(cluster, stepping).job.result == .int(3))
            let timeout = try result(cluster, timedOut).job
            #expect(timeout.status == .error && timeout.reason == .timeout)

            // Cancel: once the call reports it is sleeping (it runs), not before.
            let sleeper = try cluster.submit("--function", "sleep", "--args", #"{"seconds": 30}"#)
            #expect(eventually(timeout: 20) { (try? status(cluster, [sleeper]).jobs.first?.progress) != nil })
            #expect(try cluster.proc("cancel", sleeper).code == 0)
            #expect(try cluster.proc("wait", sleeper, "--timeout", "30").code == 1)
            #expect(try result(cluster, sleeper).job.status == .cancelled)

            // After the crash, the timeout and the cancel, fresh hosts serve: the slots are not dead.
            let after = try cluster.submit("--function", "square", "--args", #"{"x": 3}"#, "--wait")
            #expect(try result(cluster, after).job.result == .object(["square": .int(9)]))

            // A function no agent offers waits, and says why.
            let nobody = try cluster.submit("--function", "resize")
            let waiting = try status(cluster, [nobody]).jobs.first
            #expect(waiting?.status == .pending && waiting?.function == "resize")
            #expect(waiting?.waiting?.contains("no agent offers function 'resize'") == true)
            #expect(try result(cluster, nobody).waiting == waiting?.waiting)
            #expect(try cluster.proc("status", nobody).stdout.contains("\(nobody) waits: no agent offers function 'resize'"))

            // The Python subscriber saw the same: functions named, results, thrown errors, crashes, progress.
            let all = ended + [sleeper, after]
            #expect(subscriber.waitForFinals(all), "\(subscriber.process.stdout.suffix(2_000))")
            let events = subscriber.events
            func final(_ id: String) -> Event? { events.last { $0.jobID == id && $0.status?.isFinal == true } }
            #expect(events.first { $0.jobID == square && $0.type == .jobSubmitted }?.function == "square")
            #expect(events.first { $0.jobID == square && $0.type == .jobSubmitted }?.command == nil)
            #expect(final(square)?.result == .object(["square": .int(49)]))
            #expect(final(thrown)?.errorType == "ExampleError" && final(thrown)?.reason == "thrown")
            #expect(final(crashed)?.reason == "crashed")
            #expect(final(sleeper)?.type == .jobCancelled)
            #expect(events.filter { $0.jobID == stepping && $0.type == .jobProgress }.count == 3)
        }

        @Test func aHostThatCrashesOnEveryTenthCallLosesNothing() async throws {
            let cluster = try TestCluster(standaloneSlots: 2, coordinatorArguments: ["--functions", exampleFunctions])
            defer { cluster.stop() }
            let batch = (0..<1_000).map { #"{"function": "crash", "args": {"every": 10, "i": \#($0)}}"# }
                .joined(separator: "\n")
            let ids = try cluster.proc("submit", "--batch", "-", stdin: batch).stdout.split(separator: "\n").map(String.init)
            #expect(ids.count == 1_000)
            let waited = try cluster.proc("wait", "-", stdin: ids.joined(separator: "\n"), timeout: 300)
            #expect(waited.code == 1 && waited.stdout.contains("completed 900") && waited.stdout.contains("error 100"),
                    "\(waited.stdout) \(waited.stderr)")
            let history = try await cluster.history()
            let figures = checkInvariants(history, jobs: ids, faults: 100)
            #expect(figures.completed == 900)
            let finals = history.filter { $0.status?.isFinal == true && ids.contains($0.jobID ?? "") }
            let crashes = finals.filter { $0.type == .jobFailed }
            #expect(crashes.count == 100 && crashes.allSatisfy { $0.reason == FailureReason.crashed.rawValue })
            // Call i crashes when i is a multiple of 10, else returns i.
            for (index, id) in ids.enumerated() {
                let end = finals.first { $0.jobID == id }
                if index % 10 == 0 {
                    #expect(end?.type == .jobFailed, "\(id)")
                } else {
                    #expect(end?.type == .jobCompleted && end?.result == .int(Int64(index)), "\(id)")
                }
            }
            // The agent is still there and both slots still serve.
            let pair = try cluster.proc("submit", "--batch", "-", stdin: """
                {"function": "square", "args": {"x": 4}}
                {"function": "square", "args": {"x": 5}}
                """).stdout.split(separator: "\n").map(String.init)
            #expect(try cluster.procArgs(["wait"] + pair + ["--timeout", "30"]).code == 0)
            #expect(try cluster.agentCount() == 1)
        }

        @Test func aFunctionRunsOnlyOnAnAgentThatOffersIt() async throws {
            let cluster = try TestCluster(agents: [
                ["--name", "with", "--slots", "2", "--functions", exampleFunctions],
                ["--name", "without", "--slots", "2"],
            ])
            defer { cluster.stop() }
            let batch = (0..<40).map { #"{"function": "square", "args": {"x": \#($0)}}"# }
                + (0..<10).map { _ in #"["true"]"# }
            let ids = try cluster.proc("submit", "--batch", "-", stdin: batch.joined(separator: "\n")).stdout
                .split(separator: "\n").map(String.init)
            #expect(try cluster.proc("wait", "-", stdin: ids.joined(separator: "\n"), timeout: 120).code == 0)
            let jobs = try status(cluster, ids).jobs
            #expect(jobs.prefix(40).allSatisfy { $0.agentID == "with" && $0.status == .completed })
            #expect(try result(cluster, ids[7]).job.result == .object(["square": .int(49)]))
            let agents = try JSONDecoder().decode([AgentInfo].self, from: Data(cluster.proc("agents", "--json").stdout.utf8))
            #expect(agents.first { $0.id == "with" }?.functions?.map(\.name).contains("square") == true)
            #expect(agents.first { $0.id == "without" }?.functions == nil)
        }

        @Test func killingAnAgentMidBatchEndsEveryCallOnce() async throws {
            let options = ["--slots", "3", "--functions", exampleFunctions, "--reconnect-max", "0.5"]
            let cluster = try TestCluster(agents: [options + ["--name", "a1"], options + ["--name", "a2"]])
            defer { cluster.stop() }
            let batch = Array(repeating: #"{"function": "sleep", "args": {"seconds": 0.1}}"#, count: 120).joined(separator: "\n")
            let ids = try cluster.proc("submit", "--batch", "-", stdin: batch).stdout.split(separator: "\n").map(String.init)
            #expect(ids.count == 120)
            #expect(eventually(timeout: 60) { cluster.completedCount() >= 24 })
            let killed = cluster.killAgent(0)
            let waited = try cluster.proc("wait", "-", stdin: ids.joined(separator: "\n"), timeout: 240)
            #expect(waited.code == 0, "\(waited.stdout) \(waited.stderr)")
            let history = try await cluster.history()
            let figures = checkInvariants(history, jobs: ids, faults: 1)
            #expect(figures.completed == 120)
            #expect(figures.retries >= 1, "a1's calls in flight ran again on a2")
            #expect(history.contains { $0.type == .agentLeft && $0.agentID == "a1" })
            print("fault: kill -9 one of two function agents: \(figures) (killed pid \(killed.pid))")
        }

        /// Waits for `ids` and returns those that did not complete with what `right` expects of them.
        func completedCalls(
            _ cluster: ProcCluster, _ ids: [JobID], right: (Int, JobID, ResultReply) -> Bool
        ) async throws -> [String] {
            _ = try await cluster.client.wait(ids, timeout: 60)
            var wrong: [String] = []
            for (index, id) in ids.enumerated() {
                let reply = try await cluster.client.result(id)
                if reply.job.status != .completed || !right(index, id, reply) {
                    wrong.append("\(id): \(reply.job.status) stdout \(reply.stdout ?? "nil") stderr \(reply.stderr ?? "nil")")
                }
            }
            return wrong
        }

        /// Calls written ahead run back to back in one host and print into the same two pipes: each call's
        /// output is its own (the host marks where each ends), also for a call whose host crashes right after.
        @Test func eachCallWrittenAheadKeepsItsOwnOutput() async throws {
            let cluster = try await ProcCluster.standalone(slots: 1, functionHosts: [exampleFunctions])
            let texts = (0..<300).map { "call-\($0)" }
            var specs = try texts.map { JobSpec(function: "echo", args: try JSONValueEncoder().encode(["text": $0])) }
            specs.append(JobSpec(function: "crash", args: .object(["how": .string("trap")])))
            let ids = try await cluster.client.submit(specs)
            let wrong = try await completedCalls(cluster, Array(ids.dropLast())) { index, _, reply in
                reply.stdout == texts[index] + "\n" && reply.stderr == "stderr: \(texts[index])\n"
            }
            #expect(wrong.count == 0, "\(wrong.count) of 300 calls with output not their own: \(wrong.prefix(3))")
            _ = try await cluster.client.wait([ids.last!], timeout: 60)
            let crashed = try await cluster.client.result(ids.last!)
            #expect(crashed.job.reason == .crashed && crashed.stderr?.contains("crashed as asked") == true)
            #expect(crashed.stdout == "", "nothing of the echo calls before it")
            await cluster.shutdown()
        }

        /// A host in another language (here sh) that does not mark its output gets each call only once the
        /// one before is answered, so each call's output is still its own.
        @Test func aHostWithoutOutputMarksGetsNoCallsAhead() async throws {
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let host = directory + "/shout-host"
            try #"""
                #!/bin/sh
                if [ "$1" = --proc-describe ]; then echo '{"protocol": 1, "functions": ["shout"]}'; exit 0; fi
                [ -z "$PROC_OUTPUT_MARKS" ] || { echo "asked for marks it never offered" >&2; exit 9; }
                while read -r line; do
                    id=${line#*'"job_id":"'}; id=${id%%'"'*}
                    echo "$id"
                    echo '{"done": true, "result": "'"$id"'"}' >&3
                done
                """#.write(toFile: host, atomically: true, encoding: .utf8)
            chmod(host, 0o755)
            let cluster = try await ProcCluster.standalone(slots: 1, functionHosts: [host])
            let ids = try await cluster.client.submit((0..<40).map { _ in JobSpec(function: "shout", args: .object([:])) })
            let wrong = try await completedCalls(cluster, ids) { _, id, reply in
                reply.stdout == id + "\n" && reply.job.result == .string(id)
            }
            #expect(wrong.count == 0, "\(wrong.count) of 40 calls with output not their own: \(wrong.prefix(3))")
            await cluster.shutdown()
        }

        /// A call waiting behind a long call on the agent is not bound to that call's host: cancelled, it ends
        /// at once, not when the long call does.
        @Test func aCallWaitingBehindALongOneIsCancelledAtOnce() async throws {
            let cluster = try await ProcCluster.standalone(slots: 1, functionHosts: [exampleFunctions])
            let running = Locked(false)
            let long = try cluster.createWorker(Sleep.self, args: .init(seconds: 30)) { _, status, payload in
                if status == .running, payload != nil { running.withLock { $0 = true } }
            }
            try await long.start()
            #expect(eventually(timeout: 20) { running.withLock { $0 } }, "the long call runs")
            let sent = Locked(false)
            let waiting = try cluster.createWorker(Square.self, args: .init(x: 5)) { _, status, _ in
                if status == .running { sent.withLock { $0 = true } }
            }
            try await waiting.start()
            #expect(eventually(timeout: 10) { sent.withLock { $0 } }, "the agent holds the second call (job.started)")
            #expect(try await cluster.client.agents().first?.running == 2)
            try await waiting.cancel()
            let cancelled = await #expect(throws: RemoteError.self) { try await waiting.join(timeout: 5) }
            #expect(cancelled?.status == .cancelled, "ended within 5 s, while the long call still runs")
            #expect(long.status == .running)
            try await long.cancel()
            _ = try? await long.join(timeout: 30)
            await cluster.shutdown()
        }

        @Test func warmHostsServeManyCallsAndAreRecycled() async throws {
            let cluster = try TestCluster(standaloneSlots: 1, coordinatorArguments: [
                "--functions", exampleFunctions, "--max-calls-per-host", "3"])
            defer { cluster.stop() }
            var seen: [(pid: Int64, calls: Int64)] = []
            for _ in 0..<4 {
                let id = try cluster.submit("--function", "whoami", "--wait")
                guard case .object(let object)? = try result(cluster, id).job.result,
                    case .int(let pid)? = object["pid"], case .int(let calls)? = object["calls"]
                else { throw TestError("whoami returned no pid") }
                seen.append((pid, calls))
            }
            #expect(seen.map(\.calls) == [1, 2, 3, 1], "three calls in one process, then a fresh one")
            #expect(seen[0].pid == seen[2].pid && seen[3].pid != seen[0].pid)
            let isolated = try cluster.submit("--function", "whoami", "--isolated", "--wait")
            guard case .object(let object)? = try result(cluster, isolated).job.result, case .int(let pid)? = object["pid"]
            else { throw TestError("whoami returned no pid") }
            #expect(pid != seen[3].pid, "an isolated call has a process of its own")
        }

        @Test func misuseOfFunctionsIsRefusedWithAMessage() async throws {
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let missing = try run(binary("proc-agent"), ["join", "127.0.0.1:1", "--functions", directory + "/nope",
                                                         "--data-dir", directory + "/a"])
            #expect(missing.code == 64 && missing.stderr.contains("no such file"), "\(missing.stderr)")
            let notAHost = try run(binary("proc-coordinator"), [
                "start", "--standalone", "--functions", "/bin/true", "--listen", "tcp://127.0.0.1:*",
                "--events", "tcp://127.0.0.1:*", "--data-dir", directory + "/c"])
            #expect(notAHost.code == 1 && notAHost.stderr.contains("printed no host description"), "\(notAHost.stderr)")
            let noStandalone = try run(binary("proc-coordinator"), ["start", "--functions", exampleFunctions])
            #expect(noStandalone.code == 64 && noStandalone.stderr.contains("--functions needs --standalone"))
            let cluster = try TestCluster(standaloneSlots: 1, coordinatorArguments: ["--functions", exampleFunctions])
            defer { cluster.stop() }
            for (arguments, words) in [
                (["--function", "square", "--", "ls"], "not both"),
                (["--args", "{}", "--", "ls"], "--args goes with --function"),
                (["--function", "square", "--args", "{x"], "--args is not JSON"),
                (["--function", "a b"], "may hold only"),
                (["--function", "square", "--env", "A=1"], "isolated"),
            ] {
                let refused = try cluster.procArgs(["submit"] + arguments)
                #expect(refused.code == 64 && refused.stderr.contains(words), "\(arguments): \(refused.stderr)")
            }
            let line = try cluster.proc("submit", "--batch", "-", stdin: #"{"function": "square", "argss": {}}"#)
            #expect(line.code == 64 && line.stderr.contains("did you mean 'args'"), "\(line.stderr)")
        }

        @Test func theSwiftAPIReturnsTypedOutputsAndRemoteErrors() async throws {
            // Released by its deinit if a `try` below throws.
            let cluster = try await ProcCluster.standalone(slots: 2, functionHosts: [exampleFunctions])
            let seen = Locked<[WorkerStatus]>([])
            let square = try cluster.createWorker(Square.self, args: .init(x: 12)) { _, status, _ in
                seen.withLock { $0.append(status) }
            }
            try await square.start()
            #expect(try await square.join(timeout: 30) == Square.Output(square: 144))
            #expect(seen.withLock { $0.last } == .completed)
            #expect(try await square.result().1 == Square.Output(square: 144))

            let failing = try cluster.createWorker(Fail.self, args: .init(message: "no"))
            try await failing.start()
            let thrown = await #expect(throws: RemoteError.self) { try await failing.join(timeout: 30) }
            #expect(thrown?.reason == .thrown && thrown?.type == "ExampleError" && thrown?.message == "no")

            let crashing = try cluster.createWorker(Crash.self, args: .init(how: "exit"))
            try await crashing.start()
            let crash = await #expect(throws: RemoteError.self) { try await crashing.join(timeout: 30) }
            #expect(crash?.reason == .crashed && crash?.message.contains("exited with code 3") == true)

            // Cancel a call once its callback saw it running (its first progress), and a wait that times out.
            let running = Locked(false)
            let sleeper = try cluster.createWorker(Sleep.self, args: .init(seconds: 30)) { _, status, payload in
                if status == .running, payload != nil { running.withLock { $0 = true } }
            }
            try await sleeper.start()
            let waited = await #expect(throws: ProcClientError.self) { try await sleeper.join(timeout: 0.2) }
            #expect(waited?.code == .timedOut)
            #expect(eventually(timeout: 20) { running.withLock { $0 } })
            try await sleeper.cancel()
            let cancelled = await #expect(throws: RemoteError.self) { try await sleeper.join(timeout: 30) }
            #expect(cancelled?.status == .cancelled)

            // A queue of functions, and map: results come as calls end, each with its input's index.
            let queue = try await cluster.createQueue(maxWorkers: 2)
            let queued = try (0..<5).map { try cluster.createWorker(Square.self, args: .init(x: $0)) }
            for worker in queued { try await queue.submit(worker) }
            var outputs: [Int: Int] = [:]
            for try await outcome in queue.map(Square.self, (0..<200).map { .init(x: $0) }, batchSize: 64) {
                outputs[outcome.index] = try outcome.get().square
            }
            #expect(outputs.count == 200 && outputs.allSatisfy { $0.value == $0.key * $0.key })
            try await queue.shutdown(wait: true, timeout: 60)
            for (x, worker) in queued.enumerated() { #expect(try await worker.join(timeout: 10).square == x * x) }
            await cluster.shutdown()
        }
    }
}
