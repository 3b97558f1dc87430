import Foundation
import Glibc
import ProcClient
import ProcCore
import Testing

/// A real cluster of our binaries on loopback with dynamic ports and a temporary data directory:
/// a coordinator (standalone or not) and any number of agents. `stop()` ends every process by PID and
/// removes the directory; deinit does too, so a failing test leaves nothing behind.
final class TestCluster: @unchecked Sendable {
    let directory: String
    private(set) var coordinator: TestProcess
    /// "127.0.0.1:PORT" of the control socket, and the events endpoint.
    let control: String
    let eventsEndpoint: String
    private(set) var agents: [TestProcess] = []
    private var stopped = false
    private let coordinatorArguments: [String]

    init(standaloneSlots: Int? = nil, agents: [[String]] = [], coordinatorArguments: [String] = [],
         dataDirectory: String? = nil) throws {
        directory = try makeTemporaryDirectory()
        var arguments = [
            "start", "--listen", "tcp://127.0.0.1:*", "--events", "tcp://127.0.0.1:*",
            "--data-dir", dataDirectory ?? directory + "/data", "--heartbeat-ms", "200",
        ]
        if let standaloneSlots { arguments += ["--standalone", "--slots", String(standaloneSlots)] }
        self.coordinatorArguments = Array(arguments.dropFirst(5)) + coordinatorArguments  // all but the endpoints
        coordinator = try Self.startCoordinator(arguments + coordinatorArguments, directory: directory)
        let line = coordinator.stdout.split(separator: "\n").first { $0.contains("ready control=") }!
        func field(_ name: String) -> String {
            String(line.split(separator: " ").first { $0.hasPrefix(name + "=") }!.dropFirst(name.count + 1))
        }
        control = field("control").replacingOccurrences(of: "tcp://", with: "")
        eventsEndpoint = field("events")
        for extra in agents { try addAgent(extra) }
        if !agents.isEmpty {
            let expected = agents.count + (standaloneSlots == nil ? 0 : 1)
            guard eventually(timeout: 20, { (try? self.agentCount()) == expected }) else {
                throw TestError("agents did not join: \(try self.proc("agents").stdout)")
            }
        }
    }

    deinit { stop() }

    private static func startCoordinator(_ arguments: [String], directory: String) throws -> TestProcess {
        let coordinator = try TestProcess(binary("proc-coordinator"), arguments, directory: directory)
        guard coordinator.waitForOutput("ready control=") else {
            let log = coordinator.stderr
            coordinator.terminate(signal: SIGKILL)
            throw TestError("the coordinator did not start: \(log)")
        }
        return coordinator
    }

    /// `kill -9` the coordinator.
    func killCoordinator() {
        coordinator.terminate(signal: SIGKILL)
    }

    /// Starts the coordinator again on the same endpoints and data directory (after `killCoordinator`).
    func restartCoordinator(extraArguments: [String] = []) throws {
        coordinator.terminate(signal: SIGKILL)
        let arguments = ["start", "--listen", "tcp://\(control)", "--events", eventsEndpoint]
            + coordinatorArguments + extraArguments
        var lastError: (any Error)?
        for _ in 0..<20 {  // the old ports may take a moment to be free
            do {
                coordinator = try Self.startCoordinator(arguments, directory: directory)
                return
            } catch {
                lastError = error
                usleep(200_000)
            }
        }
        throw lastError!
    }

    /// `kill -9` an agent (by its index) and return it.
    @discardableResult
    func killAgent(_ index: Int) -> TestProcess {
        agents[index].terminate(signal: SIGKILL)
        return agents[index]
    }

    @discardableResult
    func addAgent(_ arguments: [String]) throws -> TestProcess {
        var arguments = arguments
        if !arguments.contains("--data-dir") {
            arguments += ["--data-dir", directory + "/agent-\(agents.count + 1)"]
        }
        let agent = try TestProcess(binary("proc-agent"), ["join", control] + arguments, directory: directory)
        agents.append(agent)
        return agent
    }

    func agentCount() throws -> Int {
        let result = try proc("agents", "--json")
        guard result.code == 0 else { return -1 }
        return try JSONDecoder().decode([AgentInfo].self, from: Data(result.stdout.utf8)).count
    }

    /// Runs `proc ARGS --coordinator CONTROL`.
    @discardableResult
    func proc(_ arguments: String..., stdin: String? = nil, timeout: Double = 60) throws
        -> (code: Int32, stdout: String, stderr: String)
    {
        try procArgs(arguments, stdin: stdin, timeout: timeout)
    }

    func procArgs(_ arguments: [String], stdin: String? = nil, timeout: Double = 60) throws
        -> (code: Int32, stdout: String, stderr: String)
    {
        // Options go before a `--` passthrough.
        var args = arguments
        let insertAt = args.firstIndex(of: "--") ?? args.count
        args.insert(contentsOf: ["--coordinator", control], at: insertAt)
        return try run(binary("proc"), args, stdin: stdin, timeout: timeout)
    }

    /// Submits one job and returns its id.
    func submit(_ arguments: String...) throws -> String {
        let result = try procArgs(["submit"] + arguments)
        guard result.code == 0 else { throw TestError("submit failed: \(result.stderr)") }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Every journaled event, via REPLAY (the same path `proc events --from-seq` uses).
    func history() async throws -> [Event] {
        let client = try ProcClient(coordinator: control)
        defer { client.close() }
        var all: [Event] = []
        var from: UInt64 = 1
        while true {
            let reply = try await client.replay(from: from, limit: 1_000)
            all += reply.events
            guard let last = reply.events.last, reply.events.count == 1_000 else { break }
            from = last.seq + 1
        }
        return all
    }

    func stop() {
        guard !stopped else { return }
        stopped = true
        for agent in agents { agent.terminate(signal: SIGTERM, timeout: 10) }
        coordinator.terminate(signal: SIGTERM, timeout: 10)
        try? FileManager.default.removeItem(atPath: directory)
    }
}
