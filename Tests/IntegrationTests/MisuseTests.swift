import Foundation
import Glibc
import Proc
import ProcClient
import ProcCore
import Testing
import ZeroMQ

extension Integration {
    /// Issue 21: ordinary mistakes and bad values get a clear error (or the right result), never a crash,
    /// never lost work. Each line of the issue has its test here.
    @Suite struct Misuse {
        /// `arguments` to `binary` exit with `code` (never by a signal), saying `words` on stderr.
        func expectRefusal(_ binary: String, _ arguments: [String], code: Int32 = 64, says words: String,
                           environment: [String: String] = [:], sourceLocation: SourceLocation = #_sourceLocation) throws {
            let result = try run(binary, arguments, environment: environment, timeout: 30)
            #expect(result.code == code, "\(arguments): exit \(result.code): \(result.stderr.prefix(400))",
                    sourceLocation: sourceLocation)
            #expect(result.stderr.contains(words), "\(arguments): \(result.stderr.prefix(400))", sourceLocation: sourceLocation)
            #expect(!result.stderr.contains("Fatal error") && !result.stderr.contains("NSCocoaErrorDomain"),
                    "\(arguments): \(result.stderr.prefix(400))", sourceLocation: sourceLocation)
        }

        // MARK: a data directory has one owner

        @Test func aSecondCoordinatorOnTheDataDirectoryIsRefused() async throws {
            let cluster = try TestCluster(standaloneSlots: 2)
            defer { cluster.stop() }
            let ids = try cluster.proc("submit", "--batch", "-", stdin: faultBatch(count: 20, sleep: "0.1"))
                .stdout.split(separator: "\n").map(String.init)
            #expect(ids.count == 20)
            let second = try run(binary("proc-coordinator"), [
                "start", "--standalone", "--listen", "tcp://127.0.0.1:*", "--events", "tcp://127.0.0.1:*",
                "--data-dir", cluster.directory + "/data",
            ], timeout: 30)
            #expect(second.code == 2, "\(second.stderr)")
            #expect(second.stderr.contains("is in use by process \(cluster.coordinator.pid) (proc-coordinator)"),
                    "\(second.stderr)")
            // The first runs on: every job ends once, nothing is lost, the journal is whole.
            let waited = try cluster.proc("wait", "-", stdin: ids.joined(separator: "\n"), timeout: 120)
            #expect(waited.code == 0, "\(waited.stdout) \(waited.stderr)")
            let figures = checkInvariants(try await cluster.history(), jobs: ids, faults: 1)
            #expect(figures.completed == 20)
            #expect(cluster.coordinator.poll() == nil)
        }

        @Test func aSecondAgentOnTheDataDirectoryIsRefused() async throws {
            let cluster = try TestCluster(agents: [["--name", "a1", "--slots", "2"]])
            defer { cluster.stop() }
            let ids = try cluster.proc("submit", "--batch", "-", stdin: faultBatch(count: 12, sleep: "0.3"))
                .stdout.split(separator: "\n").map(String.init)
            // While a1 runs jobs, another agent (another name) on a1's directory must not touch its runs.
            #expect(eventually(timeout: 30) { ((try? cluster.procJSON(StatusReply.self, "status").counts["running"]) ?? 0) > 0 })
            let second = try run(binary("proc-agent"), [
                "join", cluster.control, "--name", "a2", "--data-dir", cluster.directory + "/agent-1",
            ], timeout: 30)
            #expect(second.code == 2, "\(second.stderr)")
            #expect(second.stderr.contains("is in use by process \(cluster.agents[0].pid) (proc-agent)"), "\(second.stderr)")
            let waited = try cluster.proc("wait", "-", stdin: ids.joined(separator: "\n"), timeout: 120)
            #expect(waited.code == 0, "\(waited.stdout) \(waited.stderr)")
            let history = try await cluster.history()
            let figures = checkInvariants(history, jobs: ids, faults: 1)
            #expect(figures.completed == 12 && figures.retries == 0, "\(figures)")
            #expect(!history.contains { $0.type == .agentJoined && $0.agentID == "a2" })
        }

        // MARK: numbers

        @Test func hugeSlotsAreRefusedByTheAgentAndByTheCoordinator() throws {
            try expectRefusal(binary("proc-agent"), ["join", "127.0.0.1", "--slots", "9223372036854775807"],
                              says: "--slots must be between 1 and 10000")
            try expectRefusal(binary("proc-coordinator"), ["start", "--standalone", "--slots", "9223372036854775807"],
                              says: "--slots must be between 1 and 10000")
            // A hostile HELLO with such slots is dropped and counted; the coordinator keeps serving.
            let cluster = try TestCluster(standaloneSlots: 1)
            defer { cluster.stop() }
            let context = ZMQContext()
            defer { context.terminate() }
            let dealer = try ZMQSocket(context: context, type: .dealer)
            defer { dealer.close() }
            try dealer.connect("tcp://\(cluster.control)")
            let hello = #"{"name":"evil","hostname":"h","slots":9223372036854775807,"labels":{},"pid":1,"version":"1","running":[],"prefetch":9223372036854775807}"#
            try dealer.send([Array("PROC-AGENT/1".utf8), Array("HELLO".utf8), Array(hello.utf8)])
            #expect(try dealer.receive(timeoutMilliseconds: 1_000) == nil, "no WELCOME for it")
            let info = try cluster.proc("status", "--json")
            #expect(info.code == 0)
            let id = try cluster.submit("--", "true")
            #expect(try cluster.proc("wait", id).code == 0)
            #expect(cluster.coordinator.poll() == nil)
            #expect(!(try cluster.agentNames().contains { $0.contains("evil") }))
        }

        @Test(arguments: ["nan", "inf", "-inf", "1e30", "-1"])
        func floatingValuesThatDoNotFitAreUsageErrors(_ value: String) throws {
            let cases: [(String, [String], String)] = [
                ("proc", ["status", "--request-timeout", value], "--request-timeout"),
                ("proc", ["wait", "j1", "--timeout", value], "--timeout"),
                ("proc", ["submit", "--timeout=\(value)", "--", "true"], "--timeout"),
                ("proc-coordinator", ["start", "--kill-grace", value], "--kill-grace"),
                ("proc-coordinator", ["start", "--reconnect-grace", value], "--reconnect-grace"),
                ("proc-agent", ["join", "127.0.0.1", "--reconnect-max", value], "--reconnect-max"),
                ("proc-agent", ["join", "127.0.0.1", "--stop-grace", value], "--stop-grace"),
                ("check-proc", ["--timeout", value], "--timeout"),
            ]
            for (program, arguments, flag) in cases {
                try expectRefusal(binary(program), arguments, says: flag)
            }
        }

        @Test func valuesAcceptedSilentlyBeforeAreRefused() throws {
            try expectRefusal(binary("proc"), ["status", "--request-timeout=0"], says: "--request-timeout must be between")
            try expectRefusal(binary("proc"), ["status", "--request-timeout=-1"], says: "--request-timeout must be between")
            try expectRefusal(binary("proc"), ["status", "--limit=-1"], says: "--limit must be between 0 and 10000")
            try expectRefusal(binary("proc"), ["events", "--count=-1"], says: "--count must be at least 1")
            try expectRefusal(binary("proc"), ["status", "--log-level", "bogus"], says: "Unknown option '--log-level'")
            try expectRefusal(binary("proc-coordinator"), ["start", "--log-level", "bogus"],
                              says: "'bogus' is not a log level")
            try expectRefusal(binary("proc-agent"), ["join", "127.0.0.1"], says: "PROC_LOG_LEVEL 'loud' is not a log level",
                              environment: ["PROC_LOG_LEVEL": "loud"])
            try expectRefusal(binary("proc-agent"), ["join", "127.0.0.1", "--name", ""], says: "agent name cannot be empty")
            try expectRefusal(binary("proc-agent"), ["join", "127.0.0.1", "--name", "a/b"], says: "cannot contain '/'")
            try expectRefusal(binary("proc"), ["submit", "--queue", "a\nb", "--", "true"], says: "control character")
        }

        @Test func userInputTheClusterWouldRefuseIsRefusedAtSubmit() throws {
            let cluster = try TestCluster(standaloneSlots: 1)
            defer { cluster.stop() }
            let lines: [(String, String)] = [
                (#"{"argv": ["true"], "labels": {"": ""}}"#, "a label needs a name"),
                (#"{"argv": ["true"], "timout": 5}"#, "unknown key 'timout'; did you mean 'timeout'?"),
                (#"{"argv": ["true"], "queue": "a\nb"}"#, "queue name contains a control character"),
                (#"{"argv": ["true"], "name": "x\u0007"}"#, "job name contains a control character"),
                (#"{"argv": ["true"], "priority": 99999999999}"#, "priority: must be between"),
                (#"{"argv": ["true"], "cwd": "a\u0000b"}"#, "NUL byte"),
            ]
            for (line, words) in lines {
                let result = try cluster.proc("submit", "--batch", "-", stdin: line + "\n")
                #expect(result.code == 64, "\(line): \(result.code) \(result.stderr)")
                #expect(result.stderr.contains(words), "\(line): \(result.stderr)")
            }
            // Nothing of those reached the coordinator.
            let status = try cluster.proc("status", "--json")
            let reply = try JSONDecoder().decode(StatusReply.self, from: Data(status.stdout.utf8))
            #expect(reply.jobs.isEmpty)
            // An empty `proc wait -` has nothing to wait for: an error, not success.
            let empty = try cluster.proc("wait", "-", stdin: "\n\n")
            #expect(empty.code == 64 && empty.stderr.contains("no job ids on stdin"), "\(empty.stderr)")
        }

        // MARK: addresses

        @Test func addressesThatAreNotAddressesAreRefused() throws {
            for address in ["é🙂", "a b", "*", ",", "127.0.0.1:1,127.0.0.1:2", "host:0", "[::1"] {
                try expectRefusal(binary("proc"), ["status", "--coordinator", address], says: "--coordinator")
                try expectRefusal(binary("proc-agent"), ["join", address],
                                  says: address == "," ? "comma" : "coordinator address '\(address)'")
            }
            try expectRefusal(binary("proc"), ["agents"], says: "PROC_COORDINATOR: bad coordinator address 'é'",
                              environment: ["PROC_COORDINATOR": "é"])
            try expectRefusal(binary("proc"), ["status", "--coordinator", "127.0.0.1:1,127.0.0.1:2"],
                              says: "a list of 2 addresses")
            try expectRefusal(binary("proc-coordinator"), ["start", "--listen", "tcp://127.0.0.1:99999"],
                              says: "bad port in --listen 'tcp://127.0.0.1:99999'")
            try expectRefusal(binary("proc-coordinator"), ["start", "--events", "tcp://a b:1"], says: "--events")
        }

        /// A library releases what it holds in `deinit`; it never traps because `close()` was not called.
        @Test func releasedClientsAndClustersCleanUp() async throws {
            #expect(throws: ProcClientError.self) { try ProcClient(coordinator: "127.0.0.1:1,127.0.0.1:2") }
            #expect(throws: ProcClientError.self) { try ProcClient(coordinator: "é🙂") }
            do {
                let client = try ProcClient(coordinator: "127.0.0.1:1", requestTimeout: 0.2)
                await #expect(throws: ProcClientError.self) { try await client.info() }
                // Released here without close().
            }
            do {
                let cluster = try await ProcCluster.standalone(slots: 1)
                let worker = cluster.createWorker(command: ["true"])
                try await worker.start()
                #expect(try await worker.join().0 == .completed)
                // Released here without shutdown(), and so is the worker that holds it.
            }
            await #expect(throws: ProcClientError.self) {
                let cluster = try await ProcCluster.standalone(slots: 1)
                _ = try await cluster.createQueue(maxWorkers: 0)
            }
        }

        // MARK: pagination, ports, arguments, errors in words

        /// Pages of REPLAY are cut at 2 MiB as well as at 1,000 events: the client goes on until the server
        /// says the range is done, not until a page comes back short.
        @Test func eventsNoFollowReachesTheEndPastLargeEvents() throws {
            let cluster = try TestCluster(standaloneSlots: 2)
            defer { cluster.stop() }
            // Three arguments of 60 KB (Linux takes at most 128 KiB in one argument).
            let big = String(repeating: "x", count: 60_000)
            let batch = (1...30).map { #"["true", "\#($0)", "\#(big)", "\#(big)", "\#(big)"]"# }.joined(separator: "\n")
            let ids = try cluster.proc("submit", "--batch", "-", stdin: batch + "\n").stdout.split(separator: "\n")
            #expect(ids.count == 30)
            #expect(try cluster.proc("wait", "-", stdin: ids.joined(separator: "\n")).code == 0)
            let events = try cluster.proc("events", "--json", "--no-follow", timeout: 60)
            #expect(events.code == 0)
            let seqs = try events.stdout.split(separator: "\n").map {
                try JSONDecoder().decode(Event.self, from: Data($0.utf8)).seq
            }
            // 30 submitted + 30 started + 30 completed (+ agent.joined): each submitted and started event
            // carries the 180 KB command, so a page holds about eleven of them.
            #expect(seqs.count >= 91 && seqs == Array(1...UInt64(seqs.count)), "\(seqs.count) events")
            let info = try JSONDecoder().decode(StatusReply.self, from: Data(try cluster.proc("status", "--json").stdout.utf8))
            #expect(info.counts["completed"] == 30)
        }

        @Test func manyIdsAsArgumentsAreParsedInLinearTime() throws {
            let cluster = try TestCluster(standaloneSlots: 1)
            defer { cluster.stop() }
            let id = try cluster.submit("--", "true")
            #expect(try cluster.proc("wait", id).code == 0)
            // 20,000 ids took 9 s of CPU in a release build before (quadratic); here the run's own limit of 60 s
            // is the bound, in a debug build.
            let ids = [id] + (1...20_000).map { "x\($0)" }
            let many = try cluster.procArgs(["wait"] + ids, timeout: 60)
            #expect(many.code == 1 && many.stderr.contains("unknown job ids 'x1', 'x2'")
                    && many.stderr.contains("and 19990 more"), "\(many.stderr.prefix(300))")
            let command = try cluster.procArgs(["submit", "--wait", "--", "sh", "-c", "test $# = 20000", "sh"]
                + (1...20_000).map { "a\($0)" }, timeout: 60)
            #expect(command.code == 0, "\(command.stderr.prefix(300))")
        }

        @Test func fileAndJournalErrorsNameThePathAndSayWhatToDo() throws {
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            try #require(FileManager.default.createFile(atPath: directory + "/file", contents: Data("x".utf8)))
            let start = ["start", "--listen", "tcp://127.0.0.1:*", "--events", "tcp://127.0.0.1:*"]
            try expectRefusal(binary("proc-coordinator"), start + ["--data-dir", directory + "/file"], code: 1,
                              says: "--data-dir \(directory)/file: \(directory)/file exists and is not a directory")
            try expectRefusal(binary("proc-coordinator"), start + ["--data-dir", ""], code: 1, says: "--data-dir is empty")
            try expectRefusal(binary("proc-coordinator"), start + ["--data-dir", "/dev/null"], code: 1,
                              says: "/dev/null exists and is not a directory")
            try expectRefusal(binary("proc-coordinator"), start + ["--data-dir", "/proc/self"], code: 1,
                              says: "--data-dir /proc/self")
            try expectRefusal(binary("proc-agent"), ["join", "127.0.0.1", "--data-dir", "/dev/null"], code: 1,
                              says: "/dev/null exists and is not a directory")
            try expectRefusal(binary("proc-coordinator"), start + ["--config", directory], says: "\(directory) is a directory")
            try "[coordinator]\nlisten = 5\n".write(toFile: directory + "/c.toml", atomically: true, encoding: .utf8)
            try expectRefusal(binary("proc-coordinator"), start + ["--config", directory + "/c.toml"],
                              says: "[coordinator] listen must be a string, not an integer")
            try "[coordinator]\ntimout = 5\n".write(toFile: directory + "/d.toml", atomically: true, encoding: .utf8)
            try expectRefusal(binary("proc-coordinator"), start + ["--config", directory + "/d.toml"],
                              says: "unknown key 'timout' in [coordinator]")
            // A journal that is not one.
            try FileManager.default.createDirectory(atPath: directory + "/bad", withIntermediateDirectories: true)
            try "not sqlite".write(toFile: directory + "/bad/journal.sqlite", atomically: true, encoding: .utf8)
            try expectRefusal(binary("proc-coordinator"), start + ["--data-dir", directory + "/bad"], code: 1,
                              says: "journal.sqlite is not a proc journal, or it is damaged")
        }
    }
}
