// check-proc: the original `misc/check_proc.py`, in Swift.
//
//   check-proc --pass 1   event-based monitoring: counts completions from the event feed, stops when all are done
//   check-proc --pass 2   a monitor thread polls callback-updated state every 0.5 s under a lock
//
// Against an in-process (standalone) cluster by default, or `--coordinator HOST[:PORT]`.
// Exits 0 only when every job is accounted for (completed, with the right result).
import ArgumentParser
import Foundation
import Proc

@main
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
            try await ProcCluster.standalone(slots: maxWorkers)
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

    /// The work: worker i computes i*i and reports it on fd 3.
    private func command(_ i: Int) -> [String] {
        ["sh", "-c", "sleep 0.1; echo '{\"progress\": 0.5}' >&3; echo '{\"result\": \(i * i)}' >&3"]
    }

    // MARK: pass 1

    private func eventBased(_ cluster: ProcCluster) async throws -> Bool {
        let queue = try await cluster.createQueue(maxWorkers: maxWorkers)
        // Listen first, so no completion is missed.
        let from = try await cluster.client.info().lastSeq + 1
        let events = cluster.events(topics: ["job."], from: from)
        let workers = (0..<jobs).map { cluster.createWorker(command: command($0)) }
        for worker in workers { try await queue.submit(worker) }
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
        return try await verify(workers, queue: queue)
    }

    // MARK: pass 2

    private func threadBased(_ cluster: ProcCluster) async throws -> Bool {
        let queue = try await cluster.createQueue(maxWorkers: maxWorkers)
        let states = SharedStates()
        let workers = (0..<jobs).map { i in
            cluster.createWorker(command: command(i)) { worker, status, _ in
                if let id = worker.id { states.update(id, status) }
            }
        }
        for worker in workers {
            try await queue.submit(worker)
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
        return try await verify(workers, queue: queue)
    }

    private func verify(_ workers: [Worker], queue: WorkQueue) async throws -> Bool {
        var ok = true
        for (i, worker) in workers.enumerated() {
            let (status, result) = try await queue.result(for: worker.id!)
            print("Worker \(worker.id!): \(status.rawValue), \(result?.description ?? "none")")
            if status != .completed || result != .int(Int64(i * i)) { ok = false }
        }
        return ok
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
