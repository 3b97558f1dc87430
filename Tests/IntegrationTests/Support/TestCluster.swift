import Foundation
import Glibc
import ProcCore
import Testing

/// Where a test cluster's processes run.
enum TestNetwork {
    /// Every process on this host's loopback, with dynamic ports.
    case loopback
    /// Simulated hosts (deploy/netns.sh): the coordinator in PREFIX-c (10.213.0.1:5555), agent N in
    /// PREFIX-aN. The CLI runs in the coordinator's namespace.
    case namespaces

    static var available: Bool {
        getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip")
    }
}

/// Path of deploy/netns.sh.
let netnsScript: String = {
    var root = URL(fileURLWithPath: #filePath)
    for _ in 0..<4 { root.deleteLastPathComponent() }
    return root.appendingPathComponent("deploy/netns.sh").path
}()

/// A real cluster of our binaries with a temporary data directory: a coordinator (standalone or not)
/// and any number of agents, on loopback or on simulated hosts. `stop()` ends every process by PID,
/// removes the namespaces and the directory; deinit does too, so a failing test leaves nothing behind.
final class TestCluster: @unchecked Sendable {
    let directory: String
    let network: TestNetwork
    private(set) var coordinator: TestProcess
    /// "HOST:PORT" of the control socket as the CLI reaches it, and the events endpoint.
    let control: String
    let eventsEndpoint: String
    private(set) var agents: [TestProcess] = []
    private var stopped = false
    private let coordinatorArguments: [String]
    /// The namespaces' prefix (namespaces only).
    let prefix: String
    /// CURVE on: the coordinator checks keys; agents and the CLI get keys of their own (`makeKey`).
    let secure: Bool
    var keysDirectory: String { directory + "/keys" }
    var authorizedDirectory: String { directory + "/keys/authorized" }

    /// `secure` defaults to on for simulated hosts (a network address needs CURVE) and off on loopback.
    init(standaloneSlots: Int? = nil, agents: [[String]] = [], coordinatorArguments: [String] = [],
         dataDirectory: String? = nil, network: TestNetwork = .loopback, secure: Bool? = nil) throws {
        directory = try makeTemporaryDirectory()
        self.network = network
        self.secure = secure ?? (network == .namespaces)
        prefix = "p" + String(UInt32.random(in: 0...0xFFFFF), radix: 16)
        if network == .namespaces {
            let up = try run("/bin/bash", [netnsScript, "up", prefix, String(agents.count)], timeout: 60)
            guard up.code == 0 else { throw TestError("netns.sh up failed: \(up.stderr)") }
        }
        var endpoints = ["--listen", "tcp://127.0.0.1:*", "--events", "tcp://127.0.0.1:*"]
        if network == .namespaces { endpoints = ["--listen", "tcp://*:5555", "--events", "tcp://*:5556"] }
        var arguments = ["--data-dir", dataDirectory ?? directory + "/data", "--heartbeat-ms", "200"]
        if let standaloneSlots { arguments += ["--standalone", "--slots", String(standaloneSlots)] }
        if self.secure {
            try FileManager.default.createDirectory(atPath: directory + "/keys/authorized", withIntermediateDirectories: true)
            _ = try Self.keygen("coordinator", role: nil, in: directory + "/keys")
            _ = try Self.keygen("client", role: "client", in: directory + "/keys", authorizeIn: directory + "/keys/authorized")
            arguments += ["--cert", directory + "/keys/coordinator.key_secret", "--authorized-keys", directory + "/keys/authorized"]
        }
        self.coordinatorArguments = arguments + coordinatorArguments
        let launcher = network == .namespaces ? ["/usr/sbin/ip", "netns", "exec", "\(prefix)-c"] : []
        do {
            coordinator = try Self.startCoordinator(launcher, ["start"] + endpoints + self.coordinatorArguments,
                                                    directory: directory)
        } catch {
            if network == .namespaces { _ = try? run("/bin/bash", [netnsScript, "down", prefix]) }
            throw error
        }
        let line = coordinator.stdout.split(separator: "\n").first { $0.contains("ready control=") }!
        func field(_ name: String) -> String {
            String(line.split(separator: " ").first { $0.hasPrefix(name + "=") }!.dropFirst(name.count + 1))
        }
        control = network == .namespaces ? "127.0.0.1:5555" : field("control").replacingOccurrences(of: "tcp://", with: "")
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

    private static func startCoordinator(_ launcher: [String], _ arguments: [String], directory: String) throws
        -> TestProcess
    {
        let command = launcher + [binary("proc-coordinator")] + arguments
        let coordinator = try TestProcess(command[0], Array(command.dropFirst()), directory: directory)
        guard coordinator.waitForOutput("ready control=") else {
            let log = coordinator.stderr
            coordinator.terminate(signal: SIGKILL)
            throw TestError("the coordinator did not start: \(log)")
        }
        return coordinator
    }

    /// The command prefix that runs a program on `host` ("c", "a1", …).
    private func launcher(_ host: String) -> [String] {
        network == .namespaces ? ["/usr/sbin/ip", "netns", "exec", "\(prefix)-\(host)"] : []
    }

    /// `kill -9` the coordinator.
    func killCoordinator() {
        coordinator.terminate(signal: SIGKILL)
    }

    /// Starts the coordinator again on the same endpoints and data directory (after `killCoordinator`).
    func restartCoordinator() throws {
        coordinator.terminate(signal: SIGKILL)
        let endpoints = network == .namespaces
            ? ["--listen", "tcp://*:5555", "--events", "tcp://*:5556"]
            : ["--listen", "tcp://\(control)", "--events", eventsEndpoint]
        var lastError: (any Error)?
        for _ in 0..<20 {  // the old ports may take a moment to be free
            do {
                coordinator = try Self.startCoordinator(
                    launcher("c"), ["start"] + endpoints + coordinatorArguments, directory: directory)
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

    /// Writes a key pair with `proc keygen` into the keys directory and, if `authorize`, puts its public
    /// certificate among the authorized ones. Returns the secret certificate's path.
    @discardableResult
    func makeKey(_ name: String, role: String?, authorize: Bool = true) throws -> String {
        try Self.keygen(name, role: role, in: keysDirectory, authorizeIn: authorize ? authorizedDirectory : nil)
    }

    private static func keygen(_ name: String, role: String?, in directory: String, authorizeIn: String? = nil) throws -> String {
        let result = try run(binary("proc"), ["keygen", name, "--dir", directory] + (role.map { ["--role", $0] } ?? []))
        guard result.code == 0 else { throw TestError("proc keygen \(name): \(result.stderr)") }
        if let authorizeIn {
            try FileManager.default.copyItem(atPath: "\(directory)/\(name).key", toPath: "\(authorizeIn)/\(name).key")
        }
        return "\(directory)/\(name).key_secret"
    }

    /// `--cert SECRET --coordinator-key COORDINATOR.key` for a key made by `makeKey`.
    func keyArguments(_ secretPath: String) -> [String] {
        ["--cert", secretPath, "--coordinator-key", keysDirectory + "/coordinator.key"]
    }

    /// Starts an agent; on namespaces, agent N (from 1, in start order) runs on host aN, or on `host`.
    /// On a secure cluster it gets an authorized agent key unless `arguments` has a --cert.
    @discardableResult
    func addAgent(_ arguments: [String], host: String? = nil) throws -> TestProcess {
        var arguments = arguments
        if !arguments.contains("--data-dir") {
            arguments += ["--data-dir", directory + "/agent-\(agents.count + 1)"]
        }
        if secure && !arguments.contains("--cert") {
            let name = "agent-\(agents.count + 1)-\(UInt32.random(in: 0...UInt32.max))"
            arguments += keyArguments(try makeKey(name, role: "agent"))
        }
        let target = network == .namespaces ? "10.213.0.1:5555" : control
        let command = launcher(host ?? "a\(agents.count + 1)") + [binary("proc-agent"), "join", target] + arguments
        let agent = try TestProcess(command[0], Array(command.dropFirst()), directory: directory)
        agents.append(agent)
        return agent
    }

    /// Takes a host's network link down, or brings it back (namespaces only).
    func cutLink(_ host: String) throws { try netns("cut", host) }
    func restoreLink(_ host: String) throws { try netns("restore", host) }

    private func netns(_ command: String, _ host: String) throws {
        precondition(network == .namespaces, "links exist on namespaces only")
        let result = try run("/bin/bash", [netnsScript, command, prefix, host], timeout: 30)
        guard result.code == 0 else { throw TestError("netns.sh \(command) \(host): \(result.stderr)") }
    }

    func agentCount() throws -> Int {
        let result = try proc("agents", "--json")
        guard result.code == 0 else { return -1 }
        return try JSONDecoder().decode([AgentInfo].self, from: Data(result.stdout.utf8)).count
    }

    /// Runs `proc ARGS --coordinator CONTROL` (on the coordinator's host).
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
        var options = ["--coordinator", control]
        if secure && !args.contains("--cert") { options += keyArguments(keysDirectory + "/client.key_secret") }
        args.insert(contentsOf: options, at: insertAt)
        let command = launcher("c") + [binary("proc")] + args
        return try run(command[0], Array(command.dropFirst()), stdin: stdin, timeout: timeout)
    }

    /// Submits one job and returns its id.
    func submit(_ arguments: String...) throws -> String {
        let result = try procArgs(["submit"] + arguments)
        guard result.code == 0 else { throw TestError("submit failed: \(result.stderr)") }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Runs `proc ARGS --json` and decodes what it prints.
    func procJSON<T: Decodable>(_ type: T.Type, _ arguments: String...) throws -> T {
        let result = try procArgs(arguments + ["--json"])
        guard result.code == 0 else { throw TestError("proc \(arguments.joined(separator: " ")): \(result.stderr)") }
        return try JSONDecoder().decode(T.self, from: Data(result.stdout.utf8))
    }

    /// A job's status (`proc status ID --json`).
    func status(_ id: String) throws -> JobStatus {
        guard let job = try procJSON(StatusReply.self, "status", id).jobs.first(where: { $0.id == id }) else {
            throw TestError("proc status \(id) did not list it")
        }
        return job.status
    }

    /// Everything about a job (`proc result ID --json`).
    func result(_ id: String) throws -> ResultReply { try procJSON(ResultReply.self, "result", id) }

    /// The names of the agents joined (`proc agents --json`).
    func agentNames() throws -> [String] { try procJSON([AgentInfo].self, "agents").map(\.id) }

    /// The queues' names (`proc queue --json`).
    func queueNames() throws -> [String] { try procJSON([QueueInfo].self, "queue").map(\.name) }

    /// Every journaled event (`proc events --json --no-follow`, answered by REPLAY).
    func history() async throws -> [Event] {
        let result = try proc("events", "--json", "--no-follow", timeout: 60)
        guard result.code == 0 else { throw TestError("proc events --no-follow: \(result.stderr)") }
        let decoder = JSONDecoder()
        return try result.stdout.split(separator: "\n").map { try decoder.decode(Event.self, from: Data($0.utf8)) }
    }

    /// How many jobs have completed so far.
    func completedCount() -> Int {
        guard let text = try? proc("status", "--json").stdout,
            let reply = try? JSONDecoder().decode(StatusReply.self, from: Data(text.utf8))
        else { return 0 }
        return reply.counts["completed"] ?? 0
    }

    func stop() {
        guard !stopped else { return }
        stopped = true
        for agent in agents { agent.terminate(signal: SIGTERM, timeout: 10) }
        coordinator.terminate(signal: SIGTERM, timeout: 10)
        if network == .namespaces { _ = try? run("/bin/bash", [netnsScript, "down", prefix], timeout: 60) }
        try? FileManager.default.removeItem(atPath: directory)
    }
}
