import CSpawn
import Foundation
import Glibc
import Testing

/// Where `swift build` put our executables.
let binDirectory: String = {
    if let dir = ProcessInfo.processInfo.environment["PROC_BIN_DIR"] { return dir }
    var root = URL(fileURLWithPath: #filePath)
    for _ in 0..<4 { root.deleteLastPathComponent() }  // Support, IntegrationTests, Tests, root
    return root.appendingPathComponent(".build/debug").path
}()

func binary(_ name: String) -> String { binDirectory + "/" + name }

/// A process of one of our binaries, with stdout and stderr going to files. Spawned with posix_spawn
/// (a clean signal mask, so SIGTERM reaches it) and always ended by PID: `terminate`, or at deinit.
final class TestProcess: @unchecked Sendable {
    let pid: pid_t
    let stdoutPath: String
    let stderrPath: String
    private var exitStatus: Int32?

    /// `directory` holds its output files; `workingDirectory` is where it runs (default: this process's).
    init(_ executable: String, _ arguments: [String], environment: [String: String] = [:], stdin: String? = nil,
         directory: String = NSTemporaryDirectory(), workingDirectory: String? = nil) throws {
        let unique = UUID().uuidString.prefix(8)
        stdoutPath = directory + "/out-\(unique).txt"
        stderrPath = directory + "/err-\(unique).txt"
        var stdinPath = "/dev/null"
        if let stdin {
            stdinPath = directory + "/in-\(unique).txt"
            try stdin.write(toFile: stdinPath, atomically: true, encoding: .utf8)
        }
        let input = open(stdinPath, O_RDONLY | O_CLOEXEC)
        let output = open(stdoutPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        let errors = open(stderrPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        let channel = open("/dev/null", O_WRONLY | O_CLOEXEC)
        defer { [input, output, errors, channel].forEach { close($0) } }
        var env = ProcessInfo.processInfo.environment
        env["PROC_LOG_LEVEL"] = env["PROC_LOG_LEVEL"] ?? "info"
        for (key, value) in environment { env[key] = value }
        let argv = [executable] + arguments
        var cArgv = argv.map { strdup($0) } + [nil]
        var cEnv = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            cArgv.forEach { free($0) }
            cEnv.forEach { free($0) }
        }
        var pid: pid_t = 0
        let rc = cspawn_spawn(&pid, executable, &cArgv, &cEnv, workingDirectory, input, output, errors, channel)
        guard rc == 0 else { throw TestError("cannot start \(executable): \(String(cString: strerror(rc)))") }
        self.pid = pid
    }

    deinit { _ = terminate(signal: SIGKILL, timeout: 5) }

    var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    /// The exit code (or 128 + signal) once exited, nil while running.
    func poll() -> Int32? {
        if let exitStatus { return exitStatus }
        var status: Int32 = 0
        let rc = waitpid(pid, &status, WNOHANG)
        guard rc == pid else { return nil }
        exitStatus = cspawn_wifexited(status) != 0 ? cspawn_wexitstatus(status) : 128 + cspawn_wtermsig(status)
        return exitStatus
    }

    func waitForExit(timeout: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let code = poll() { return code }
            usleep(10_000)
        }
        return poll()
    }

    /// Sends `signal`; after `timeout` SIGKILL. Returns the exit code.
    @discardableResult
    func terminate(signal: Int32 = SIGTERM, timeout: Double = 10) -> Int32? {
        if let code = poll() { return code }
        kill(pid, signal)
        if let code = waitForExit(timeout: timeout) { return code }
        kill(pid, SIGKILL)
        return waitForExit(timeout: 5)
    }

    /// Waits until stdout contains `text` (or the process exits, or `timeout`).
    func waitForOutput(_ text: String, timeout: Double = 20) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if stdout.contains(text) { return true }
            if poll() != nil { return stdout.contains(text) }
            usleep(20_000)
        }
        return false
    }
}

struct TestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Runs a command to completion (at most `timeout` seconds) and returns its exit code and output.
func run(_ executable: String, _ arguments: [String], stdin: String? = nil, environment: [String: String] = [:],
         timeout: Double = 60) throws -> (code: Int32, stdout: String, stderr: String) {
    let process = try TestProcess(executable, arguments, environment: environment, stdin: stdin)
    guard let code = process.waitForExit(timeout: timeout) else {
        process.terminate(signal: SIGKILL)
        throw TestError("\(executable) \(arguments.joined(separator: " ")) did not finish in \(timeout) s")
    }
    defer {
        unlink(process.stdoutPath)
        unlink(process.stderrPath)
    }
    return (code, process.stdout, process.stderr)
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes.
func eventually(timeout: Double = 10, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return true }
        usleep(20_000)
    }
    return try condition()
}

func makeTemporaryDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "proc-test-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}
