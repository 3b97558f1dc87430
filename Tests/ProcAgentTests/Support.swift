import Foundation
import CSpawn
import Glibc
import Testing

@testable import ProcAgent

/// `Testing` also exports an `ExitStatus` (for exit tests), so the bare name is ambiguous in test files.
typealias JobExit = ProcAgent.ExitStatus

/// Polls the job's fds in 50 ms steps (handleReadable on ready fds, reapIfExited every round) until `done`
/// returns true or `limit` passes. Returns whether `done` became true; channel messages go to `messages`.
@discardableResult
func pump(
    _ job: JobProcess, limit: Duration, messages: inout [ChannelMessage], done: (JobProcess) -> Bool
) -> Bool {
    let deadline = ContinuousClock.now + limit
    while true {
        if done(job) {
            messages += job.takeDrainedMessages()  // `done` may have been the call that reaped
            return true
        }
        if ContinuousClock.now >= deadline { return false }
        var fds = job.pollDescriptors.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        if fds.isEmpty { usleep(10_000) } else { _ = poll(&fds, nfds_t(fds.count), 50) }
        for p in fds where p.revents != 0 { messages += job.handleReadable(p.fd) }
        if job.reapIfExited() != nil { messages += job.takeDrainedMessages() }
    }
}

/// Runs the job to completion within 10 s; on timeout records an issue and kills the whole group.
func run(_ job: JobProcess, sourceLocation: SourceLocation = #_sourceLocation) -> (JobExit?, [ChannelMessage]) {
    var messages: [ChannelMessage] = []
    if !pump(job, limit: .seconds(10), messages: &messages, done: { $0.reapIfExited() != nil }) {
        Issue.record("job \(job.pid) did not exit within 10 s", sourceLocation: sourceLocation)
        job.signalGroup(SIGKILL)
        pump(job, limit: .seconds(5), messages: &messages, done: { $0.reapIfExited() != nil })
    }
    return (job.reapIfExited(), messages)
}

func spawn(_ argv: [String], env: [String: String] = [:], cwd: String? = nil, limit: Int = 64 * 1024,
           user: RunAsUser? = nil) throws(SpawnFailure) -> JobProcess
{
    try JobProcess(spec: SpawnSpec(argv: argv, environment: env, workingDirectory: cwd, user: user),
                   outputLimit: limit)
}

func spawnFailure(_ argv: [String], env: [String: String] = [:], cwd: String? = nil, user: RunAsUser? = nil)
    -> SpawnFailure?
{
    do {
        let job = try spawn(argv, env: env, cwd: cwd, user: user)
        // A step that fails in the child after the spawn returned (cspawn_spawn_early: chdir, execve) is
        // known once the child is reaped; it exits at once then.
        var messages: [ChannelMessage] = []
        if !pump(job, limit: .seconds(5), messages: &messages, done: { $0.reapIfExited() != nil }) {
            job.signalGroup(SIGKILL)
            _ = run(job)
        }
        return job.spawnFailure
    } catch {
        return error
    }
}

/// Waits until `pid` no longer exists at all (reaping it, as an orphan of the job whose session is
/// `session`, if it was reparented to us as a subreaper).
func waitGone(_ pid: pid_t, session: pid_t, limit: Duration = .seconds(10)) -> Bool {
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
        _ = reapOrphans(excluding: [], sessions: [session])
        if kill(pid, 0) != 0 && errno == ESRCH { return true }
        usleep(10_000)
    }
    return false
}

func openFDCount() -> Int {
    guard let dir = opendir("/proc/self/fd") else { return -1 }
    defer { closedir(dir) }
    var n = 0
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if name != "." && name != ".." { n += 1 }
    }
    return n
}

/// A fresh directory under /tmp (removed by `removeTree`).
func makeTempDir() -> String {
    var template = Array("/tmp/procspawn-XXXXXX".utf8CString)
    return template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
}

func writeFile(_ path: String, _ contents: String, mode: mode_t) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
    precondition(fd >= 0)
    _ = contents.withCString { write(fd, $0, strlen($0)) }
    close(fd)
    chmod(path, mode)
}

func removeTree(_ path: String) {
    let job = try? spawn(["/bin/rm", "-rf", path])
    if let job { _ = run(job) }
}

/// Zombie children that are still copies of this test process: a posix_spawn child whose exec failed
/// and that nobody reaped. (Children that did exec carry another name.)
func zombieForkChildren() -> [pid_t] {
    let ownName = (try? String(contentsOfFile: "/proc/self/comm", encoding: .utf8)) ?? ""
    var zombies: [pid_t] = []
    let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
    for task in tasks {
        let children = (try? String(contentsOfFile: "/proc/self/task/\(task)/children", encoding: .utf8)) ?? ""
        for child in children.split(separator: " ").compactMap({ pid_t($0) }) {
            guard let stat = try? String(contentsOfFile: "/proc/\(child)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { continue }
            let name = stat[stat.index(after: stat.firstIndex(of: "(")!)..<close]
            let state = stat[stat.index(close, offsetBy: 2)...].prefix(1)
            if state == "Z" && name + "\n" == ownName { zombies.append(child) }
        }
    }
    return zombies
}

/// Spawns a job (as `user`, if given) from a parent that looks like a typical server (SIGPIPE ignored,
/// SIGTERM blocked on this thread) and checks that the job starts with no signal blocked or ignored.
func expectSignalsReset(user: RunAsUser?, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let oldPipe = signal(SIGPIPE, SIG_IGN)
    var block = sigset_t(), old = sigset_t()
    sigemptyset(&block)
    sigaddset(&block, SIGTERM)
    pthread_sigmask(SIG_BLOCK, &block, &old)
    defer {
        pthread_sigmask(SIG_SETMASK, &old, nil)
        signal(SIGPIPE, oldPipe)
    }
    let job = try spawn(["/bin/grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"], user: user)
    #expect(run(job).0 == JobExit.exited(0), sourceLocation: sourceLocation)
    let masks = job.stdoutTail.split(separator: "\n").compactMap { line in
        line.split(separator: "\t").last.flatMap { UInt64($0, radix: 16) }
    }
    #expect(masks.count == 2, sourceLocation: sourceLocation)
    #expect(masks.first == 0, sourceLocation: sourceLocation)
    // glibc's internal signals 32/33 (SIGCANCEL/SIGSETXID) cannot be reset through its sigaction or spawn
    // attributes: bits 31 and 32 may stay ignored. Everything else must be default.
    #expect(masks.last.map { $0 & ~0x1_8000_0000 } == 0, sourceLocation: sourceLocation)
}
