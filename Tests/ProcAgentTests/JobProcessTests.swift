import CSpawn
import Glibc
import Testing

@testable import ProcAgent

// Serialized: the tests reap orphans, set the subreaper flag and count the process's fds, all process-global.
@Suite(.serialized)
struct ProcAgentTests {
    @Test func echo() throws {
        let job = try spawn(["/bin/echo", "hi"])
        #expect(job.pollDescriptors.count == 4)
        let (status, _) = run(job)
        #expect(status == JobExit.exited(0))
        #expect(job.stdoutTail == "hi\n")
        #expect(job.stderrTail == "")
        #expect(!job.stdoutTruncated)
        #expect(job.pollDescriptors.isEmpty)
        #expect(job.reapIfExited() == JobExit.exited(0))  // idempotent
    }

    /// Run records take a job's start time from CLOCK_BOOTTIME at the spawn instead of reading /proc; it
    /// must match what /proc says of the process, and a process started a few seconds earlier must not.
    @Test func runRecordStartTimeMatchesProc() throws {
        let recorded = RunRecords.bootTicks()
        let job = try spawn(["sleep", "5"])
        defer {
            job.signalGroup(SIGKILL)
            _ = run(job)
        }
        let actual = try #require(RunRecords.startTime(of: job.pid))
        #expect(RunRecords.sameStart(recorded, actual))
        let hertz = UInt64(sysconf(Int32(_SC_CLK_TCK)))
        #expect(!RunRecords.sameStart(recorded, actual + 3 * hertz))
        #expect(actual > 0 && recorded > 0)
    }

    @Test func stderrAndExitCode() throws {
        let job = try spawn(["sh", "-c", "echo err >&2; exit 3"])
        let (status, _) = run(job)
        #expect(status == JobExit.exited(3))
        #expect(job.stderrTail == "err\n")
        #expect(job.stdoutTail == "")
    }

    @Test func spawnFailures() throws {
        let dir = makeTempDir()
        defer { removeTree(dir) }

        let missing = try #require(spawnFailure(["nosuchcmd", "x"]))
        #expect(missing.errno == ENOENT)
        #expect(missing.message == "No such file or directory: 'nosuchcmd'")
        #expect("\(missing)" == missing.message)

        // Absolute path: the kernel's execve error comes back through posix_spawn's return value.
        #expect(spawnFailure(["\(dir)/nothing"])?.errno == ENOENT)

        writeFile("\(dir)/plain", "#!/bin/sh\necho no\n", mode: 0o644)
        let denied = try #require(spawnFailure(["\(dir)/plain"]))
        #expect(denied.errno == EACCES)
        #expect(denied.message == "Permission denied: '\(dir)/plain'")
        // Same file found through the job's PATH (not ours).
        #expect(spawnFailure(["plain"], env: ["PATH": dir])?.errno == EACCES)

        // No '#!' and not ELF: execve fails with ENOEXEC (posix_spawn does not fall back to /bin/sh).
        writeFile("\(dir)/noshebang", "\u{1}\u{2}garbage\n", mode: 0o755)
        #expect(spawnFailure(["\(dir)/noshebang"])?.errno == ENOEXEC)

        let badCwd = try #require(spawnFailure(["/bin/true"], cwd: "\(dir)/no-such-dir"))
        #expect(badCwd.errno == ENOENT)
        #expect(badCwd.message == "No such file or directory: working directory '\(dir)/no-such-dir'")

        #expect(spawnFailure([])?.errno == EINVAL)
        // Those found in the child after the spawn returned come with its exit (127), and the job is not
        // reported as having run: the agent turns `spawnFailure` into error/spawn.
        let late = try spawn(["/bin/true"], cwd: "\(dir)/no-such-dir")
        #expect(run(late).0 == JobExit.exited(127))
        #expect(late.spawnFailure?.errno == ENOENT)
        // Every failed child was reaped (by the spawn itself, or with its exit): none is left to wait for.
        #expect(zombieForkChildren().isEmpty)
    }

    /// Many arguments and variables, copied into the child's arena (cspawn_spawn_early), arrive whole.
    @Test func manyArguments() throws {
        let args = (0..<2_000).map { "a\($0)" }
        var env = ["PATH": "/usr/bin:/bin"]
        for i in 0..<200 { env["V\(i)"] = String(i) }
        let job = try spawn(["/bin/sh", "-c", "echo $# $1 ${2000} $V0 $V199", "sh"] + args, env: env)
        #expect(run(job).0 == JobExit.exited(0))
        #expect(job.stdoutTail == "2000 a0 a1999 0 199\n")
    }

    /// An environment too big for the child's arena (cspawn_spawn_early) takes the vfork path: same result.
    @Test func bigEnvironment() throws {
        // Five variables of 60,000 bytes (execve takes at most 128 KiB in one string).
        var env = ["PATH": "/usr/bin:/bin"]
        for i in 1...5 { env["BIG\(i)"] = String(repeating: "x", count: 60_000) }
        let job = try spawn(["/bin/sh", "-c", "printf %s \"$BIG1$BIG2$BIG3$BIG4$BIG5\" | wc -c"], env: env)
        #expect(run(job).0 == JobExit.exited(0))
        #expect(job.stdoutTail.trimmingCharacters(in: .whitespacesAndNewlines) == "300000")
        #expect(job.spawnFailure == nil)
    }

    @Test func pathLookupUsesJobPath() throws {
        let dir = makeTempDir()
        defer { removeTree(dir) }
        writeFile("\(dir)/hello-tool", "#!/bin/sh\necho from-tool\n", mode: 0o755)
        let job = try spawn(["hello-tool"], env: ["PATH": "/nonexistent:\(dir)"])
        #expect(run(job).0 == JobExit.exited(0))
        #expect(job.stdoutTail == "from-tool\n")
    }

    @Test func workingDirectory() throws {
        let dir = makeTempDir()
        defer { removeTree(dir) }
        let job = try spawn(["/bin/pwd"], cwd: dir)
        #expect(run(job).0 == JobExit.exited(0))
        let real = String(cString: realpath(dir, nil)!)  // leaks one small malloc; fine in a test
        #expect(job.stdoutTail == real + "\n")
    }

    @Test func environmentIsExact() throws {
        let job = try spawn(["env"], env: ["A": "1", "PATH": "/usr/bin:/bin"])
        #expect(run(job).0 == JobExit.exited(0))
        let lines = Set(job.stdoutTail.split(separator: "\n").map(String.init))
        #expect(lines == ["A=1", "PATH=/usr/bin:/bin"])
    }

    @Test func signalsAreNotInheritedBlockedOrIgnored() throws {
        try expectSignalsReset(user: nil)
    }

    @Test func channelBasic() throws {
        let job = try spawn([
            "sh", "-c",
            #"echo "{\"progress\":0.5,\"message\":\"half\"}" >&3; echo "{\"result\":{\"n\":42}}" >&3; echo bad >&3"#,
        ])
        let (status, messages) = run(job)
        #expect(status == JobExit.exited(0))
        #expect(messages == [.progress(0.5, "half"), .result(.object(["n": .int(42)])), .invalid("bad")])
    }

    @Test func channelVariants() throws {
        let lines = [
            #"{"progress": 1}"#,
            #"{"message":"hello \u00e9\ud83d\ude00"}"#,
            "",
            #"{"progress":0.25,"result":[1, "a", {"b": null}] }"#,
            #"{"progress":null,"message":"x"}"#,
            #"{"other":1}"#,
            #"{"result":1} trailing"#,
            #"[1,2]"#,
        ]
        let script = "printf '%s\\n' " + lines.map { "'\($0)'" }.joined(separator: " ")
            + #" >&3; printf '{"result": 3.10}' >&3"#  // last line has no newline
        let job = try spawn(["sh", "-c", script])
        let (status, messages) = run(job)
        #expect(status == JobExit.exited(0))
        #expect(messages == [
            .progress(1, nil),
            .message("hello é😀"),
            .progress(0.25, nil), .result(.array([.int(1), .string("a"), .object(["b": .null])])),
            .message("x"),
            .invalid(#"{"other":1}"#),
            .invalid(#"{"result":1} trailing"#),
            .invalid("[1,2]"),
            .result(.double(3.1)),
        ])
    }

    @Test func channelOverlongLineResynchronises() throws {
        let script = #"head -c 1100000 /dev/zero | tr '\0' x >&3; echo >&3; echo '{"message":"ok"}' >&3"#
        let job = try spawn(["sh", "-c", script])
        let (status, messages) = run(job)
        #expect(status == JobExit.exited(0))
        #expect(messages == [.tooLong(String(repeating: "x", count: 1024)), .message("ok")])
    }

    /// Channel lines are read by the wire's reader (`ChannelLine`): one scanner for fd 3 and the wire.
    @Test func channelLines() {
        func parse(_ s: String) -> [ChannelMessage] { ChannelLineSplitter.parse(Array(s.utf8)) }
        #expect(parse(#"{"result":"\"q\" \\ \/ \n"}"#) == [.result(.string("\"q\" \\ / \n"))])
        #expect(parse(#"{"message":"\ud800x"}"#) == [.invalid(#"{"message":"\ud800x"}"#)])
        #expect(parse(#"{"result":01}"#) == [.invalid(#"{"result":01}"#)])
        #expect(parse(#"{"result":-0.5e+3,"message":"m"}"#) == [.message("m"), .result(.int(-500))])
        #expect(parse(#"{"progress":0.25,"message":"m","other":[1]}"#) == [.progress(0.25, "m")])
        #expect(parse(#"{"progress":"half"}"#) == [.invalid(#"{"progress":"half"}"#)])
        #expect(parse(#"{"other":1}"#) == [.invalid(#"{"other":1}"#)])
        #expect(parse("{\"result\":\"tab\there\"}") == [.invalid("{\"result\":\"tab\there\"}")])
        let deep = "{\"result\":" + String(repeating: "[", count: 600) + String(repeating: "]", count: 600) + "}"
        #expect(parse(deep) == [.invalid(String(deep.prefix(1024)))])
        #expect(parse("  \r") == [])
    }

    @Test func outputIsBounded() throws {
        let job = try spawn(["sh", "-c", "seq 1 200000 | head -c 1048576"], limit: 1024)
        #expect(run(job).0 == JobExit.exited(0))
        let all = Array((1...200_000).map { "\($0)\n" }.joined().utf8.prefix(1_048_576))
        #expect(job.stdoutByteCount == 1_048_576)
        #expect(job.stdoutTruncated)
        #expect(Array(job.stdoutTail.utf8) == Array(all.suffix(1024)))
        #expect(!job.stderrTruncated)
    }

    @Test func processGroupKill() throws {
        #expect(cspawn_set_child_subreaper() == 0)
        let job = try spawn(["sh", "-c", #"trap "" TERM; (trap "" TERM; sleep 1000) & echo $!; sleep 1000"#])
        var messages: [ChannelMessage] = []
        let printed = pump(job, limit: .seconds(10), messages: &messages) { $0.stdoutTail.hasSuffix("\n") }
        let grandchild = try #require(pid_t(job.stdoutTail.dropLast()))
        #expect(printed)

        job.signalGroup(SIGTERM)
        let diedOfTerm = pump(job, limit: .milliseconds(300), messages: &messages) { $0.reapIfExited() != nil }
        #expect(!diedOfTerm)
        #expect(kill(grandchild, 0) == 0)

        job.signalGroup(SIGKILL)
        #expect(run(job).0 == JobExit.signaled(SIGKILL))
        #expect(waitGone(grandchild, session: job.pid))
    }

    @Test func sigtermReachesChild() throws {
        // Sent at once, the signal often finds the child before its setsid, with no group of its own yet
        // (the spawn returns before the child's exec): it must reach it all the same.
        for _ in 0..<20 {
            let job = try spawn(["sleep", "1000"])
            job.signalGroup(SIGTERM)
            #expect(run(job).0 == JobExit.signaled(SIGTERM))
            job.signalGroup(SIGTERM)  // after reap: ESRCH, ignored
        }
    }

    @Test func backgroundGrandchildDoesNotBlockReap() throws {
        let job = try spawn(["sh", "-c", "sleep 5 & echo $!; echo done"])
        let (status, _) = run(job)
        #expect(status == JobExit.exited(0))
        let lines = job.stdoutTail.split(separator: "\n")
        #expect(lines.last == "done")
        job.signalGroup(SIGKILL)
        if let first = lines.first, let sleeper = pid_t(first) { #expect(waitGone(sleeper, session: job.pid)) }
    }

    @Test func noFDLeak() throws {
        for _ in 0..<3 { _ = run(try spawn(["/bin/true"])) }  // warm up lazily opened runtime fds
        let before = openFDCount()
        for i in 0..<200 {
            let job = try spawn(["sh", "-c", "echo \(i); echo '{\"message\":\"m\"}' >&3"])
            let (status, messages) = run(job)
            #expect(status == JobExit.exited(0))
            #expect(messages == [.message("m")])
        }
        for _ in 0..<50 { _ = spawnFailure(["nosuchcmd"]) }
        var neverReaped: pid_t = 0
        do {  // never reaped: deinit must still close everything
            let job = try spawn(["sleep", "1000"])
            neverReaped = job.pid
            job.signalGroup(SIGKILL)
        }
        // Other suites run in this process at the same time and open and close their own fds, so the count
        // moves a little by itself. A leak here would be at least one fd for each of the 251 spawns above.
        let grown = openFDCount() - before
        #expect(grown < 100, "fd count grew by \(grown) over 251 spawns")
        #expect(waitGone(neverReaped, session: neverReaped))
    }

    @Test func throughput() throws {
        let n = 1000
        let start = ContinuousClock.now
        for _ in 0..<n {
            let job = try spawn(["/bin/true"])
            #expect(run(job).0 == JobExit.exited(0))
        }
        let seconds = Double((ContinuousClock.now - start).components.attoseconds) / 1e18
            + Double((ContinuousClock.now - start).components.seconds)
        print("throughput: \(n) spawn+reap of /bin/true in \(seconds) s = \(Int(Double(n) / seconds)) spawns/s")
    }
}
