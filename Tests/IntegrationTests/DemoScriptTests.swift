import Foundation
import Glibc
import Testing

extension Integration {
    /// The README's first command runs end to end (examples are tested).
    @Suite struct DemoScript {
        @Test func demoRunsTheBatchAndShowsEvents() throws {
            var root = URL(fileURLWithPath: #filePath)
            for _ in 0..<3 { root.deleteLastPathComponent() }
            // Ports below Linux's ephemeral range (32768 and up), so no outgoing connection holds them; a port
            // pair that is taken anyway is tried again elsewhere.
            var result = (code: Int32(-1), stdout: "", stderr: "")
            for _ in 0..<3 {
                let port = Int.random(in: 20_000...32_000)
                result = try run("/bin/bash", [root.path + "/scripts/demo.sh"],
                                 environment: ["PROC_DEMO_PORT": String(port), "PROC_BIN_DIR": binDirectory], timeout: 120)
                if !(result.stdout + result.stderr).contains("address already in use") { break }
            }
            #expect(result.code == 0, "\(result.stdout)\n\(result.stderr)")
            #expect(result.stdout.contains("submitted 46 jobs"))
            #expect(result.stdout.contains("job.progress"), "events are shown as they happen")
            #expect(result.stdout.contains("completed 40, error 6"), "the summary")
            #expect(result.stdout.contains("result     {\"frames\":5}"))
            #expect(result.stdout.split(separator: "\n").contains { $0.hasPrefix("result ") && $0.hasSuffix(#" {"square":49}"#) },
                    "proc result prints a function's returned JSON")
            #expect(result.stdout.contains("no such frame"), "a thrown error's message")
        }
    }
}

extension Integration.DemoScript {
    /// The benchmark runs end to end (`--quick`: it must finish; no numbers are asserted here).
    @Test func benchmarkQuickRunFinishes() throws {
        let result = try run(binary("proc-bench"), ["--quick"], timeout: 300)
        #expect(result.code == 0, "\(result.stdout)\n\(result.stderr)")
        for name in ["W1", "W2", "W3"] { #expect(result.stdout.contains(name)) }
        for line in ["ratio", "idle coordinator", "proc submit --batch", "coordinator restart with", "feed:",
                     "submit → job.started", "simulated agents"] {
            #expect(result.stdout.contains(line), "missing \(line)")
        }
        // What it is doing, while it does it.
        for line in ["proc-bench: W1, round 1 of 1…", "proc-bench: 100 simulated agents…"] {
            #expect(result.stderr.contains(line), "missing \(line)")
        }
    }
}

extension Integration.DemoScript {
    /// A `parallel` on PATH that is not GNU parallel (moreutils' has the same name) is skipped with a word,
    /// instead of failing the run half-way (which used to crash it: the cluster it held was released
    /// without shutdown).
    @Test func benchmarkSkipsAParallelThatIsNotGNUs() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "#!/bin/sh\necho 'parallel [OPTIONS] command -- arguments' >&2\nexit 1\n"
            .write(toFile: directory + "/parallel", atomically: true, encoding: .utf8)
        chmod(directory + "/parallel", 0o755)
        let path = directory + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        let result = try run(binary("proc-bench"), ["--quick", "--section", "ratios", "--workload", "W2", "--peers"],
                             environment: ["PATH": path], timeout: 300)
        #expect(result.code == 0, "\(result.stdout)\n\(result.stderr)")
        #expect(result.stdout.contains("\(directory)/parallel is not GNU parallel"), "\(result.stdout)")
        #expect(result.stdout.contains("xargs -P"), "xargs still runs")
    }
}
