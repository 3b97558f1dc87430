import Foundation
import Proc
import ProcCore
import Testing

extension Integration {
    /// The original API in Swift, against an in-process cluster, and the check-proc example.
    @Suite struct SwiftAPI {
        @Test func workersQueuesCallbacksAndEvents() async throws {
            let cluster = try await ProcCluster.standalone(slots: 2)
            let seen = Locked<[WorkerStatus]>([])
            let worker = cluster.createWorker(command: ["sh", "-c", "echo '{\"result\": \"done\"}' >&3"]) { _, status, _ in
                seen.withLock { $0.append(status) }
            }
            try await worker.start()
            let (status, result) = try await worker.join(timeout: 30)
            #expect(status == .completed && result == .string("done"))
            #expect(eventually { seen.withLock { $0.contains(.completed) } })
            #expect(seen.withLock { $0.first } == .pending)

            // An error inside a worker is captured as .error.
            let failing = cluster.createWorker(command: ["sh", "-c", "exit 9"])
            try await failing.start()
            #expect(try await failing.join(timeout: 30).0 == .error)

            // A queue with max_workers 2, ten workers; the feed as an AsyncSequence.
            let from = try await cluster.client.info().lastSeq + 1
            let events = cluster.events(topics: ["job."], from: from)
            let queue = try await cluster.createQueue(maxWorkers: 2)
            let workers = (0..<10).map { i in cluster.createWorker(command: ["sh", "-c", "echo '{\"result\": \(i)}' >&3"]) }
            for w in workers { try await queue.submit(w) }
            try await queue.shutdown(wait: true, timeout: 60)
            for (i, w) in workers.enumerated() {
                let (status, result) = try await queue.result(for: w.id!)
                #expect(status == .completed && result == .int(Int64(i)))
            }
            var completed = 0
            var running = 0
            var peak = 0
            for try await event in events {
                if event.type == .jobStarted { running += 1 }
                if event.status?.isFinal == true { running -= 1 }
                peak = max(peak, running)
                if event.type == .jobCompleted { completed += 1 }
                if completed == 10 { break }
            }
            #expect(peak <= 2, "max_workers honoured: peak \(peak)")
            let refused = await #expect(throws: ProcClientError.self) {
                try await queue.submit(cluster.createWorker(command: ["true"]))
            }
            #expect(refused?.code == .rejected && refused?.message.contains("shut down") == true)

            // Cancellation of a worker seen running: its command reports progress once it has started.
            let started = Locked(false)
            let sleeper = cluster.createWorker(command: ["sh", "-c", "echo '{\"progress\": 0}' >&3; exec sleep 30"]) {
                _, status, payload in
                if status == .running, payload != nil { started.withLock { $0 = true } }
            }
            try await sleeper.start()
            #expect(eventually(timeout: 20) { started.withLock { $0 } })
            try await sleeper.cancel()
            #expect(try await sleeper.join(timeout: 30).0 == .cancelled)
            let ended = try await cluster.client.result(sleeper.id!)
            #expect(ended.job.status == .cancelled && ended.job.signal == SIGTERM, "\(ended.job)")

            // A listener closure.
            let heard = Locked(0)
            let listener = try await cluster.subscribe(topics: ["job.completed"]) { _ in heard.withLock { $0 += 1 } }
            let last = cluster.createWorker(command: ["true"])
            try await last.start()
            _ = try await last.join(timeout: 30)
            #expect(eventually { heard.withLock { $0 } >= 1 })
            listener.cancel()
            await cluster.shutdown()
        }

        @Test(arguments: ["1", "2"]) func checkProcExample(pass: String) throws {
            let result = try run(binary("check-proc"), ["--pass", pass, "--jobs", "8"], timeout: 120)
            #expect(result.code == 0, "\(result.stdout)\n\(result.stderr)")
            #expect(result.stdout.contains("check-proc pass \(pass): OK, all 8 workers accounted for"))
            if pass == "2" { #expect(result.stdout.contains("monitor: ")) }
        }

        /// Against a coordinator whose agent offers check-proc's functions (check-proc is their host), and
        /// with --commands; one whose agents do not offer them is refused at once, saying what to do.
        @Test func checkProcAgainstACoordinator() throws {
            let cluster = try TestCluster(standaloneSlots: 3, coordinatorArguments: ["--functions", binary("check-proc")])
            defer { cluster.stop() }
            let result = try run(binary("check-proc"), ["--pass", "1", "--coordinator", cluster.control], timeout: 120)
            #expect(result.code == 0, "\(result.stdout)\n\(result.stderr)")
            #expect(result.stdout.contains("raised on purpose") && result.stdout.contains("4 progress reports seen"))
            let plain = try TestCluster(standaloneSlots: 2)
            defer { plain.stop() }
            let refused = try run(binary("check-proc"), ["--pass", "1", "--coordinator", plain.control], timeout: 60)
            #expect(refused.code == 1 && refused.stdout.contains("offers check-proc's functions"), "\(refused.stdout)")
            let commands = try run(binary("check-proc"), ["--pass", "2", "--commands", "--coordinator", plain.control],
                                   timeout: 120)
            #expect(commands.code == 0, "\(commands.stdout)\n\(commands.stderr)")
        }
    }
}

/// A value behind a lock, for callbacks in tests.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withLock<T>(_ body: (inout Value) -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}
