import ArgumentParser
import Foundation
import Logging
import ProcAgent
import ProcClient
import ProcCommandSupport
import ProcCore
import ServiceLifecycle
import ZeroMQ

@main
struct ProcAgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "proc-agent",
        abstract: "A proc agent: joins a coordinator and runs the jobs it is sent as local subprocesses.",
        subcommands: [Join.self])
}

struct Join: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Join a coordinator and run jobs until stopped.")

    @Argument(help: "The coordinator, HOST[:PORT] (default port 5555); or set it in the config file.")
    var host: String?

    @Option(help: "Jobs run at once (default: the number of CPUs).")
    var slots: Int?

    @Option(help: ArgumentHelp(
        "Jobs held beyond the slots, each started the moment a slot frees (default 1, or max(4, slots) while "
            + "the last 8 runs each took 10 ms or less; 0: none).",
        discussion: "They count as running from the moment they are sent. The coordinator fills free slots "
            + "anywhere in the cluster before it fills any agent's prefetch. A number given here is fixed."))
    var prefetch: Int?

    @Option(help: ArgumentHelp(
        "How long a result may wait to go with the next ones, while every slot is busy and the last 8 runs each "
            + "took 10 ms or less (default 2; 0: never).",
        discussion: "It waits on disk, like a result sent and not yet acknowledged."))
    var resultHoldMs: Int?

    @Option(name: .customLong("label"), help: "A label jobs can require, k=v; repeatable.")
    var labels: [String] = []

    @Option(help: "This agent's name, unique in the cluster (default: HOSTNAME-PID).")
    var name: String?

    @Option(help: "A TOML config file (or PROC_CONFIG).")
    var config: String?

    @Option(help: "Bytes of stdout and of stderr kept per job, the last part (default 65536).")
    var outputLimit: Int?

    @Option(help: "Seconds running jobs get between SIGTERM and SIGKILL when the agent stops (default 5).")
    var stopGrace: Double = 5

    @Option(help: "Where unacknowledged results and run records are kept (default ./proc-agent-data/NAME).")
    var dataDir: String?

    @Option(help: "Longest wait in seconds between reconnect attempts (backoff from 1 s, with jitter; default 32).")
    var reconnectMax: Double?

    @Option(help: "This agent's secret certificate, NAME.key_secret (or PROC_CERT), for a coordinator with CURVE.")
    var cert: String?

    @Option(help: "The coordinator's public key: its .key file or the 40-character key (or PROC_COORDINATOR_KEY).")
    var coordinatorKey: String?
    @Option(help: ArgumentHelp(
        "Run jobs as this user, a name or uid (default: the agent's user). Naming another user needs root.",
        valueName: "user"))
    var runAs: String?

    @Option(name: .customLong("functions"), parsing: .upToNextOption, help: ArgumentHelp(
        "Function host executables whose functions this agent offers (each asked with --proc-describe); "
            + "repeatable, several after one flag.", valueName: "path"))
    var functions: [String] = []

    @Option(help: "Calls one function host process serves before a fresh one takes its slot (default 0: no limit).")
    var maxCallsPerHost: Int?

    @Option(help: "Log level (or PROC_LOG_LEVEL).")
    var logLevel: String?

    func validate() throws {
        try checkFlag(slots, "--slots", Bounds.slots)
        try checkFlag(prefetch, "--prefetch", Bounds.prefetch)
        try checkFlag(resultHoldMs, "--result-hold-ms", Bounds.holdMilliseconds)
        try checkFlag(outputLimit, "--output-limit", Bounds.outputLimit)
        try checkFlag(stopGrace, "--stop-grace", Bounds.graceSeconds)
        try checkFlag(reconnectMax, "--reconnect-max", Bounds.reconnectMaxSeconds)
        try checkFlag(maxCallsPerHost, "--max-calls-per-host", Bounds.maxCallsPerHost)
        try checkFunctionHosts(functions)
        if let name, let problem = AgentName.problem(name) { throw ValidationError("--name: \(problem)") }
    }

    func run() async throws {
        do {
            try bootstrapLogging(level: logLevel)
            let logger = Logger(label: "proc.agent")  // after the bootstrap: a Logger made before keeps the default level
            raiseOpenFileLimit()
            let file = try ConfigFile.load(config)
            guard let target = host ?? ProcessInfo.processInfo.environment["PROC_COORDINATOR"] ?? file.agent?.coordinator
            else { throw CommandError("which coordinator? Give HOST[:PORT] (e.g. proc-agent join 127.0.0.1)") }
            let address: CoordinatorAddress
            do { address = try CoordinatorAddress(target) } catch { throw CommandError(error.message, exitCode: 64) }
            let defaultName = "\(AgentConfiguration.hostname())-\(getpid())"
            let agentName = name ?? file.agent?.name ?? defaultName
            try checkAgentName(agentName, source: name != nil ? "--name" : file.agent?.name != nil ? "[agent] name" : "the host name")
            var configuration = AgentConfiguration(
                coordinatorEndpoint: address.controlEndpoint, name: agentName,
                slots: slots ?? file.agent?.slots ?? min(ProcessInfo.processInfo.activeProcessorCount, Bounds.slots.range.upperBound))
            configuration.labels = (file.agent?.labels ?? [:]).merging(try parseLabels(labels)) { $1 }
            if let problem = JobSpec.labelProblem(configuration.labels) {
                throw CommandError("[agent.labels]: \(problem)", exitCode: 64)
            }
            // Numbers from flags were checked by validate(), those from the file when it was read.
            if let prefetch = prefetch ?? file.agent?.prefetch {
                configuration.prefetch = prefetch
            } else {
                configuration.shortRunPrefetch = AgentConfiguration.linkedPrefetch(slots: configuration.slots)
                configuration.quickCallPrefetch = AgentConfiguration.quickCallPrefetch(slots: configuration.slots)
            }
            configuration.resultHoldMilliseconds = resultHoldMs ?? file.agent?.resultHoldMs
                ?? configuration.resultHoldMilliseconds
            configuration.adoptsOrphans = true
            configuration.dataDirectory = dataDir ?? file.agent?.dataDir ?? "./proc-agent-data/\(configuration.name)"
            if let reconnectMax {
                configuration.reconnectMaxMilliseconds = try milliseconds(reconnectMax, "--reconnect-max",
                                                                          Bounds.reconnectMaxSeconds)
                configuration.reconnectMinMilliseconds = min(configuration.reconnectMinMilliseconds,
                                                             configuration.reconnectMaxMilliseconds)
            }
            if let limit = outputLimit ?? file.agent?.outputLimit { configuration.outputLimit = limit }
            configuration.security = try loadClientKeys(
                cert: cert ?? environment("PROC_CERT") ?? file.agent?.cert,
                coordinatorKey: coordinatorKey ?? environment("PROC_COORDINATOR_KEY") ?? file.agent?.coordinatorKey)
            if let user = runAs ?? file.agent?.runAs { configuration.runAs = try runAsUser(user) }
            configuration.functionHosts = try functionHostPaths(functions.isEmpty ? file.agent?.functions ?? [] : functions)
            configuration.maxCallsPerHost = maxCallsPerHost ?? file.agent?.maxCallsPerHost ?? 0

            configuration.stopGraceMilliseconds = try milliseconds(stopGrace, "--stop-grace", Bounds.graceSeconds)
            let loop = EventLoop(name: "proc-agent", context: ZMQContext())
            loop.start()
            let agent = Agent(configuration: configuration, loop: loop, logger: logger)
            let stopReason = StopReason()
            agent.onReplaced = { message in
                stopReason.set("\(message); this agent stopped (give each agent its own --name)", exitCode: 3)
            }
            agent.onRefused = { message in stopReason.set("\(message); this agent stopped", exitCode: 4) }
            logJobUser(configuration.runAs, logger: logger)
            do {
                try await agent.start()
            } catch let error as AgentError {
                await loop.stopAndWait()
                throw CommandError(error.description, exitCode: error.code == .dataDirectoryInUse ? 2 : 1)
            }
            print("proc-agent \(configuration.name) joining \(address.controlEndpoint) slots=\(configuration.slots)"
                  + (agent.functionNames.isEmpty ? "" : " functions=\(agent.functionNames.joined(separator: ","))"))
            fflush(nil)
            // The agent may end by itself (the coordinator told it to stop): that ends the group normally.
            try await ServiceGroup(configuration: ServiceGroupConfiguration(
                services: [.init(service: Serving(agent: agent), successTerminationBehavior: .gracefullyShutdownGroup)],
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)).run()
            await loop.stopAndWait()
            loop.context.terminate()
            if let (message, code) = stopReason.get() { throw CommandError(message, exitCode: code) }
        } catch let error as CommandError {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(error.exitCode)
        }
    }
}

/// A started agent as a Service: runs until SIGTERM/SIGINT (or until the coordinator tells it to stop),
/// then stops.
private struct Serving: Service {
    let agent: Agent
    func run() async throws { await agent.serve() }
}

/// `--run-as USER`, looked up once; a user that does not exist, or another user while the agent is not root,
/// is a usage error (exit 2).
func runAsUser(_ user: String) throws -> RunAsUser {
    let target: RunAsUser
    do {
        target = try RunAsUser.lookup(user)
    } catch {
        throw CommandError("--run-as: \(error)", exitCode: 2)
    }
    if geteuid() != 0 && target.uid != geteuid() {
        throw CommandError(
            "--run-as \(user): only root can run jobs as another user, and this agent runs as uid \(geteuid()); "
                + "start it as root, or leave --run-as out to run jobs as the agent's own user", exitCode: 2)
    }
    return target
}

/// Says at startup whose rights jobs get.
func logJobUser(_ runAs: RunAsUser?, logger: Logger) {
    let uid = runAs?.uid ?? geteuid()
    let name = runAs?.name ?? (try? RunAsUser.lookup(String(uid)))?.name ?? String(uid)
    logger.info("jobs run as \(name)", metadata: [
        "user": .string(name), "uid": .stringConvertible(uid), "gid": .stringConvertible(runAs?.gid ?? getegid()),
    ])
}

