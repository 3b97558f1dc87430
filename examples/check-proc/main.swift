// check-proc: the original `misc/check_proc.py`, in Swift.
//
//   check-proc --pass 1   event-based monitoring: counts completions from the event feed, stops when all are done
//   check-proc --pass 2   a monitor thread polls callback-updated state every 0.5 s under a lock
//
// The workers are functions, as the original's `create_worker(target=function, args=(i,))`: this program
// is its own function host (`ProcFunctionHost.serveIfAsked` first in `main`). `--commands` runs the same
// work as shell commands instead. Against an in-process (standalone) cluster by default, or
// `--coordinator HOST[:PORT]` (whose agents must offer these functions: `--functions PATH-OF-check-proc`).
// Exits 0 only when every job is accounted for (completed, with the right result; the throwing worker
// with its error).
import ArgumentParser
import Foundation
import Proc

/// The original's `function(i)`: a moment of work, half-way progress, then i*i.
struct Compute: ProcFunction {
    struct Input: Codable, Sendable { var i: Int }
    static let name = "check-proc.compute"
    func run(_ input: Input, context: FunctionContext) async throws -> Int {
        try await Task.sleep(nanoseconds: 50_000_000)
        context.progress(0.5, message: "half-way through \(input.i)")
        try await Task.sleep(nanoseconds: 50_000_000)
        return input.i * input.i
    }
}

/// A worker whose function raises: the original's "an exception inside a worker is reported as ERROR".
struct Raise: ProcFunction {
    struct Input: Codable, Sendable { var message: String }
    struct Raised: Error, CustomStringConvertible { let description: String }
    static let name = "check-proc.raise"
    func run(_ input: Input, context: FunctionContext) async throws -> Int {
        throw Raised(description: input.message)
    }
}

/// Reports progress in steps, then returns how many.
struct Steps: ProcFunction {
    struct Input: Codable, Sendable { var steps: Int }
    static let name = "check-proc.steps"
    func run(_ input: Input, context: FunctionContext) async throws -> Int {
        for step in 1...input.steps {
            context.progress(Double(step) / Double(input.steps), message: "step \(step) of \(input.steps)")
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        return input.steps
    }
}

let checkProcFunctions: [any ProcFunction.Type] = [Compute.self, Raise.self, Steps.self]

@main
struct Main {
    static func main() async {
        if await ProcFunctionHost.serveIfAsked(functions: checkProcFunctions) { return }
        await CheckProc.main()
    }
}

struct CheckProc: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-proc", abstract: "The original proc example program: two ways to monitor workers.")

    @Option(help: "1: event-based monitoring; 2: a monitor thread over callback-updated state.")
    var pass: Int = 1

    @Option(help: "Use this coordinator (HOST[:PORT]) instead of an in-process cluster.")
    var coordinator: String?

    @Option(help: "How many workers.")
    var jobs: Int = 10

    @Option(help: "The queue's max_workers.")
    var maxWorkers: Int = 3

    @Option(help: "Give up after this many seconds.")
    var timeout: Double = 60

    @Flag(help: "Run the work as shell commands (fd 3 results) instead of functions.")
    var commands = false

    func validate() throws {
        guard pass == 1 || pass == 2 else { throw ValidationError("--pass must be 1 or 2") }
        guard (1...100_000).contains(jobs) else { throw ValidationError("--jobs must be between 1 and 100000") }
        guard (1...1_000).contains(maxWorkers) else { throw ValidationError("--max-workers must be between 1 and 1000") }
        guard timeout.isFinite, (0.001...365 * 86_400).contains(timeout) else {
            throw ValidationError("--timeout must be a number of seconds between 0.001 and 31536000; got \(timeout)")
        }
    }

    func run() async throws {
        let cluster = if let coordinator {
            try await ProcCluster.connect(coordinator)
        } else {
            try await ProcCluster.standalone(
                slots: maxWorkers, functionHosts: commands ? [] : [ProcFunctionHost.thisExecutable])
        }
        if coordinator != nil && !commands {
            let offered = (try? await cluster.client.agents())?.contains { $0.functions?.contains { $0.name == Compute.name } == true }
            guard offered == true else {
                await cluster.shutdown()
                print("error: no agent of \(coordinator!) offers check-proc's functions: start one with "
                      + "`proc-agent join \(coordinator!) --functions \(ProcFunctionHost.thisExecutable)`, or give --commands")
                throw ExitCode(1)
            }
        }
        let ok: Bool
        do {
            ok = pass == 1 ? try await eventBased(cluster) : try await threadBased(cluster)
        } catch {
            await cluster.shutdown()
            throw error
        }
        await cluster.shutdown()
        print(ok ? "check-proc pass \(pass): OK, all \(jobs) workers accounted for" : "check-proc pass \(pass): FAILED")
        if !ok { throw ExitCode(1) }
    }

    /// The command form of the work: worker i computes i*i and reports it on fd 3.
    private func command(_ i: Int) -> [String] {
        ["sh", "-c", "sleep 0.1; echo '{\"progress\": 0.5}' >&3; echo '{\"result\": \(i * i)}' >&3"]
    }

    /// Worker i: the function `Compute` with args (i,), or the same as a command.
    private func worker(
        _ cluster: ProcCluster, _ i: Int, callback: (@Sendable (String?, WorkerStatus) -> Void)? = nil
    ) throws -> Submittable {
        if commands {
            var untyped: (@Sendable (Worker, WorkerStatus, JSONValue?) -> Void)?
            if let callback {
                untyped = { (worker: Worker, status: WorkerStatus, _: JSONValue?) in callback(worker.id, status) }
            }
            return .command(cluster.createWorker(command: command(i), callback: untyped))
        }
        var typed: (@Sendable (FunctionWorker<Compute>, WorkerStatus, JSONValue?) -> Void)?
        if let callback {
            typed = { (worker: FunctionWorker<Compute>, status: WorkerStatus, _: JSONValue?) in callback(worker.id, status) }
        }
        return .function(try cluster.createWorker(Compute.self, args: .init(i: i), callback: typed))
    }

    // MARK: pass 1

    private func eventBased(_ cluster: ProcCluster) async throws -> Bool {
        let queue = try await cluster.createQueue(maxWorkers: maxWorkers)
        // Listen first, so no completion is missed.
        let from = try await cluster.client.info().lastSeq + 1
        let events = cluster.events(topics: ["job."], from: from)
        let workers = try (0..<jobs).map { try worker(cluster, $0) }
        for worker in workers { try await worker.submit(to: queue) }
        let ids = Set(workers.compactMap(\.id))
        print("submitted \(ids.count) workers to queue \(queue.name) (max_workers=\(maxWorkers))")

        var done = Set<String>()
        let deadline = Date().addingTimeInterval(timeout)
        for try await event in events {
            guard let id = event.jobID, ids.contains(id) else { continue }
            print("event: #\(event.seq) \(event.type.rawValue) \(id) \(event.status?.rawValue ?? "")")
            if event.status?.isFinal == true {
                if event.status == .completed { print("done: \(id), result: \(event.result?.description ?? "none")") }
                done.insert(id)
                if done.count == ids.count { break }
            }
            if Date() > deadline { break }
        }
        try await queue.shutdown(wait: true, timeout: timeout)
        return try await verify(workers, queue: queue, cluster: cluster)
    }

    // MARK: pass 2

    private func threadBased(_ cluster: ProcCluster) async throws -> Bool {
        let queue = try await cluster.createQueue(maxWorkers: maxWorkers)
        let states = SharedStates()
        let workers = try (0..<jobs).map { i in
            try worker(cluster, i) { id, status in
                if let id { states.update(id, status) }
            }
        }
        for worker in workers {
            try await worker.submit(to: queue)
            states.update(worker.id!, worker.status, onlyIfAbsent: true)
        }
        let total = workers.count
        // The monitor thread: polls the shared map every 0.5 s under its lock.
        let finished = DispatchSemaphore(value: 0)
        let monitor = Thread {
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline {
                let snapshot = states.snapshot()
                let counts = Dictionary(grouping: snapshot.values, by: { $0 }).mapValues(\.count)
                print("monitor: " + WorkerStatus.allCases.map { "\($0.rawValue) \(counts[$0] ?? 0)" }.joined(separator: ", "))
                if snapshot.count == total && snapshot.values.allSatisfy(\.isFinal) { break }
                Thread.sleep(forTimeInterval: 0.5)
            }
            finished.signal()
        }
        monitor.start()
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                finished.wait()
                continuation.resume()
            }
        }
        try await queue.shutdown(wait: true, timeout: timeout)
        return try await verify(workers, queue: queue, cluster: cluster)
    }

    private func verify(_ workers: [Submittable], queue: WorkQueue, cluster: ProcCluster) async throws -> Bool {
        var ok = true
        for (i, worker) in workers.enumerated() {
            let (status, result) = try await queue.result(for: worker.id!)
            print("Worker \(worker.id!): \(status.rawValue), \(result?.description ?? "none")")
            if status != .completed || result != .int(Int64(i * i)) { ok = false }
        }
        if !commands { ok = try await extras(cluster) && ok }
        return ok
    }

    /// The two other kinds of worker: one that raises (ERROR, with the error's type and message) and one
    /// that reports progress (each step seen in its callback).
    private func extras(_ cluster: ProcCluster) async throws -> Bool {
        let raising = try cluster.createWorker(Raise.self, args: .init(message: "raised on purpose"))
        try await raising.start()
        var ok = true
        do {
            _ = try await raising.join(timeout: timeout)
            print("Worker \(raising.id!): completed, but it should have raised")
            ok = false
        } catch let error as RemoteError {
            print("Worker \(raising.id!): \(error.status.rawValue) (\(error.reason?.rawValue ?? "")): \(error.type ?? "?"): \(error.message)")
            ok = error.status == .error && error.reason == .thrown && error.type == "Raised" && error.message == "raised on purpose"
        }
        let seen = SharedStates()
        let stepping = try cluster.createWorker(Steps.self, args: .init(steps: 4)) { worker, status, payload in
            if case .object(let object)? = payload, let message = object["message"], case .string(let text) = message {
                print("progress: \(worker.id ?? "?") \(text)")
                seen.update(text, status)
            }
        }
        try await stepping.start()
        let steps = try await stepping.join(timeout: timeout)
        print("Worker \(stepping.id!): completed, \(steps) steps, \(seen.snapshot().count) progress reports seen")
        return ok && steps == 4 && seen.snapshot().count == 4
    }
}

/// A command worker or a function worker: check-proc runs either.
enum Submittable {
    case command(Worker)
    case function(FunctionWorker<Compute>)

    var id: String? {
        switch self {
        case .command(let worker): worker.id
        case .function(let worker): worker.id
        }
    }

    var status: WorkerStatus {
        switch self {
        case .command(let worker): worker.status
        case .function(let worker): worker.status
        }
    }

    func submit(to queue: WorkQueue) async throws {
        switch self {
        case .command(let worker): try await queue.submit(worker)
        case .function(let worker): try await queue.submit(worker)
        }
    }
}

/// The original's shared map of worker states, behind a lock.
final class SharedStates: @unchecked Sendable {
    private let lock = NSLock()
    private var states: [String: WorkerStatus] = [:]

    func update(_ id: String, _ status: WorkerStatus, onlyIfAbsent: Bool = false) {
        lock.lock()
        defer { lock.unlock() }
        if onlyIfAbsent && states[id] != nil { return }
        // Never move a worker back from a final state (callbacks and polling can interleave).
        if let current = states[id], current.isFinal { return }
        states[id] = status
    }

    func snapshot() -> [String: WorkerStatus] {
        lock.lock()
        defer { lock.unlock() }
        return states
    }
}
