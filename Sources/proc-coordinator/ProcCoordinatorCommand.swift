import ArgumentParser
import Foundation
import Logging
import Proc
import ProcAgent
import ProcCommandSupport
import ProcCoordinator
import ProcCore
import ServiceLifecycle
import ZeroMQ

@main
struct ProcCoordinatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "proc-coordinator",
        abstract: "The proc coordinator: holds the queue, journals every change, publishes every event.",
        subcommands: [Start.self])
}

struct Start: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a coordinator (with --standalone, also an agent in the same process: single-host mode).")

    @Flag(help: "Also run an agent in this process (single-host mode).")
    var standalone = false

    @Option(help: "With --standalone: jobs run at once (default: the number of CPUs).")
    var slots: Int?

    @Option(name: .customLong("label"), help: "With --standalone: a label of the built-in agent (k=v); repeatable.")
    var labels: [String] = []

    @Option(name: .customLong("functions"), parsing: .upToNextOption, help: ArgumentHelp(
        "With --standalone: function host executables whose functions the built-in agent offers; repeatable.",
        valueName: "path"))
    var functions: [String] = []

    @Option(help: "With --standalone: calls one function host process serves before a fresh one takes its slot (default 0: no limit).")
    var maxCallsPerHost: Int?

    @Option(help: "Control endpoint for agents and clients (default tcp://*:5555; HOST:PORT also works).")
    var listen: String?

    @Option(help: "Event feed endpoint (default tcp://*:5556).")
    var events: String?

    @Option(help: "Where the journal lives (default ./proc-data).")
    var dataDir: String?

    @Option(help: "A TOML config file (or PROC_CONFIG).")
    var config: String?

    @Option(help: "Heartbeat interval in milliseconds (default 1000).")
    var heartbeatMs: Int?

    @Option(help: "Missed heartbeats before an agent is declared gone (default 3).")
    var liveness: Int?

    @Option(help: "Milliseconds a commit may wait to share its transaction while nobody waits on it (default 2; 0: never).")
    var commitHoldMs: Int?

    @Option(help: "Seconds between SIGTERM and SIGKILL when a job is cancelled or times out (default 5).")
    var killGrace: Double?

    @Option(help: "Times a job's run may be lost with its agent before it ends error/lost (default 3).")
    var maxAttempts: Int?

    @Option(help: "After a restart, seconds runs in flight wait for their agents to reconnect (default 40).")
    var reconnectGrace: Double?

    @Option(help: "The coordinator's secret certificate, NAME.key_secret (or PROC_CERT): turns CURVE on. Needs --authorized-keys.")
    var cert: String?

    @Option(help: ArgumentHelp(
        "A directory of the public certificates allowed in (or PROC_AUTHORIZED_KEYS), re-read when it changes and on SIGHUP.",
        discussion: "Each NAME.key gets the role in its metadata (role = \"agent\"), or of the folder it is in: agent/, client/, observer/."))
    var authorizedKeys: String?

    @Flag(help: "Allow listening on a network address without CURVE. Anyone who can reach the port can then run any command on every agent.")
    var insecure = false

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical (or PROC_LOG_LEVEL).")
    var logLevel: String?

    func validate() throws {
        try checkFlag(slots, "--slots", Bounds.slots)
        if !standalone && slots != nil { throw ValidationError("--slots needs --standalone") }
        if !standalone && !labels.isEmpty { throw ValidationError("--label needs --standalone") }
        if !standalone && !functions.isEmpty {
            throw ValidationError("--functions needs --standalone (agents on other hosts take it: proc-agent join HOST --functions PATH)")
        }
        if !standalone && maxCallsPerHost != nil { throw ValidationError("--max-calls-per-host needs --standalone") }
        try checkFlag(maxCallsPerHost, "--max-calls-per-host", Bounds.maxCallsPerHost)
        try checkFunctionHosts(functions)
        try checkFlag(heartbeatMs, "--heartbeat-ms", Bounds.heartbeatMilliseconds)
        try checkFlag(commitHoldMs, "--commit-hold-ms", Bounds.holdMilliseconds)
        try checkFlag(liveness, "--liveness", Bounds.liveness)
        try checkFlag(maxAttempts, "--max-attempts", Bounds.maxAttempts)
        try checkFlag(killGrace, "--kill-grace", Bounds.graceSeconds)
        try checkFlag(reconnectGrace, "--reconnect-grace", Bounds.reconnectGraceSeconds)
    }

    func run() async throws {
        do {
            try bootstrapLogging(level: logLevel)
            let logger = Logger(label: "proc.coordinator")  // after the bootstrap: a Logger made before keeps the default level
            raiseOpenFileLimit()
            try await serve(logger: logger)
        } catch let error as CommandError {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(error.exitCode)
        } catch let error as CoordinatorError {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(error.code == .dataDirectoryInUse ? 2 : 1)
        } catch let error as AgentError {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(error.code == .dataDirectoryInUse ? 2 : 1)
        }
    }

    private func serve(logger: Logger) async throws {
        let file = try ConfigFile.load(config)
        let environment = ProcessInfo.processInfo.environment
        var configuration = CoordinatorConfiguration()
        let givenListen = listen ?? environment["PROC_LISTEN"] ?? file.coordinator?.listen
        let givenEvents = events ?? environment["PROC_EVENTS"] ?? file.coordinator?.events
        configuration.controlEndpoints = [try bindEndpoint(givenListen ?? "tcp://*:5555", defaultPort: 5555,
                                                           option: "--listen")]
        configuration.eventsEndpoint = try bindEndpoint(givenEvents ?? "tcp://*:5556", defaultPort: 5556,
                                                        option: "--events")
        let loopbackOnly = try secure(&configuration, file: file, explicitListen: givenListen != nil,
                                      explicitEvents: givenEvents != nil, logger: logger)
        configuration.dataDirectory = dataDir ?? environment["PROC_DATA_DIR"] ?? file.coordinator?.dataDir ?? "./proc-data"
        // Numbers from flags were checked by validate(), those from the file when it was read.
        configuration.heartbeatMilliseconds = heartbeatMs ?? file.coordinator?.heartbeatMs ?? 1_000
        configuration.liveness = liveness ?? file.coordinator?.liveness ?? 3
        configuration.commitHoldMilliseconds = commitHoldMs ?? file.coordinator?.commitHoldMs ?? 2
        configuration.cluster.cancelGraceMilliseconds = try milliseconds(
            killGrace ?? file.coordinator?.killGraceSeconds ?? 5, "--kill-grace", Bounds.graceSeconds)
        configuration.cluster.maxLostAttempts = maxAttempts ?? file.coordinator?.maxAttempts ?? 3
        configuration.reconnectGraceMilliseconds = try milliseconds(
            reconnectGrace ?? file.coordinator?.reconnectGraceSeconds ?? 40, "--reconnect-grace",
            Bounds.reconnectGraceSeconds)
        for (name, limit) in file.queueLimits {
            if let problem = JobSpec.nameProblem(name, what: "queue name") {
                throw CommandError("config file: [queues.\(name)]: \(problem)", exitCode: 64)
            }
            configuration.queueLimits[name] = limit
        }
        var agent: AgentConfiguration?
        if standalone {
            var agentConfiguration = AgentConfiguration(
                coordinatorEndpoint: "", name: "\(AgentConfiguration.hostname())-standalone",
                slots: slots ?? min(ProcessInfo.processInfo.activeProcessorCount, Bounds.slots.range.upperBound))
            agentConfiguration.labels = try parseLabels(labels)
            agentConfiguration.adoptsOrphans = true
            agentConfiguration.prefetch = AgentConfiguration.linkedPrefetch(slots: agentConfiguration.slots)
            agentConfiguration.quickCallPrefetch = AgentConfiguration.quickCallPrefetch(slots: agentConfiguration.slots)
            agentConfiguration.stopGraceMilliseconds = configuration.cluster.cancelGraceMilliseconds
            agentConfiguration.functionHosts = try functionHostPaths(functions)
            agentConfiguration.maxCallsPerHost = maxCallsPerHost ?? 0
            agent = agentConfiguration
        }
        let cluster = LocalCluster(coordinator: configuration, agent: agent, logger: logger,
                                   agentLogger: Logger(label: "proc.agent"))
        try await cluster.start()
        if loopbackOnly {
            logger.notice(Logger.Message(stringLiteral:
                "no CURVE keys given: listening on loopback only, so only this host can connect. For agents on "
                    + "other hosts, give --cert and --authorized-keys (proc keygen makes them)"))
        }
        // SIGHUP: re-read the authorized keys now (they are also re-read within a second of a change).
        signal(SIGHUP, SIG_IGN)
        let hangup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        let coordinator = cluster.coordinator
        hangup.setEventHandler { coordinator.reloadKeys() }
        hangup.resume()
        defer { hangup.cancel() }

        let control = coordinator.boundControlEndpoints.filter { !$0.hasPrefix("inproc://") }.joined(separator: ",")
        print("proc-coordinator ready control=\(control) events=\(coordinator.boundEventsEndpoint)"
              + " security=\(configuration.securityMode)"
              + (agent.map { " standalone slots=\($0.slots)" } ?? "")
              + (cluster.agent.map { $0.functionNames.isEmpty ? "" : " functions=\($0.functionNames.joined(separator: ","))" } ?? ""))
        fflush(nil)
        do {
            try await ServiceGroup(services: [Serving(cluster: cluster)], gracefulShutdownSignals: [.sigterm, .sigint],
                                   logger: logger).run()
        } catch let error as CoordinatorError {
            throw CommandError(error.description, exitCode: 1)
        }
    }

    /// Secure by default (DESIGN §3): CURVE when keys are given; without keys, a network address only
    /// with --insecure. Default endpoints without keys become loopback ones (returns true); an explicit
    /// network endpoint without keys is refused.
    private func secure(
        _ configuration: inout CoordinatorConfiguration, file: ConfigFile, explicitListen: Bool, explicitEvents: Bool,
        logger: Logger
    ) throws -> Bool {
        let certPath = cert ?? ProcCommandSupport.environment("PROC_CERT") ?? file.coordinator?.cert
        let keysDirectory = authorizedKeys ?? ProcCommandSupport.environment("PROC_AUTHORIZED_KEYS")
            ?? file.coordinator?.authorizedKeys
        let insecure = self.insecure || file.coordinator?.insecure == true
        switch (certPath, keysDirectory) {
        case (let certPath?, let keysDirectory?):
            let keys = try loadSecretCertificate(certPath).keyPair!
            configuration.security = CoordinatorSecurity(keys: keys, authorizedKeysDirectory: keysDirectory)
            if insecure { logger.warning("--insecure is ignored: CURVE keys are given") }
            return false
        case (nil, nil):
            break
        case (nil, _):
            throw CommandError("--authorized-keys needs --cert too (the coordinator's secret certificate; see proc keygen)", exitCode: 2)
        case (_, nil):
            throw CommandError("--cert needs --authorized-keys too (the directory of certificates allowed in)", exitCode: 2)
        }
        let network = (configuration.controlEndpoints + [configuration.eventsEndpoint]).filter { !isLocalEndpoint($0) }
        guard !network.isEmpty else { return false }
        if insecure {
            configuration.insecure = true
            return false
        }
        let explicit = (explicitListen ? configuration.controlEndpoints : [])
            + (explicitEvents ? [configuration.eventsEndpoint] : [])
        if let endpoint = explicit.first(where: { !isLocalEndpoint($0) }) {
            throw CommandError(
                "refusing to listen on \(endpoint) without CURVE: anyone who reaches it could run any command on "
                    + "every agent. Give --cert and --authorized-keys (proc keygen makes them), listen on "
                    + "127.0.0.1, or pass --insecure on a network you trust", exitCode: 2)
        }
        configuration.controlEndpoints = configuration.controlEndpoints.map(loopback)
        configuration.eventsEndpoint = loopback(configuration.eventsEndpoint)
        return true
    }

    private func loopback(_ endpoint: String) -> String {
        endpoint.hasPrefix("tcp://*:") ? "tcp://127.0.0.1:" + endpoint.dropFirst("tcp://*:".count) : endpoint
    }
}

/// A started cluster as a Service: serves until SIGTERM/SIGINT, then stops its agent and coordinator.
private struct Serving: Service {
    let cluster: LocalCluster
    func run() async throws { try await cluster.serve() }
}
