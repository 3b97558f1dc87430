import ArgumentParser
import CSpawn
import Foundation
import Glibc
import Proc
import ProcClient
import ProcCommandSupport
import ProcCore
import ZeroMQ

/// proc-bench: proc against the floor, measured in the same process, interleaved (floor, proc, …, floor,
/// proc, …) so that machine drift hits all of them. The floor is the faster of two runners that capture,
/// journal and publish nothing: one posix_spawn + waitpid loop keeping K children busy, and K threads each
/// doing posix_spawn + waitpid. Prints the ratios (floor ÷ proc) for W1–W3 in single-host mode, with a
/// coordinator and an agent as separate processes, and through the CLI as a user types it
/// (`proc submit --batch F | proc wait -` against `proc-coordinator start --standalone`); with --peers,
/// xargs -P and GNU parallel on the same workloads; then the other measurements against their targets.
@main
struct ProcBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "proc-bench", abstract: "Measure proc against a posix_spawn floor, as ratios, and its other speeds.")

    @Flag(help: "A short run (fewer jobs, one round): a smoke test, not a measurement.")
    var quick = false

    @Option(help: "Rounds per workload (the runs alternate); the median is reported.")
    var rounds: Int = 3

    @Option(help: "Only these workloads (W1, W2, W3); repeatable.")
    var workload: [String] = []

    @Option(help: "Only these sections: ratios, functions, idle, submit, latency, agents; repeatable (default: all).")
    var section: [String] = []

    @Option(help: "W4 (functions): single, separate or both (default).")
    var w4 = "both"

    @Flag(help: "Also run xargs -P and GNU parallel (if installed) on W1–W3, interleaved with the rest.")
    var peers = false

    @Option(help: "Jobs for the submission benchmark (default 1000000; --quick 20000).")
    var submitJobs: Int?

    @Option(help: "Simulated agents (default 1000; --quick 100).")
    var agents: Int?

    @Option(help: "Jobs the simulated agents run (default 200000; --quick 5000).")
    var agentJobs: Int?

    struct Workload {
        let name: String
        let description: String
        let count: Int
        let parallel: Int
        let argv: [String]
    }

    static let all = [
        Workload(name: "W1", description: "/bin/true, 2 at a time", count: 2000, parallel: 2, argv: ["/bin/true"]),
        Workload(name: "W2", description: "sleep 0.02, 8 at a time", count: 400, parallel: 8, argv: ["/bin/sleep", "0.02"]),
        Workload(name: "W3", description: "sh loop of 30000, 2 at a time", count: 200, parallel: 2,
                 argv: ["/bin/sh", "-c", "i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done"]),
    ]
    static let sections = ["ratios", "functions", "idle", "submit", "latency", "agents"]

    func validate() throws {
        if rounds < 1 { throw ValidationError("--rounds must be at least 1") }
        if !["single", "separate", "both"].contains(w4) { throw ValidationError("--w4 must be single, separate or both") }
        let known = Set(Self.all.map(\.name))
        for name in workload where !known.contains(name.uppercased()) {
            throw ValidationError("unknown workload \(name) (W1, W2, W3)")
        }
        if let agents, agents < 1 { throw ValidationError("--agents must be at least 1") }
        if let agentJobs, agentJobs < 1 { throw ValidationError("--agent-jobs must be at least 1") }
        if let submitJobs, submitJobs < 1 { throw ValidationError("--submit-jobs must be at least 1") }
        for name in section where !Self.sections.contains(name) {
            throw ValidationError("unknown section \(name) (\(Self.sections.joined(separator: ", ")))")
        }
    }

    func wants(_ name: String) -> Bool { section.isEmpty || section.contains(name) }

    /// What is being measured now, on stderr (a full run takes minutes; the tables come at the end).
    func progress(_ what: String) {
        fflush(nil)  // what is already printed comes first, also when both go to one file
        FileHandle.standardError.write(Data("proc-bench: \(what)…\n".utf8))
    }

    func run() async throws {
        try bootstrapLogging(level: "warning")
        print("proc-bench: \(quick ? "quick (smoke test, not a measurement)" : "\(rounds) rounds"), "
              + "\(ProcessInfo.processInfo.activeProcessorCount) cores, binaries in \(binaryDirectory)")
        if wants("ratios") { try await ratios() }
        var rows: [[String]] = []
        if wants("functions") { rows += try await functions() }
        if wants("idle") {
            progress("an idle coordinator and agent")
            let (coordinator, agent) = try idleCPU(seconds: quick ? 1 : 5)
            rows.append(["idle coordinator + agent (heartbeats only)",
                         String(format: "%.2f%% + %.2f%% of a core", coordinator, agent), "< 1% of a core",
                         verdict(coordinator + agent < 1)])
        }
        if wants("submit") {
            // Submission alone (nothing else on the 2 cores), then the feed with ten subscribers.
            let count = submitJobs ?? (quick ? 20_000 : 1_000_000)
            progress("submitting \(count) jobs")
            let result = try await submitAndFeed(count: count, subscribers: 0, restart: true)
            let rate = Double(result.jobs) / result.seconds
            rows.append(["proc submit --batch of \(result.jobs) jobs, accepted durably",
                         String(format: "%.0f jobs/s (%.1f s)", rate, result.seconds), "≥ 50000 jobs/s", verdict(rate >= 50_000)])
            let perJob: Double = Double(result.residentKiB - result.residentBeforeKiB) * 1024 / Double(result.jobs)
            let resident: Double = Double(result.residentKiB) * 1024
            let atOneMillion: Double = resident + perJob * Double(1_000_000 - result.jobs)
            rows.append(["coordinator memory with \(result.jobs) pending jobs",
                         String(format: "%.0f MiB (%.0f B per job)", resident / 1_048_576, perJob),
                         "< 1 GiB at 1M", verdict(atOneMillion < 1_073_741_824)])
            if let seconds = result.restartSeconds {
                rows.append(["coordinator restart with \(result.jobs) pending jobs (kill -9, start to ready)",
                             String(format: "%.1f s", seconds), "(context)", ""])
            }
            progress("the feed to 10 Swift subscribers")
            let feed = try await submitAndFeed(count: quick ? 5_000 : 200_000, subscribers: 10)
            let feedRate = Double(feed.eventsPerSubscriber) / feed.feedSeconds
            rows.append(["feed: \(feed.jobs) job.submitted to \(feed.subscribers) subscribers, in order",
                         String(format: "%.0f events/s each; %d of %d seen; %d replayed", feedRate,
                                feed.eventsPerSubscriber, feed.jobs, feed.replayed),
                         "100000 events/s, none lost", verdict(feedRate >= 100_000 && feed.eventsPerSubscriber == feed.jobs)])
            let rawJobs = quick ? 5_000 : 200_000
            progress("the feed to 10 plain SUB sockets")
            let raw = try await submitAndRawFeed(count: rawJobs, subscribers: 10)
            let rawRate = Double(raw.seen) / raw.seconds
            rows.append(["  the same to 10 plain ZeroMQ SUB sockets (no decoding)",
                         String(format: "%.0f events/s each; %d of %d seen, in order", rawRate, raw.seen, rawJobs),
                         "100000 events/s, none lost", verdict(rawRate >= 100_000 && raw.seen == rawJobs)])
            progress("the feed's floor: a bare ZeroMQ PUB to 10 plain SUB sockets")
            let bare = try await bareFeed(sample: raw.sample, count: rawJobs, subscribers: 10)
            rows.append(["  floor: a bare ZeroMQ PUB sending the same events, no coordinator",
                         String(format: "%.0f events/s each; %d of %d seen, in order", bare.rate, bare.seen, rawJobs),
                         "(context)", ""])
        }
        if wants("latency") {
            // At a rate the machine sustains too, so queueing behind a backlog is told apart.
            progress("latency at 200 and 1000 jobs/s")
            let light = try await latency(rate: 200, seconds: quick ? 0.5 : 5)
            rows.append(["submit → job.started seen, at 200 jobs/s (\(light.jobs) jobs)",
                         String(format: "p50 %.2f ms, p99 %.2f ms", ms(light.submitToStarted.valueAtPercentile(50)),
                                ms(light.submitToStarted.valueAtPercentile(99))), "(context)", ""])
            let result = try await latency(rate: 1_000, seconds: quick ? 0.5 : 5)
            let s = result.submitToStarted, p = result.publishToReceive
            rows.append(["submit → job.started seen, at 1000 jobs/s (\(result.jobs) jobs)",
                         String(format: "p50 %.2f ms, p99 %.2f ms", ms(s.valueAtPercentile(50)), ms(s.valueAtPercentile(99))),
                         "p50 ≤ 2 ms, p99 ≤ 10 ms", verdict(ms(s.valueAtPercentile(50)) <= 2 && ms(s.valueAtPercentile(99)) <= 10)])
            // The same in single-host mode, which spawns /bin/true faster than separate processes do here.
            let single = try await latency(rate: 1_000, seconds: quick ? 0.5 : 5, standalone: true).submitToStarted
            rows.append(["  the same, single-host (\(single.totalCount) jobs)",
                         String(format: "p50 %.2f ms, p99 %.2f ms", ms(single.valueAtPercentile(50)),
                                ms(single.valueAtPercentile(99))),
                         "p50 ≤ 2 ms, p99 ≤ 10 ms",
                         verdict(ms(single.valueAtPercentile(50)) <= 2 && ms(single.valueAtPercentile(99)) <= 10)])
            rows.append(["event stamped → subscriber receives",
                         String(format: "p50 %.2f ms, p99 %.2f ms", ms(p.valueAtPercentile(50)), ms(p.valueAtPercentile(99))),
                         "p99 ≤ 5 ms", verdict(ms(p.valueAtPercentile(99)) <= 5)])
            // What one request costs, apart from any queue: the client process and the coordinator.
            let requests = try await clientRequests(count: quick ? 200 : 5_000)
            rows.append(["one SUBMIT at a time through the Swift client, each awaited",
                         String(format: "%.0f requests/s; CPU per request: client %.0f µs, coordinator %.0f µs",
                                requests.rate, requests.clientMicros, requests.coordinatorMicros),
                         "(context)", ""])
        }
        if wants("agents") {
            let count = agents ?? (quick ? 100 : 1_000)
            let jobs = agentJobs ?? (quick ? 5_000 : 200_000)
            progress("\(count) simulated agents")
            let run = try await simulatedAgents(agents: count, jobs: jobs)
            rows.append(["\(count) simulated agents, \(jobs) jobs dispatched and completed",
                         String(format: "%.0f jobs/s (%.1f s; coordinator CPU %.0f µs/job)", run.rate, run.seconds,
                                run.coordinatorMicrosPerJob),
                         "≥ 20000 jobs/s", verdict(run.rate >= 20_000)])
        }
        if !rows.isEmpty {
            print("")
            printTable(["measurement", "proc", "target", ""], rows)
        }
    }

    func verdict(_ met: Bool) -> String { quick ? "" : (met ? "met" : "NOT MET") }
    private func ms(_ micros: UInt64) -> Double { Double(micros) / 1000 }

    /// W1–W3: floor, single-host mode, separate processes (and peers), interleaved round by round.
    private func ratios() async throws {
        let chosen = Self.all.filter { workload.isEmpty || workload.map { $0.uppercased() }.contains($0.name) }
        let rounds = quick ? 1 : self.rounds
        let xargs = peers ? which("xargs") : nil
        var parallel = peers ? which("parallel") : nil
        if let found = parallel, !isGNUParallel(found) {
            print("\(found) is not GNU parallel (moreutils' has the same name): install GNU's (apt-get install parallel) to compare")
            parallel = nil
        } else if peers && parallel == nil {
            print("GNU parallel not found: install it (apt-get install parallel) to compare")
        }
        var header = ["workload", "floor", "standalone", "ratio", "added/job", "separate", "ratio", "CLI", "ratio"]
        if xargs != nil { header += ["xargs -P", "ratio"] }
        if parallel != nil { header += ["parallel", "ratio"] }
        var rows: [[String]] = []
        var floors: [String] = []
        for w in chosen {
            let count = quick ? max(w.count / 10, w.parallel) : w.count
            let standalone = try await ProcCluster.standalone(slots: w.parallel)
            let separate = try SeparateCluster(slots: w.parallel)
            let remote = try ProcClient(coordinator: separate.control, requestTimeout: 30)
            let single = try SeparateCluster(slots: w.parallel, standalone: true)
            let batch = NSTemporaryDirectory() + "proc-bench-batch-\(getpid())-\(w.name)"
            try String(repeating: String(decoding: try JSONEncoder().encode(w.argv), as: UTF8.self) + "\n", count: count)
                .write(toFile: batch, atomically: true, encoding: .utf8)
            defer { remote.close(); separate.stop(); single.stop(); unlink(batch) }
            let joinDeadline = monotonicSeconds() + 20
            while (try? await remote.agents().count) != 1 {
                guard monotonicSeconds() < joinDeadline else { throw BenchError("the separate agent did not join") }
                try await Task.sleep(for: .milliseconds(50))
            }
            var times: [String: [Double]] = [:]
            for round in 0..<rounds {
                progress("\(w.name), round \(round + 1) of \(rounds)")
                times["floor loop", default: []].append(try floorLoop(w.argv, count: count, parallel: w.parallel))
                times["standalone", default: []].append(try await viaProc(standalone.client, w.argv, count: count))
                times["separate", default: []].append(try await viaProc(remote, w.argv, count: count))
                times["floor threads", default: []].append(try floorThreads(w.argv, count: count, parallel: w.parallel))
                times["CLI", default: []].append(try viaCLI(single.control, batch: batch))
                if let xargs {
                    times["xargs", default: []].append(try viaPeer("xargs", path: xargs, w.argv, count: count, parallel: w.parallel))
                }
                if let parallel {
                    times["parallel", default: []].append(
                        try viaPeer("parallel", path: parallel, w.argv, count: count, parallel: w.parallel))
                }
            }
            await standalone.shutdown()
            let loop = median(times["floor loop"]!), threads = median(times["floor threads"]!)
            let f = min(loop, threads)
            floors.append(String(format: "%@: %@ (loop %.3f s, %d threads %.3f s)", w.name, loop <= threads ? "loop" : "threads",
                                 loop, w.parallel, threads))
            func cells(_ name: String) -> [String] {
                guard let values = times[name] else { return [] }
                let t = median(values)
                return [String(format: "%.3f s", t), String(format: "%.2f", f / t)]
            }
            let s = median(times["standalone"]!)
            var row = ["\(w.name) \(count) × \(w.description)", String(format: "%.3f s", f)] + cells("standalone")
                + [String(format: "%.0f µs", (s - f) / Double(count) * 1e6)] + cells("separate") + cells("CLI")
            row += cells("xargs") + cells("parallel")
            rows.append(row)
        }
        printTable(header, rows)
        print("floor: the faster of one posix_spawn loop and K threads each spawning and waiting; "
              + floors.joined(separator: "; "))
        print("targets: standalone W1 ≥ 0.85, W2 ≥ 0.97, W3 ≥ 0.98; separate W1 ≥ 0.75, W2 ≥ 0.95; CLI W1 ≥ 0.85")
    }

    /// K threads, each spawning a child and waiting for it, until `count` have run.
    private func floorThreads(_ argv: [String], count: Int, parallel: Int) throws -> Double {
        let devNull = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { close(devNull) }
        let shared = FloorThreads(count: count)
        let path = argv[0]
        let start = monotonicSeconds()
        let threads = (0..<parallel).map { _ in
            Thread {
                var argv = argv.map { strdup($0) } + [nil]
                var env: [UnsafeMutablePointer<CChar>?] = [strdup("PATH=/usr/bin:/bin"), nil]
                defer {
                    argv.forEach { free($0) }
                    env.forEach { free($0) }
                }
                while shared.take() {
                    var pid: pid_t = 0
                    let rc = cspawn_spawn(&pid, path, &argv, &env, nil, devNull, devNull, devNull, devNull)
                    guard rc == 0 else { shared.fail(rc); break }
                    var status: Int32 = 0
                    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                }
                shared.done()
            }
        }
        threads.forEach { $0.start() }
        shared.waitAll(parallel)
        let elapsed = monotonicSeconds() - start
        if let rc = shared.error { throw ValidationError("floor: cannot spawn \(path): \(String(cString: strerror(rc)))") }
        return elapsed
    }

    /// As a user types it: `proc submit --batch F | proc wait -`, against a single-host coordinator process.
    private func viaCLI(_ control: String, batch: String) throws -> Double {
        let proc = binaryDirectory + "/proc"
        let script = "\(proc) submit --coordinator \(control) --batch \(batch) | \(proc) wait --coordinator \(control) --quiet -"
        let start = monotonicSeconds()
        let child = try Child("/bin/sh", ["-c", script])
        guard let code = child.wait(timeout: 600), code == 0 else {
            throw BenchError("proc submit --batch | proc wait - failed: \(child.output.suffix(500))")
        }
        return monotonicSeconds() - start
    }

    /// K children busy at all times, one loop spawning and waiting for any of them.
    private func floorLoop(_ argv: [String], count: Int, parallel: Int) throws -> Double {
        let devNull = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { close(devNull) }
        var cArgv = argv.map { strdup($0) } + [nil]
        var cEnv: [UnsafeMutablePointer<CChar>?] = [strdup("PATH=/usr/bin:/bin"), nil]
        defer {
            cArgv.forEach { free($0) }
            cEnv.forEach { free($0) }
        }
        var running = Set<pid_t>()
        var started = 0, finished = 0
        let start = monotonicSeconds()
        while finished < count {
            while running.count < parallel && started < count {
                var pid: pid_t = 0
                let rc = cspawn_spawn(&pid, argv[0], &cArgv, &cEnv, nil, devNull, devNull, devNull, devNull)
                guard rc == 0 else { throw ValidationError("floor: cannot spawn \(argv[0]): \(String(cString: strerror(rc)))") }
                running.insert(pid)
                started += 1
            }
            var status: Int32 = 0
            let pid = waitpid(-1, &status, 0)
            if pid > 0, running.remove(pid) != nil { finished += 1 }
        }
        return monotonicSeconds() - start
    }

    /// The user path: one batch submit, then wait for all of them.
    private func viaProc(_ client: ProcClient, _ argv: [String], count: Int) async throws -> Double {
        let specs = [JobSpec](repeating: JobSpec(argv: argv), count: count)
        let start = monotonicSeconds()
        let ids = try await client.submit(specs)
        let jobs = try await client.wait(ids, timeout: 600)
        let elapsed = monotonicSeconds() - start
        guard jobs.count == count, jobs.allSatisfy({ $0.status == .completed }) else {
            throw ValidationError("proc: not every job completed")
        }
        return elapsed
    }
}

func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

func printTable(_ header: [String], _ rows: [[String]]) {
    let all = [header] + rows
    let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
    for row in all {
        print(row.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }
            .joined(separator: "  "))
    }
}

/// The K-thread floor's shared count of children left to start, and its end.
final class FloorThreads: @unchecked Sendable {
    private let condition = NSCondition()
    private var left: Int
    private var finished = 0
    private(set) var error: Int32?

    init(count: Int) { left = count }

    func take() -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard left > 0, error == nil else { return false }
        left -= 1
        return true
    }

    func fail(_ rc: Int32) {
        condition.lock()
        error = rc
        condition.unlock()
    }

    func done() {
        condition.lock()
        finished += 1
        condition.broadcast()
        condition.unlock()
    }

    func waitAll(_ threads: Int) {
        condition.lock()
        while finished < threads { condition.wait() }
        condition.unlock()
    }
}
