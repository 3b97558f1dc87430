import Foundation
import Glibc
import Testing
import ZeroMQ

extension Integration {
    /// Bad input gets a clear message and a non-zero exit, never a hang or a crash.
    @Suite struct BadInput {
        @Test func clearErrors() async throws {
            let cluster = try TestCluster(standaloneSlots: 1)
            defer { cluster.stop() }

            let unknown = try cluster.proc("result", "j999999")
            #expect(unknown.code != 0 && unknown.stderr.contains("unknown job id 'j999999'"))
            let unknownWait = try cluster.proc("wait", "nope")
            #expect(unknownWait.code != 0 && unknownWait.stderr.contains("unknown job id"))
            let unknownCancel = try cluster.proc("cancel", "nope")
            #expect(unknownCancel.code != 0 && unknownCancel.stderr.contains("unknown job id"))

            let empty = try cluster.proc("submit")
            #expect(empty.code != 0 && empty.stderr.contains("empty command"))
            let emptyBatchLine = try cluster.proc("submit", "--batch", "-", stdin: "[]\n")
            #expect(emptyBatchLine.code != 0 && emptyBatchLine.stderr.contains("empty command"))

            let flag = try run(binary("proc"), ["status", "--no-such-flag"])
            #expect(flag.code == 64 && flag.stderr.contains("no-such-flag"))
            let agentFlag = try run(binary("proc-agent"), ["join", "--slots", "0"])
            #expect(agentFlag.code != 0 && agentFlag.stderr.contains("--slots"))

            // Invalid job specs, each with its reason.
            let invalid: [(String, String)] = [
                (#"{"argv": ["true"], "env": {"A": 1}}"#, "env.A: expected a string, found a number"),
                (#"{"argv": ["a\u0000b"]}"#, "NUL byte"),
                (#"{"argv": ["true"], "timeout": -1}"#, "timeout: must be between"),
                (#"{"argv": ["true"], "retries": 100000}"#, "retries: must be between 0 and 1000"),
                (#"{"argv": ["true"], "env": {"BIG": "\#(String(repeating: "x", count: 1_100_000))"}}"#, "too large"),
            ]
            for (line, reason) in invalid {
                let result = try cluster.proc("submit", "--batch", "-", stdin: line + "\n")
                #expect(result.code != 0 && result.stderr.contains(reason), "\(reason): \(result.stderr.prefix(300))")
            }
            // A working directory that does not exist on the agent: the job ends error/spawn and says why.
            let missing = try cluster.submit("--cwd", "/no/such/dir", "--", "true")
            #expect(try cluster.proc("wait", missing).code == 1)
            let why = try cluster.proc("result", missing)
            #expect(why.stdout.contains("spawn") && why.stdout.contains("/no/such/dir"), "\(why.stdout)")

            // The coordinator is still serving after all that.
            #expect(try cluster.proc("status").code == 0)
        }

        @Test func coordinatorNotThere() async throws {
            // Nothing listens on port 1: the CLI gives up after its request timeout and says where it tried.
            let result = try run(binary("proc"), ["status", "--coordinator", "127.0.0.1:1", "--request-timeout", "1"],
                                 timeout: 20)
            #expect(result.code != 0)
            #expect(result.stderr.contains("127.0.0.1:1") && result.stderr.contains("no answer"))
            let bad = try run(binary("proc"), ["status", "--coordinator", "host:notaport"])
            #expect(bad.code != 0 && bad.stderr.contains("bad port"))
        }

        @Test func portAlreadyInUse() async throws {
            let cluster = try TestCluster(standaloneSlots: 1)
            defer { cluster.stop() }
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let second = try run(binary("proc-coordinator"), [
                "start", "--listen", "tcp://\(cluster.control)", "--events", "tcp://127.0.0.1:*",
                "--data-dir", directory,
            ], timeout: 20)
            #expect(second.code != 0)
            #expect(second.stderr.contains("address already in use"), "\(second.stderr)")
        }
    }
}

extension Integration.BadInput {
    /// A dead peer: `proc events` ends with a clear error instead of waiting forever.
    @Test func eventsNoticeACoordinatorThatIsGone() throws {
        let cluster = try TestCluster(standaloneSlots: 1)
        defer { cluster.stop() }
        let events = try TestProcess(binary("proc"), ["events", "--from-seq", "1", "--coordinator", cluster.control,
                                                      "--request-timeout", "1"], directory: cluster.directory)
        defer { events.terminate(signal: SIGKILL) }
        let id = try cluster.submit("--", "true")
        #expect(events.waitForOutput("job.submitted \(id)"))
        cluster.coordinator.terminate(signal: SIGKILL)
        let code = events.waitForExit(timeout: 20)
        #expect(code == 2, "proc events exit code: \(String(describing: code))")
        #expect(events.stderr.contains("lost contact with the event feed"), "\(events.stderr)")
    }
}

extension Integration.BadInput {
    /// Malformed messages from a raw DEALER: answered with ERROR where there is someone to answer, dropped
    /// otherwise, and the coordinator goes on serving.
    @Test func malformedMessagesAreAnsweredOrDropped() throws {
        let cluster = try TestCluster(standaloneSlots: 1)
        defer { cluster.stop() }
        let context = ZMQContext()
        defer { context.terminate() }
        let dealer = try ZMQSocket(context: context, type: .dealer)
        defer { dealer.close() }
        try dealer.connect("tcp://\(cluster.control)")
        let proto = Array("PROC-CLIENT/1".utf8)
        func ask(_ frames: [Frame]) throws -> [Frame]? {
            try dealer.send(frames)
            return try dealer.receive(timeoutMilliseconds: 3_000)
        }
        func errorMessage(_ reply: [Frame]?) -> String? {
            guard let reply, reply.count == 4, reply[1] == Array("ERROR".utf8) else { return nil }
            return String(decoding: reply[3], as: UTF8.self)
        }
        let id: Frame = [0, 0, 0, 0, 0, 0, 0, 1]
        #expect(errorMessage(try ask([proto, Array("SUBMIT".utf8), id, Array("{not json".utf8)]))?
            .contains("invalid SUBMIT request: expected a key") == true)
        #expect(errorMessage(try ask([proto, Array("SUBMIT".utf8), id, Array(#"{"jobs": [{"argv": []}]}"#.utf8)]))?
            .contains("empty command") == true)
        #expect(errorMessage(try ask([proto, Array("SUBMIT".utf8), id, Array(#"{"jobs": [{"argv": 5}]}"#.utf8)]))?
            .contains("jobs[0].argv: expected an array, found a number") == true)
        #expect(errorMessage(try ask([proto, Array("NOPE".utf8), id, []]))?.contains("unknown command") == true)
        #expect(errorMessage(try ask([Array("PROC-CLIENT/9".utf8), Array("INFO".utf8), id, []]))?
            .contains("unsupported protocol") == true)
        // Nobody to answer: dropped.
        #expect(try ask([Array("junk".utf8)]) == nil)
        #expect(try ask([Array("PROC-AGENT/1".utf8), Array("RESULT".utf8), Array("{}".utf8), [], []]) == nil)
        // Still serving.
        let status = try cluster.proc("status")
        #expect(status.code == 0)
    }
}
