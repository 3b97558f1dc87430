import ArgumentParser
import CSpawn
import Foundation
import Glibc
import Proc
import ProcCommandSupport
import ProcCore

/// proc-bench: proc against the floor, a posix_spawn + waitpid loop keeping K children busy (no job
/// runner can beat it), measured in the same process, interleaved (floor, proc, floor, proc, …) so that
/// machine drift hits both. Prints one table: workload, floor, proc, ratio (floor ÷ proc), added time
/// per job. First cut (issue 5): the single-host user path (batch submit, journal on, events published,
/// wait for all), in-process.
@main
struct ProcBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "proc-bench", abstract: "Measure proc against a posix_spawn floor, as ratios.")

    @Flag(help: "A short run (a tenth of the jobs, one round): a smoke test, not a measurement.")
    var quick = false

    @Option(help: "Rounds per workload (floor and proc alternate); the median is reported.")
    var rounds: Int = 3

    @Option(help: "Only these workloads (W1, W2, W3); repeatable.")
    var workload: [String] = []

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

    func validate() throws {
        if rounds < 1 { throw ValidationError("--rounds must be at least 1") }
        let known = Set(Self.all.map(\.name))
        for name in workload where !known.contains(name.uppercased()) {
            throw ValidationError("unknown workload \(name) (W1, W2, W3)")
        }
    }

    func run() async throws {
        _ = bootstrapLogging(level: "warning")
        let chosen = Self.all.filter { workload.isEmpty || workload.map { $0.uppercased() }.contains($0.name) }
        let rounds = quick ? 1 : self.rounds
        print("proc-bench: \(quick ? "quick (smoke test, not a measurement)" : "\(rounds) rounds"), "
              + "\(ProcessInfo.processInfo.activeProcessorCount) cores")
        var rows: [[String]] = []
        for w in chosen {
            let count = quick ? max(w.count / 10, w.parallel) : w.count
            let cluster = try await ProcCluster.standalone(slots: w.parallel)
            var floors: [Double] = []
            var procs: [Double] = []
            for _ in 0..<rounds {
                floors.append(try floor(w.argv, count: count, parallel: w.parallel))
                procs.append(try await viaProc(cluster, w.argv, count: count))
            }
            await cluster.shutdown()
            let f = median(floors), p = median(procs)
            rows.append([
                "\(w.name) \(count) × \(w.description)", String(format: "%.3f s", f), String(format: "%.3f s", p),
                String(format: "%.2f", f / p), String(format: "%.0f µs", (p - f) / Double(count) * 1e6),
                String(format: "%.0f/s", Double(count) / p),
            ])
        }
        printTable(["workload", "floor", "proc standalone", "ratio", "added per job", "proc jobs/s"], rows)
    }

    /// K children busy at all times with posix_spawn + waitpid: the fastest a job runner can go.
    private func floor(_ argv: [String], count: Int, parallel: Int) throws -> Double {
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
    private func viaProc(_ cluster: ProcCluster, _ argv: [String], count: Int) async throws -> Double {
        let specs = [JobSpec](repeating: JobSpec(argv: argv), count: count)
        let start = monotonicSeconds()
        let ids = try await cluster.client.submit(specs)
        let jobs = try await cluster.client.wait(ids, timeout: 600)
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
