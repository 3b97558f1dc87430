import Foundation
import ProcCore
import Testing

extension Integration {
    /// Items 4 and 5: batches, queues with a cluster-wide limit, priorities, labels.
    @Suite struct BatchesAndQueues {
        @Test func batchFromFileAndStdin() async throws {
            let cluster = try TestCluster(standaloneSlots: 2)
            defer { cluster.stop() }
            let file = cluster.directory + "/batch.jsonl"
            try """
                ["echo", "one"]
                # a comment, then a blank line

                {"argv": ["echo", "two"], "name": "second"}
                {"command": ["sh", "-c", "exit 2"]}
                """.write(toFile: file, atomically: true, encoding: .utf8)
            let submitted = try cluster.proc("submit", "--batch", file)
            #expect(submitted.code == 0, "\(submitted.stderr)")
            let ids = submitted.stdout.split(separator: "\n").map(String.init)
            #expect(ids.count == 3)
            let numbers = ids.compactMap { Int($0.dropFirst()) }
            #expect(numbers == numbers.sorted() && Set(numbers).count == 3, "ids in submission order")
            let wait = try cluster.procArgs(["wait"] + ids)
            #expect(wait.code == 1)  // the third exits 2
            #expect(try cluster.result(ids[1]).stdout == "two\n")

            // A large batch on stdin: one id per line, in order, all run.
            let count = 2_000
            let lines = (1...count).map { "[\"true\", \"\($0)\"]" }.joined(separator: "\n")
            let big = try cluster.proc("submit", "--batch", "-", stdin: lines, timeout: 120)
            #expect(big.code == 0, "\(big.stderr)")
            let bigIDs = big.stdout.split(separator: "\n").map(String.init)
            #expect(bigIDs.count == count)
            let bigNumbers = bigIDs.compactMap { Int($0.dropFirst()) }
            #expect(bigNumbers == Array(bigNumbers[0]...(bigNumbers[0] + count - 1)))
            let all = try cluster.proc("wait", "-", stdin: big.stdout, timeout: 300)
            #expect(all.code == 0, "\(all.stdout) \(all.stderr)")

            // A bad line is named, and nothing of that batch is submitted.
            let before = try cluster.proc("status", "--json").stdout
            let bad = try cluster.proc("submit", "--batch", "-", stdin: "[\"echo\"]\n{\"argv\": []}\n")
            #expect(bad.code != 0 && bad.stderr.contains("line 2"))
            let after = try cluster.proc("status", "--json").stdout
            #expect(try counts(before) == counts(after))
        }

        @Test func queueLimitPriorityAndLabels() async throws {
            let cluster = try TestCluster(agents: [["--slots", "3", "--name", "plain"],
                                                   ["--slots", "3", "--name", "gpu", "--label", "gpu=1"]])
            defer { cluster.stop() }
            // A queue limited to 1 running job across the cluster (6 slots available).
            #expect(try cluster.proc("queue", "render", "--max-running", "1").code == 0)
            let renderIDs = try (0..<4).map { _ in try cluster.submit("--queue", "render", "--", "sleep", "0.2") }
            #expect(try cluster.procArgs(["wait"] + renderIDs).code == 0)
            var running = 0
            var peak = 0
            for event in try await cluster.history() where event.queue == "render" {
                if event.type == .jobStarted { running += 1 }
                if event.status?.isFinal == true { running -= 1 }
                peak = max(peak, running)
            }
            #expect(peak == 1, "at most one render job at a time, saw \(peak)")

            // Priorities: a queue limited to 1; a blocker runs, then low and high are queued.
            #expect(try cluster.proc("queue", "prio", "--max-running", "1").code == 0)
            let blocker = try cluster.submit("--queue", "prio", "--", "sleep", "0.5")
            let low = try cluster.submit("--queue", "prio", "--priority", "1", "--", "true")
            let high = try cluster.submit("--queue", "prio", "--priority", "9", "--", "true")
            #expect(try cluster.proc("wait", blocker, low, high).code == 0)
            let starts = try await cluster.history().filter { $0.type == .jobStarted }.compactMap(\.jobID)
            let highIndex = try #require(starts.firstIndex(of: high))
            let lowIndex = try #require(starts.firstIndex(of: low))
            #expect(highIndex < lowIndex, "the higher priority job starts first")

            // Labels: only the gpu agent runs gpu jobs.
            let gpuJobs = try (0..<4).map { _ in try cluster.submit("--label", "gpu=1", "--", "sleep", "0.1") }
            #expect(try cluster.procArgs(["wait"] + gpuJobs).code == 0)
            for id in gpuJobs {
                let reply = try JSONDecoder().decode(
                    ResultReply.self, from: Data(cluster.proc("result", id, "--json").stdout.utf8))
                #expect(reply.job.agentID == "gpu")
            }
            // A label nobody has: stays pending.
            let nowhere = try cluster.submit("--label", "tpu=1", "--", "true")
            let waited = try cluster.proc("wait", nowhere, "--timeout", "1")
            #expect(waited.code == 1)
            #expect(try cluster.status(nowhere) == .pending)
            let queues = try cluster.queueNames()
            #expect(queues.contains("render") && queues.contains("prio"), "\(queues)")
        }

        private func counts(_ json: String) throws -> [String: Int] {
            try JSONDecoder().decode(StatusReply.self, from: Data(json.utf8)).counts
        }
    }
}
