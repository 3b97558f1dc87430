import CSpawn
import Foundation
import Glibc

/// Where proc-bench's sibling binaries are (proc-coordinator, proc-agent, proc).
let binaryDirectory: String = {
    let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    return URL(fileURLWithPath: exe).deletingLastPathComponent().path
}()

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A child process of ours: output to a file, ended by PID (SIGTERM, then SIGKILL), always reaped.
final class Child {
    let pid: pid_t
    let outputPath: String
    private var reaped = false

    init(_ path: String, _ arguments: [String], stdinPath: String = "/dev/null") throws {
        outputPath = NSTemporaryDirectory() + "proc-bench-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).log"
        let input = open(stdinPath, O_RDONLY | O_CLOEXEC)
        let output = open(outputPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        let channel = open("/dev/null", O_WRONLY | O_CLOEXEC)
        defer { close(input); close(output); close(channel) }
        let argv = [path] + arguments
        var cArgv = argv.map { strdup($0) } + [nil]
        var cEnv = ProcessInfo.processInfo.environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { cArgv.forEach { free($0) }; cEnv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = cspawn_spawn(&pid, path, &cArgv, &cEnv, nil, input, output, output, channel)
        guard rc == 0 else { throw BenchError("cannot start \(path): \(String(cString: strerror(rc)))") }
        self.pid = pid
    }

    deinit { stop() }

    var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }

    /// The first output line containing `text`, waiting up to `timeout` seconds.
    func line(containing text: String, timeout: Double = 30) -> String? {
        let deadline = monotonicSeconds() + timeout
        while monotonicSeconds() < deadline {
            if let line = output.split(separator: "\n").first(where: { $0.contains(text) }) { return String(line) }
            if exited() { return nil }
            usleep(20_000)
        }
        return nil
    }

    /// Waits up to `timeout` for the child to exit by itself; its exit code, or nil.
    func wait(timeout: Double) -> Int32? {
        let deadline = monotonicSeconds() + timeout
        while monotonicSeconds() < deadline {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                reaped = true
                return cspawn_wifexited(status) != 0 ? cspawn_wexitstatus(status) : 128 + cspawn_wtermsig(status)
            }
            usleep(5_000)
        }
        return nil
    }

    private func exited() -> Bool {
        var status: Int32 = 0
        if !reaped && waitpid(pid, &status, WNOHANG) == pid { reaped = true }
        return reaped
    }

    /// Ends the child if it is still running, and removes its output file (also when it exited by itself:
    /// a peer or `proc submit` that `wait` reaped used to leave its file in /tmp).
    func stop() {
        if !reaped {
            kill(pid, SIGTERM)
            if wait(timeout: 10) == nil {
                kill(pid, SIGKILL)
                _ = wait(timeout: 10)
            }
        }
        unlink(outputPath)
    }
}

/// A coordinator (and, with `slots`, one agent) as separate processes on loopback TCP.
final class SeparateCluster {
    let coordinator: Child
    var agent: Child?
    let control: String  // HOST:PORT
    let events: String  // tcp://HOST:PORT
    let directory: String

    /// With `standalone`, one process: `proc-coordinator start --standalone --slots SLOTS`.
    init(slots: Int?, heartbeatMilliseconds: Int? = nil, standalone: Bool = false, functionHosts: [String] = []) throws {
        directory = NSTemporaryDirectory() + "proc-bench-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var arguments = ["start", "--listen", "tcp://127.0.0.1:*", "--events", "tcp://127.0.0.1:*",
                         "--data-dir", directory + "/data", "--log-level", "warning"]
        if let heartbeatMilliseconds { arguments += ["--heartbeat-ms", String(heartbeatMilliseconds)] }
        if standalone, let slots { arguments += ["--standalone", "--slots", String(slots)] }
        if standalone && !functionHosts.isEmpty { arguments += ["--functions"] + functionHosts }
        coordinator = try Child(binaryDirectory + "/proc-coordinator", arguments)
        guard let ready = coordinator.line(containing: "ready control=") else {
            throw BenchError("the coordinator did not start: \(coordinator.output)")
        }
        let field = ready.split(separator: " ").first { $0.hasPrefix("control=") }!
        control = String(field.dropFirst("control=tcp://".count))
        events = ready.split(separator: " ").first { $0.hasPrefix("events=") }.map { String($0.dropFirst(7)) } ?? ""
        if let slots, !standalone {
            agent = try Child(binaryDirectory + "/proc-agent", [
                "join", control, "--slots", String(slots), "--name", "bench", "--data-dir", directory + "/agent",
                "--log-level", "warning",
            ] + (functionHosts.isEmpty ? [] : ["--functions"] + functionHosts)
              // More flags for the agent, for experiments (as bench/cpu-per-job.sh's AGENT_ARGS).
              + (ProcessInfo.processInfo.environment["PROC_BENCH_AGENT_ARGS"]?.split(separator: " ").map(String.init) ?? []))
        }
    }

    func stop() {
        agent?.stop()
        coordinator.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// User + system CPU seconds a process has used (from /proc/PID/stat).
func cpuSeconds(of pid: pid_t) -> Double? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = text.lastIndex(of: ")")
    else { return nil }
    let fields = text[text.index(after: close)...].split(separator: " ")
    guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

/// Resident memory in KiB (VmRSS).
func residentKiB(of pid: pid_t) -> Int? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
        let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
    else { return nil }
    return Int(line.split(separator: " ").dropFirst().first ?? "")
}

/// The full path of a program on PATH, or nil.
func which(_ program: String) -> String? {
    for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
        let path = "\(directory)/\(program)"
        if access(path, X_OK) == 0 { return path }
    }
    return nil
}

/// Whether `path` is GNU parallel (Debian's moreutils installs another program of the same name, which
/// takes other arguments).
func isGNUParallel(_ path: String) -> Bool {
    guard let child = try? Child(path, ["--version"]), child.wait(timeout: 10) == 0 else { return false }
    return child.output.contains("GNU parallel")
}
