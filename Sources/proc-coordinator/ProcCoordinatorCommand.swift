import ArgumentParser
import Foundation
import Logging
import ProcAgent
import ProcCommandSupport
import ProcCoordinator
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

    @Option(help: "Seconds between SIGTERM and SIGKILL when a job is cancelled or times out (default 5).")
    var killGrace: Double?

    @Option(help: "Times a job's run may be lost with its agent before it ends error/lost (default 3).")
    var maxAttempts: Int?

    @Option(help: "After a restart, seconds runs in flight wait for their agents to reconnect (default 40).")
    var reconnectGrace: Double?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical (or PROC_LOG_LEVEL).")
    var logLevel: String?

    func validate() throws {
        if let slots, slots < 1 { throw ValidationError("--slots must be at least 1") }
        if !standalone && slots != nil { throw ValidationError("--slots needs --standalone") }
        if let heartbeatMs, heartbeatMs < 10 { throw ValidationError("--heartbeat-ms must be at least 10") }
        if let liveness, liveness < 1 { throw ValidationError("--liveness must be at least 1") }
        if let maxAttempts, maxAttempts < 1 { throw ValidationError("--max-attempts must be at least 1") }
        if let killGrace, killGrace < 0 { throw ValidationError("--kill-grace must be 0 or more") }
        if let reconnectGrace, reconnectGrace < 0 { throw ValidationError("--reconnect-grace must be 0 or more") }
    }

    func run() async throws {
        _ = bootstrapLogging(level: logLevel)
        let logger = Logger(label: "proc.coordinator")
        do {
            try await serve(logger: logger)
        } catch let error as CommandError {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(error.exitCode)
        } catch let error as CoordinatorError {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }

    private func serve(logger: Logger) async throws {
        let file = try ConfigFile.load(config)
        let environment = ProcessInfo.processInfo.environment
        var configuration = CoordinatorConfiguration()
        configuration.controlEndpoints = [
            bindEndpoint(listen ?? environment["PROC_LISTEN"] ?? file.coordinator?.listen ?? "tcp://*:5555", defaultPort: 5555)
        ]
        configuration.eventsEndpoint = bindEndpoint(
            events ?? environment["PROC_EVENTS"] ?? file.coordinator?.events ?? "tcp://*:5556", defaultPort: 5556)
        configuration.dataDirectory = dataDir ?? environment["PROC_DATA_DIR"] ?? file.coordinator?.dataDir ?? "./proc-data"
        configuration.heartbeatMilliseconds = heartbeatMs ?? file.coordinator?.heartbeatMs ?? 1_000
        configuration.liveness = liveness ?? file.coordinator?.liveness ?? 3
        configuration.cluster.cancelGraceMilliseconds = Int((killGrace ?? file.coordinator?.killGraceSeconds ?? 5) * 1000)
        configuration.cluster.maxLostAttempts = maxAttempts ?? file.coordinator?.maxAttempts ?? 3
        configuration.reconnectGraceMilliseconds = Int(
            (reconnectGrace ?? file.coordinator?.reconnectGraceSeconds ?? 40) * 1000)
        for (name, queue) in file.queues ?? [:] {
            if let limit = queue.maxRunning { configuration.queueLimits[name] = limit }
        }
        let inprocEndpoint = "inproc://proc-control"
        if standalone { configuration.controlEndpoints.append(inprocEndpoint) }

        let context = ZMQContext()
        let loop = EventLoop(name: "proc-coord", context: context)
        loop.start()
        let coordinator = Coordinator(configuration: configuration, loop: loop, logger: logger)
        try coordinator.start()

        let agent: Agent?
        if standalone {
            var agentConfiguration = AgentConfiguration(
                coordinatorEndpoint: inprocEndpoint, name: "\(AgentConfiguration.hostname())-standalone",
                slots: slots ?? ProcessInfo.processInfo.activeProcessorCount)
            agentConfiguration.labels = try parseLabels(labels)
            agentConfiguration.adoptsOrphans = true
            agentConfiguration.heartbeatMilliseconds = configuration.heartbeatMilliseconds
            agentConfiguration.liveness = configuration.liveness
            let built = Agent(configuration: agentConfiguration, loop: loop, logger: Logger(label: "proc.agent"))
            try built.start()
            agent = built
        } else {
            agent = nil
        }
        let control = coordinator.boundControlEndpoints.filter { !$0.hasPrefix("inproc://") }.joined(separator: ",")
        print("proc-coordinator ready control=\(control) events=\(coordinator.boundEventsEndpoint)"
              + (standalone ? " standalone slots=\(slots ?? ProcessInfo.processInfo.activeProcessorCount)" : ""))
        fflush(nil)

        let grace = configuration.cluster.cancelGraceMilliseconds
        let service = StopOnShutdown {
            agent?.stop(graceMilliseconds: grace)
            coordinator.stop()
            loop.stop()
            loop.join()
        }
        let group = ServiceGroup(
            services: [service], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await group.run()
    }
}
