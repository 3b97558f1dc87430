import Foundation
import Histogram
import Proc

/// proc-example-functions' `pair`, as the benchmark calls it: `{"i": n}` → `{"i": n, "sq": n*n}`.
struct Pair: ProcFunction {
    struct Input: Codable, Sendable { var i: Int }
    struct Output: Codable, Sendable, Equatable { var i: Int; var sq: Int }
    static let name = "pair"
    func run(_ input: Input, context: FunctionContext) async throws -> Output { Output(i: input.i, sq: input.i &* input.i) }
}

let exampleFunctionsPath = binaryDirectory + "/proc-example-functions"

struct FunctionFigures {
    var singleHost: [Double] = []
    var separate: [Double] = []
    /// CPU per call (µs): this process (client and single-host cluster), and the function hosts.
    var singleCPU: [(cluster: Double, hosts: Double)] = []
    var latency: Histogram<UInt64>?
    var commitsPerCall = 0.0
}

/// W4: `count` calls of `pair`, each made through the Swift API on its own (a worker created, started
/// and joined in a task of its own, none awaited before the next is made, as the original submits one
/// worker per call), timed until every result is back. Every call is a job: journaled, evented, fenced.
func functionCalls(_ cluster: ProcCluster, count: Int) async throws -> Double {
    let start = monotonicSeconds()
    try await withThrowingTaskGroup(of: Bool.self) { group in
        for i in 0..<count {
            group.addTask {
                let worker = try cluster.createWorker(Pair.self, args: .init(i: i))
                try await worker.start()
                return try await worker.join() == Pair.Output(i: i, sq: i * i)
            }
        }
        for try await right in group where !right { throw BenchError("W4: a call returned a wrong result") }
    }
    return monotonicSeconds() - start
}

/// One call at a time on an idle cluster: submit → typed result, in microseconds.
func functionLatency(_ cluster: ProcCluster, calls: Int) async throws -> Histogram<UInt64> {
    var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
    for i in 0..<calls {
        let start = monotonicSeconds()
        let worker = try cluster.createWorker(Pair.self, args: .init(i: i))
        try await worker.start()
        guard try await worker.join() == Pair.Output(i: i, sq: i * i) else { throw BenchError("W4: a wrong result") }
        histogram.record(UInt64((monotonicSeconds() - start) * 1e6))
    }
    return histogram
}

extension ProcBench {
    /// W4 in single-host mode (a cluster in this process) and with a coordinator and an agent as separate
    /// processes, alternated round by round; then one call's latency on an idle single-host cluster.
    func functions() async throws -> [[String]] {
        guard access(exampleFunctionsPath, X_OK) == 0 else {
            throw BenchError("\(exampleFunctionsPath) not found: build it (swift build -c release)")
        }
        let count = quick ? 1_000 : 10_000
        let rounds = quick ? 1 : self.rounds
        let local = try await ProcCluster.standalone(slots: 2, functionHosts: [exampleFunctionsPath])
        let separate = try SeparateCluster(slots: 2, functionHosts: [exampleFunctionsPath])
        defer { separate.stop() }
        let remote = try await ProcCluster.connect(separate.control, requestTimeout: 30)
        let deadline = monotonicSeconds() + 20
        while (try? await remote.client.agents().first?.functions?.isEmpty == false) != true {
            guard monotonicSeconds() < deadline else { throw BenchError("the separate agent did not join") }
            try await Task.sleep(for: .milliseconds(50))
        }
        // Warm: both slots' hosts started, the feeds followed.
        _ = try await functionCalls(local, count: 200)
        _ = try await functionCalls(remote, count: 200)
        var figures = FunctionFigures()
        for round in 0..<rounds {
            progress("W4, round \(round + 1) of \(rounds)")
            if w4 != "separate" {
                let commits = local.localCoordinator?.stats.commits ?? 0
                let before = (cpuSeconds(of: getpid()) ?? 0, hostCPUSeconds())
                figures.singleHost.append(try await functionCalls(local, count: count))
                let after = (cpuSeconds(of: getpid()) ?? 0, hostCPUSeconds())
                figures.singleCPU.append(((after.0 - before.0) * 1e6 / Double(count), (after.1 - before.1) * 1e6 / Double(count)))
                figures.commitsPerCall = Double((local.localCoordinator?.stats.commits ?? 0) - commits) / Double(count)
            }
            if w4 != "single" { figures.separate.append(try await functionCalls(remote, count: count)) }
        }
        progress("W4: one call at a time")
        let latency = try await functionLatency(local, calls: quick ? 100 : 1_000)
        await remote.shutdown()
        await local.shutdown()
        let p50 = Double(latency.valueAtPercentile(50)) / 1000
        var rows: [[String]] = []
        if !figures.singleHost.isEmpty {
            let single = Double(count) / median(figures.singleHost)
            rows.append(["W4 \(count) calls of pair, 2 slots, single-host (Swift API, one call at a time, not awaited)",
                         String(format: "%.0f calls/s (%.2f s; %.2f commits per call; CPU per call %.0f µs + hosts %.0f µs)",
                                single, median(figures.singleHost), figures.commitsPerCall,
                                median(figures.singleCPU.map(\.cluster)), median(figures.singleCPU.map(\.hosts))),
                         "≥ 20000 calls/s",
                         verdict(single >= 20_000)])
        }
        if !figures.separate.isEmpty {
            let apart = Double(count) / median(figures.separate)
            rows.append(["  the same with a separate agent (coordinator and agent processes)",
                         String(format: "%.0f calls/s (%.2f s)", apart, median(figures.separate)), "≥ 10000 calls/s",
                         verdict(apart >= 10_000)])
        }
        rows.append(["  one call on an idle single-host cluster, submit → result (\(latency.totalCount) calls)",
                     String(format: "p50 %.2f ms, p99 %.2f ms", p50, Double(latency.valueAtPercentile(99)) / 1000),
                     "p50 ≤ 1 ms", verdict(p50 <= 1)])
        return rows
    }
}

/// CPU seconds of this process's function hosts (its children that are proc-example-functions).
func hostCPUSeconds() -> Double {
    childProcessIDs().filter { (try? String(contentsOfFile: "/proc/\($0)/comm", encoding: .utf8))?.hasPrefix("proc-example") == true }
        .compactMap(cpuSeconds(of:)).reduce(0, +)
}

/// This process's children, from /proc/self/task/*/children.
func childProcessIDs() -> [pid_t] {
    guard let tasks = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task") else { return [] }
    return tasks.flatMap { task -> [pid_t] in
        let text = (try? String(contentsOfFile: "/proc/self/task/\(task)/children", encoding: .utf8)) ?? ""
        return text.split(separator: " ").compactMap { pid_t($0) }
    }
}
