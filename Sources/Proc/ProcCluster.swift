import Foundation
import Logging
import ProcAgent
@_exported import ProcClient
import ProcCoordinator
import ProcCore
@_exported import ProcFunctions
@_exported import ProcWire
import ZeroMQ

/// The five states of a worker: the original `WorkerStatus` (pending, running, completed, error, cancelled).
public typealias WorkerStatus = JobStatus

/// A proc cluster, from Swift: the original `proc` module's API (create workers and queues, callbacks,
/// events, cancellation; an error inside a worker is captured as `.error`).
///
/// `connect` joins a running coordinator; `standalone` runs a coordinator and an agent inside this
/// process (single-host mode), reachable over inproc (and over TCP too when `listen` is given).
public final class ProcCluster: Sendable {
    public let client: ProcClient
    private let local: LocalCluster?
    let router: EventRouter

    private init(client: ProcClient, local: LocalCluster?) {
        self.client = client
        self.local = local
        self.router = EventRouter(client: client)
    }

    /// Joins a running coordinator at `HOST[:PORT]` or `tcp://HOST:PORT`. Fails (after `requestTimeout`)
    /// when nothing answers there.
    public static func connect(_ coordinator: String, requestTimeout: Double = 5) async throws -> ProcCluster {
        try await connect(coordinator, security: nil, requestTimeout: requestTimeout)
    }

    /// Joins a coordinator that uses CURVE (README, Security). `certificate` is this program's secret
    /// certificate (`NAME.key_secret`, as `proc keygen` or pyzmq write it); `coordinatorKey` the
    /// coordinator's public certificate (`.key` file) or its 40-character Z85 key. A key the coordinator
    /// refuses fails at once with `ProcClientError.Code.unauthorized`.
    public static func connect(
        _ coordinator: String, certificate: String, coordinatorKey: String, requestTimeout: Double = 5
    ) async throws -> ProcCluster {
        let own = try Certificate.load(path: certificate)
        guard let keys = own.keyPair else {
            throw ProcClientError(.badAddress, "\(certificate) holds no secret key: give the NAME.key_secret file")
        }
        let serverKey = try Certificate.publicKey(keyOrPath: coordinatorKey)
        return try await connect(coordinator, security: CurveClientKeys(keys: keys, serverKey: serverKey),
                                 requestTimeout: requestTimeout)
    }

    private static func connect(
        _ coordinator: String, security: CurveClientKeys?, requestTimeout: Double
    ) async throws -> ProcCluster {
        let client = try ProcClient(coordinator: coordinator, requestTimeout: requestTimeout, security: security)
        do {
            _ = try await client.info()
        } catch {
            await client.shutdown()
            throw error
        }
        return ProcCluster(client: client, local: nil)
    }

    /// Runs a coordinator and an agent with `slots` slots in this process. The journal goes to
    /// `dataDirectory` (default: a new temporary directory, removed by `shutdown`). With `listen` (an
    /// endpoint such as "tcp://127.0.0.1:*") the cluster is also reachable from other processes.
    ///
    /// `functionHosts`: function host executables whose functions the agent offers (a program that is its
    /// own host gives `[ProcFunctionHost.thisExecutable]` and calls `ProcFunctionHost.serveIfAsked` first
    /// in its `main`). `maxCallsPerHost`: calls one host process serves before a fresh one (0: no limit).
    public static func standalone(
        slots: Int = ProcessInfo.processInfo.activeProcessorCount, dataDirectory: String? = nil,
        listen: String? = nil, events: String? = nil, functionHosts: [String] = [], maxCallsPerHost: Int = 0,
        logger: Logger = Logger(label: "proc.standalone")
    ) async throws -> ProcCluster {
        guard Bounds.slots.range.contains(slots) else {
            throw ProcClientError(.rejected, "slots \(Bounds.slots.problem(slots) ?? "")")
        }
        let unique = "\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        let inprocEndpoint = "inproc://proc-control-\(unique)"
        var temporaryDirectory: String?
        var directory = dataDirectory
        if directory == nil {
            let path = NSTemporaryDirectory() + "proc-standalone-\(unique)"
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            directory = path
            temporaryDirectory = path
        }
        var configuration = CoordinatorConfiguration()
        configuration.controlEndpoints = [inprocEndpoint] + (listen.map { [$0] } ?? [])
        configuration.eventsEndpoint = events ?? (listen == nil ? "inproc://proc-events-\(unique)" : "tcp://127.0.0.1:*")
        configuration.dataDirectory = directory!
        var agent = AgentConfiguration(coordinatorEndpoint: inprocEndpoint,
                                       name: "\(AgentConfiguration.hostname())-local", slots: slots)
        agent.prefetch = AgentConfiguration.linkedPrefetch(slots: slots)
        agent.quickCallPrefetch = AgentConfiguration.quickCallPrefetch(slots: slots)
        agent.stopGraceMilliseconds = 2_000
        agent.functionHosts = functionHosts
        agent.maxCallsPerHost = max(0, maxCallsPerHost)
        let local = LocalCluster(coordinator: configuration, agent: agent, logger: logger,
                                 temporaryDirectory: temporaryDirectory)
        try await local.start()
        do {
            // Its own loop thread: the client's decoding and routing beside the cluster's loop, not on it.
            let client = try ProcClient(coordinator: inprocEndpoint, context: local.loop.context)
            return ProcCluster(client: client, local: local)
        } catch {
            await local.stop()
            throw error
        }
    }

    /// The TCP control endpoint of a standalone cluster started with `listen`.
    public var controlEndpoint: String? {
        local?.coordinator.boundControlEndpoints.first { $0.hasPrefix("tcp://") }
    }

    /// The coordinator of a standalone cluster (for the benchmark's counts).
    package var localCoordinator: Coordinator? { local?.coordinator }

    /// The event feed's endpoint of a standalone cluster.
    public var eventsEndpoint: String? { local?.coordinator.boundEventsEndpoint }

    // MARK: the original API

    /// A worker that runs `command` (an argv) when started. `callback(worker, status, result)` is called
    /// on every change of its state (and with `.running` and `{"progress":…,"message":…}` on progress).
    public func createWorker(
        command: [String], environment: [String: String]? = nil, workingDirectory: String? = nil,
        timeout: Double? = nil, labels: [String: String]? = nil, priority: Int? = nil,
        callback: (@Sendable (Worker, WorkerStatus, JSONValue?) -> Void)? = nil
    ) -> Worker {
        Worker(
            cluster: self,
            spec: JobSpec(argv: command, env: environment, cwd: workingDirectory, priority: priority,
                          timeout: timeout, labels: labels),
            callback: callback)
    }

    /// A worker that calls `function` with `args` when started: the original
    /// `create_worker(target=f, args=(…))`. `join()` returns the typed output or throws `RemoteError`;
    /// `callback(worker, status, result)` is called on every change of its state, as for commands.
    public func createWorker<Function: ProcFunction>(
        _ function: Function.Type, args: Function.Input, timeout: Double? = nil, labels: [String: String]? = nil,
        priority: Int? = nil, isolated: Bool = false,
        callback: (@Sendable (FunctionWorker<Function>, WorkerStatus, JSONValue?) -> Void)? = nil
    ) throws -> FunctionWorker<Function> {
        let spec = JobSpec(function: function.name, args: try FunctionCoding.encode(args), isolated: isolated ? true : nil,
                           priority: priority, timeout: timeout, labels: labels)
        // The callback names the typed worker, which holds it: a cycle the worker's tracker breaks at the
        // job's final event (it drops its callback then).
        let box = Box<FunctionWorker<Function>>()
        var untyped: (@Sendable (Worker, WorkerStatus, JSONValue?) -> Void)?
        if let callback {
            untyped = { (_: Worker, status: WorkerStatus, result: JSONValue?) in
                if let typed = box.value { callback(typed, status, result) }
            }
        }
        let worker = Worker(cluster: self, spec: spec, callback: untyped, followsEvents: true)
        let typed = FunctionWorker<Function>(worker: worker, input: args)
        box.value = typed
        return typed
    }

    /// Calls `function` once per input, submitted in batches, on `queue` (nil: the default queue): the
    /// outcomes come as the calls end, each with the index of its input.
    public func map<Function: ProcFunction>(
        _ function: Function.Type, _ inputs: [Function.Input], queue: String? = nil, timeout: Double? = nil,
        batchSize: Int = 2_000
    ) -> AsyncThrowingStream<MapResult<Function.Output>, any Error> {
        BulkCall<Function>(cluster: self, inputs: inputs, queue: queue, timeout: timeout, batchSize: batchSize).stream()
    }

    func map<Function: ProcFunction>(
        _ function: Function.Type, _ inputs: [Function.Input], queue: String, timeout: Double?, batchSize: Int,
        onSubmitted: @escaping @Sendable ([JobID]) -> Void
    ) -> AsyncThrowingStream<MapResult<Function.Output>, any Error> {
        BulkCall<Function>(cluster: self, inputs: inputs, queue: queue, timeout: timeout, batchSize: batchSize,
                           onSubmitted: onSubmitted).stream()
    }

    /// A queue whose workers run at most `maxWorkers` at once across the cluster.
    public func createQueue(maxWorkers: Int, name: String? = nil) async throws -> WorkQueue {
        guard maxWorkers >= 1 else { throw ProcClientError(.rejected, "maxWorkers must be at least 1, not \(maxWorkers)") }
        if let name, let problem = JobSpec.nameProblem(name, what: "queue name") {
            throw ProcClientError(.rejected, problem)
        }
        let name = name ?? "queue-\(UInt32.random(in: 0...UInt32.max))"
        try await client.setQueueLimit(name, maxRunning: maxWorkers)
        return WorkQueue(cluster: self, name: name, maxWorkers: maxWorkers)
    }

    /// Every event from now on (or from `seq`), complete and in order. `topics` are prefixes.
    public func events(topics: [String] = [], from seq: UInt64? = nil) -> EventStream {
        client.events(topics: topics, from: seq)
    }

    /// Calls `listener` with every event from now on, until the returned subscription is cancelled.
    public func subscribe(
        topics: [String] = [], _ listener: @escaping @Sendable (Event) -> Void
    ) async throws -> EventListener {
        let from = try await client.info().lastSeq + 1
        let stream = client.events(topics: topics, from: from)
        let task = Task {
            for try await event in stream { listener(event) }
        }
        return EventListener(task: task)
    }

    /// Releases everything: the client; for a standalone cluster also the agent (its running jobs are
    /// ended), the coordinator, and a temporary journal. Always call it after use.
    public func shutdown() async {
        router.stop()
        await client.shutdown()
        await local?.stop()
    }

    /// Released without `shutdown()` (an early return, a thrown error): released all the same.
    deinit {
        router.stop()
        client.close()
        local?.stopBlocking()
    }
}

/// A reference set once, after the closure that reads it was made (a callback that names its own worker).
final class Box<T: AnyObject>: @unchecked Sendable {
    var value: T?
}

/// A listener registered with `ProcCluster.subscribe`.
public final class EventListener: Sendable {
    private let task: Task<Void, any Error>
    init(task: Task<Void, any Error>) { self.task = task }
    public func cancel() { task.cancel() }
}
