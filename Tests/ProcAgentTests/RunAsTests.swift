import CSpawn
import Glibc
import Testing

@testable import ProcAgent

/// Changing to another user needs root (as in CI); elsewhere these tests are skipped.
private let isRoot = geteuid() == 0
private let path = ["PATH": "/usr/bin:/bin"]

/// Jobs as another user (`--run-as`): the forked spawn path. In the serialized suite, since they count fds
/// and zombies like the tests above.
extension ProcAgentTests {
    @Test func runAsLookup() throws {
        let nobody = try RunAsUser.lookup("nobody")
        #expect(nobody.name == "nobody" && nobody.uid == 65534 && nobody.home == "/nonexistent")
        #expect(nobody.groups.contains(nobody.gid))
        #expect(try RunAsUser.lookup("65534") == nobody)
        #expect(try RunAsUser.lookup("root").uid == 0)
        #expect(throws: UserLookupError.self) { try RunAsUser.lookup("no-such-user-proc-test") }
        #expect(throws: UserLookupError.self) { try RunAsUser.lookup("4000000000") }
        let unknown = UserLookupError(user: "x", errno: 0)
        #expect(unknown.description == "no user 'x' (neither a user name nor a uid in the user database)")
    }

    @Test(.enabled(if: isRoot, "needs root")) func runAsIDs() throws {
        let nobody = try RunAsUser.lookup("nobody")
        func output(_ argv: [String]) throws -> String {
            let job = try spawn(argv, env: path, user: nobody)
            #expect(run(job).0 == JobExit.exited(0))
            return job.stdoutTail
        }
        #expect(try output(["id", "-u"]) == "65534\n")
        #expect(try output(["id", "-g"]) == "\(nobody.gid)\n")
        // Exactly nobody's groups: root's supplementary groups are gone.
        let groups = try output(["id", "-G"]).split(whereSeparator: \.isWhitespace).compactMap { gid_t($0) }
        #expect(Set(groups) == Set(nobody.groups + [nobody.gid]))
        #expect(!groups.contains(0))
    }

    @Test(.enabled(if: isRoot, "needs root")) func runAsEnvironment() throws {
        let nobody = try RunAsUser.lookup("nobody")
        var configuration = AgentConfiguration(coordinatorEndpoint: "inproc://unused", name: "t", slots: 1)
        configuration.inheritedEnvironment = [
            "PATH": "/usr/bin:/bin", "HOME": "/root", "USER": "root", "LOGNAME": "root",
        ]
        configuration.runAs = nobody
        let job = try spawn(["sh", "-c", #"echo "$HOME $USER $LOGNAME""#], env: configuration.jobEnvironment(nil),
                            user: nobody)
        #expect(run(job).0 == JobExit.exited(0))
        #expect(job.stdoutTail == "/nonexistent nobody nobody\n")
        // The job spec's env still wins.
        let own = configuration.jobEnvironment(["HOME": "/tmp", "X": "1"])
        #expect(own["HOME"] == "/tmp" && own["USER"] == "nobody" && own["X"] == "1" && own["PATH"] == "/usr/bin:/bin")
        configuration.runAs = nil
        #expect(configuration.jobEnvironment(nil)["HOME"] == "/root")
    }

    @Test(.enabled(if: isRoot, "needs root")) func runAsSpawnFailures() throws {
        let nobody = try RunAsUser.lookup("nobody")
        let missing = try #require(spawnFailure(["nosuchcmd", "x"], env: path, user: nobody))
        #expect(missing.errno == ENOENT)
        #expect(missing.message == "No such file or directory: 'nosuchcmd'")
        #expect(spawnFailure(["/no/such/program"], user: nobody)?.errno == ENOENT)
        #expect(spawnFailure([""], user: nobody)?.errno == ENOENT)

        // A program only root may run: root runs it, nobody is denied, found directly or through PATH.
        let dir = makeTempDir()
        defer { removeTree(dir) }
        chmod(dir, 0o755)
        writeFile("\(dir)/root-only", "#!/bin/sh\necho ran\n", mode: 0o700)
        let asRoot = try spawn(["root-only"], env: ["PATH": dir])
        #expect(run(asRoot).0 == JobExit.exited(0))
        let denied = try #require(spawnFailure(["root-only"], env: ["PATH": dir], user: nobody))
        #expect(denied.errno == EACCES)
        #expect(denied.message == "Permission denied: 'root-only'")
        #expect(spawnFailure(["\(dir)/root-only"], user: nobody)?.errno == EACCES)
        // Like execvp, the PATH walk goes on past a program it may not run.
        writeFile("\(dir)/id", "#!/bin/sh\necho not-this-one\n", mode: 0o700)
        let id = try spawn(["id", "-u"], env: ["PATH": "\(dir):/usr/bin:/bin"], user: nobody)
        #expect(run(id).0 == JobExit.exited(0))
        #expect(id.stdoutTail == "65534\n")

        // The failed children were reaped by the spawn itself.
        #expect(zombieForkChildren().isEmpty)
    }

    @Test(.enabled(if: isRoot, "needs root")) func runAsWorkingDirectory() throws {
        let nobody = try RunAsUser.lookup("nobody")
        let dir = makeTempDir()  // 0700, root's: nobody may not enter
        defer { removeTree(dir) }
        let failure = try #require(spawnFailure(["/bin/true"], cwd: dir, user: nobody))
        #expect(failure.errno == EACCES)
        #expect(failure.message == "Permission denied: working directory '\(dir)'")
        #expect(run(try spawn(["/bin/true"], cwd: dir)).0 == JobExit.exited(0))

        let missing = try #require(spawnFailure(["/bin/true"], cwd: "/no/such/dir", user: nobody))
        #expect(missing.errno == ENOENT)
        #expect(missing.message == "No such file or directory: working directory '/no/such/dir'")

        let job = try spawn(["/bin/pwd"], cwd: "/", user: nobody)
        #expect(run(job).0 == JobExit.exited(0))
        #expect(job.stdoutTail == "/\n")
        #expect(zombieForkChildren().isEmpty)
    }

    @Test(.enabled(if: isRoot, "needs root")) func runAsCancel() throws {
        let nobody = try RunAsUser.lookup("nobody")
        #expect(cspawn_set_child_subreaper() == 0)
        func started(_ script: String) throws -> (JobProcess, pid_t) {
            let job = try spawn(["sh", "-c", script], env: path, user: nobody)
            var messages: [ChannelMessage] = []
            let printed = pump(job, limit: .seconds(10), messages: &messages) { $0.stdoutTail.hasSuffix("\n") }
            #expect(printed)
            return (job, try #require(pid_t(job.stdoutTail.dropLast())))
        }

        // SIGTERM to the group (a cancel) reaches the job and its background child.
        let (job, sleeper) = try started("sleep 1000 & echo $!; wait")
        job.signalGroup(SIGTERM)
        #expect(run(job).0 == JobExit.signaled(SIGTERM))
        #expect(waitGone(sleeper, session: job.pid))

        // Both ignore SIGTERM: the SIGKILL after the grace period ends them.
        let (stubborn, stubbornSleeper) = try started(#"trap "" TERM; sleep 1000 & echo $!; wait"#)
        stubborn.signalGroup(SIGTERM)
        stubborn.signalGroup(SIGKILL)
        #expect(run(stubborn).0 == JobExit.signaled(SIGKILL))
        #expect(waitGone(stubbornSleeper, session: stubborn.pid))
    }

    @Test(.enabled(if: isRoot, "needs root")) func runAsSignalsAndDescriptors() throws {
        let nobody = try RunAsUser.lookup("nobody")
        try expectSignalsReset(user: nobody)

        // Only 0..3 are open in the job: nothing of ours, not the error pipe.
        let shell = try spawn(["sh", "-c", "ls /proc/$$/fd"], env: path, user: nobody)
        #expect(run(shell).0 == JobExit.exited(0))
        #expect(shell.stdoutTail == "0\n1\n2\n3\n")
    }

    @Test(.enabled(if: isRoot, "needs root")) func runAsNoFDLeak() throws {
        let nobody = try RunAsUser.lookup("nobody")
        let dir = makeTempDir()
        defer { removeTree(dir) }
        _ = run(try spawn(["/bin/true"], user: nobody))
        let before = openFDCount()
        for _ in 0..<100 {
            #expect(run(try spawn(["/bin/true"], user: nobody)).0 == JobExit.exited(0))
            #expect(spawnFailure(["nosuchcmd"], env: path, user: nobody) != nil)
            #expect(spawnFailure(["/bin/true"], cwd: dir, user: nobody) != nil)
        }
        // As in noFDLeak: other suites move the count a little; a leak would be at least 100.
        let grown = openFDCount() - before
        #expect(grown < 100, "fd count grew by \(grown) over 300 spawns")
        #expect(zombieForkChildren().isEmpty)
    }
}
