import Foundation
import Glibc
import ProcCore
import Testing

extension Integration {
    /// Every outcome captured: exit codes, signals, spawn failures, the fd 3 channel.
    @Suite struct Outcomes {
        @Test func errorsAreCapturedNeverLost() async throws {
            let cluster = try TestCluster(standaloneSlots: 2)
            defer { cluster.stop() }
            let exit3 = try cluster.submit("--", "sh", "-c", "echo to-stderr >&2; exit 3")
            let killed = try cluster.submit("--", "sh", "-c", "kill -9 $$")
            let missing = try cluster.submit("--", "/no/such/program")
            let plainFile = cluster.directory + "/not-executable"
            try "echo hi\n".write(toFile: plainFile, atomically: true, encoding: .utf8)
            chmod(plainFile, 0o644)
            let notExecutable = try cluster.submit("--", plainFile)
            let badCwd = try cluster.submit("--cwd", "/no/such/dir", "--", "true")
            let channel = try cluster.submit(
                "--", "sh", "-c",
                "echo '{\"progress\": 0.5, \"message\": \"half\"}' >&3; echo '{\"result\": {\"n\": 42, \"ok\": true}}' >&3")
            _ = try cluster.proc("wait", exit3, killed, missing, notExecutable, badCwd, channel, "--timeout", "30")

            func result(_ id: String) throws -> ResultReply {
                try JSONDecoder().decode(ResultReply.self, from: Data(cluster.proc("result", id, "--json").stdout.utf8))
            }
            let r1 = try result(exit3)
            #expect(r1.job.status == .error && r1.job.reason == .exit && r1.job.exitCode == 3)
            #expect(r1.stderr == "to-stderr\n")
            let r2 = try result(killed)
            #expect(r2.job.status == .error && r2.job.reason == .signal && r2.job.signal == 9)
            let r3 = try result(missing)
            #expect(r3.job.status == .error && r3.job.reason == .spawn)
            #expect(r3.job.message?.contains("No such file or directory") == true)
            let r4 = try result(notExecutable)
            #expect(r4.job.status == .error && r4.job.reason == .spawn)
            #expect(r4.job.message?.contains("Permission denied") == true)
            let r5 = try result(badCwd)
            #expect(r5.job.reason == .spawn && r5.job.message?.contains("/no/such/dir") == true)
            let r6 = try result(channel)
            #expect(r6.job.status == .completed)
            #expect(r6.job.result == .object(["n": .int(42), "ok": .bool(true)]))

            let progress = try await cluster.history().filter { $0.jobID == channel && $0.type == .jobProgress }
            #expect(progress.count == 1)
            #expect(progress.first?.progress == 0.5 && progress.first?.message == "half")
        }

        /// A first attempt that printed nothing stores no output row (for speed); RESULT must still say
        /// "printed nothing", and a retry that printed nothing must hide what the failed attempt printed.
        @Test func anEmptyOutputReadsAsEmptyAndHidesAnEarlierAttempts() async throws {
            let cluster = try TestCluster(standaloneSlots: 2)
            defer { cluster.stop() }
            let silent = try cluster.submit("--", "true")
            let marker = cluster.directory + "/tried"
            let retried = try cluster.submit("--retries", "1", "--", "sh", "-c",
                                             "if [ -e \(marker) ]; then exit 0; fi; touch \(marker); echo first; exit 1")
            _ = try cluster.proc("wait", silent, retried, "--timeout", "30")
            func result(_ id: String) throws -> ResultReply {
                try JSONDecoder().decode(ResultReply.self, from: Data(cluster.proc("result", id, "--json").stdout.utf8))
            }
            let r1 = try result(silent)
            #expect(r1.job.status == .completed && r1.stdout == "" && r1.stderr == "" && r1.stdoutTruncated == false)
            let r2 = try result(retried)
            #expect(r2.job.status == .completed && r2.job.attempt == 2)
            #expect(r2.stdout == "", "the second attempt printed nothing; the first attempt's output must not show")
        }

        @Test func jobEnvironment() async throws {
            let cluster = try TestCluster(standaloneSlots: 1)
            defer { cluster.stop() }
            let id = try cluster.submit("--env", "GREETING=hello", "--", "sh", "-c",
                                        "echo $GREETING $PROC_JOB_ID $PROC_ATTEMPT $PROC_CHANNEL_FD")
            #expect(try cluster.proc("wait", id).code == 0)
            #expect(try cluster.result(id).stdout == "hello \(id) 1 3\n")
        }
    }
}
