import Foundation
import Glibc
import ProcCore
import Testing

extension Integration {
    /// A coordinator with agents (and the single-host mode) driven by the CLI.
    @Suite struct ClusterCLI {
        @Test func coordinatorWithTwoAgents() async throws {
            let cluster = try TestCluster(agents: [["--slots", "2", "--name", "a1"], ["--slots", "2", "--name", "a2"]])
            defer { cluster.stop() }

            let id = try cluster.submit("--", "sh", "-c", "sleep 1; echo hi")
            #expect(id.hasPrefix("j"))
            let wait = try cluster.proc("wait", id)
            #expect(wait.code == 0, "proc wait: \(wait.stdout) \(wait.stderr)")
            #expect(wait.stdout.contains("\(id) completed"))

            let result = try cluster.proc("result", id)
            #expect(result.code == 0)
            #expect(result.stdout.contains("status     completed"))
            #expect(result.stdout.contains("exit code  0"))
            #expect(result.stdout.contains("--- stdout ---\nhi\n"))
            #expect(result.stdout.contains("duration"))
            #expect(result.stdout.range(of: "agent +a[12]", options: .regularExpression) != nil)

            let json = try cluster.proc("result", id, "--json")
            let reply = try JSONDecoder().decode(ResultReply.self, from: Data(json.stdout.utf8))
            #expect(reply.job.status == .completed && reply.stdout == "hi\n" && reply.job.exitCode == 0)

            let agents = try cluster.proc("agents")
            #expect(agents.stdout.contains("a1") && agents.stdout.contains("a2"))

            let status = try cluster.proc("status")
            #expect(status.stdout.contains(id) && status.stdout.contains("completed 1"))

            // A failing job: `proc wait` exits non-zero.
            let failing = try cluster.submit("--", "sh", "-c", "exit 4")
            let failed = try cluster.proc("wait", failing)
            #expect(failed.code == 1)
            #expect(failed.stdout.contains("error (exit 4)"))

            // The feed, replayed from the start: human lines and --json.
            let events = try cluster.proc("events", "--from-seq", "1", "--count", "4", "--topic", "job.", timeout: 15)
            #expect(events.code == 0)
            #expect(events.stdout.contains("job.submitted \(id)"))
            #expect(events.stdout.contains("job.completed \(id)"))
            let raw = try cluster.proc("events", "--json", "--from-seq", "1", "--count", "1", "--topic", "agent.")
            let first = try JSONDecoder().decode(Event.self, from: Data(raw.stdout.utf8))
            #expect(first.type == .agentJoined)

            // Jobs spread over both agents.
            let ids = try cluster.proc("submit", "--batch", "-", stdin: String(repeating: "[\"sleep\", \"0.3\"]\n", count: 4))
                .stdout.split(separator: "\n").map(String.init)
            #expect(try cluster.proc("wait", ids[0], ids[1], ids[2], ids[3]).code == 0)
            let used = try Set(ids.map { id in
                try JSONDecoder().decode(ResultReply.self, from: Data(cluster.proc("result", id, "--json").stdout.utf8))
                    .job.agentID ?? ""
            })
            #expect(used == ["a1", "a2"])
        }

        @Test func standaloneSingleHostMode() async throws {
            let cluster = try TestCluster(standaloneSlots: 2)
            defer { cluster.stop() }
            let id = try cluster.submit("--", "sh", "-c", "echo standalone")
            #expect(try cluster.proc("wait", id).code == 0)
            let result = try cluster.proc("result", id)
            #expect(result.stdout.contains("standalone"))
            #expect(try cluster.agentCount() == 1)
        }

        @Test func sigtermStopsTheCoordinatorAndItsJobs() async throws {
            let cluster = try TestCluster(standaloneSlots: 1)
            defer { cluster.stop() }
            let marker = cluster.directory + "/child.pid"
            let id = try cluster.submit("--", "sh", "-c", "echo $$ > \(marker); sleep 60")
            #expect(eventually { FileManager.default.fileExists(atPath: marker) })
            _ = id
            let childPid = pid_t(try String(contentsOfFile: marker, encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines))!
            let code = cluster.coordinator.terminate(signal: SIGTERM, timeout: 15)
            #expect(code == 0, "exit code after SIGTERM: \(String(describing: code)); \(cluster.coordinator.stderr)")
            #expect(eventually { kill(childPid, 0) != 0 }, "the job's process outlived the coordinator")
            #expect(cluster.coordinator.stderr.contains("coordinator stopped"))
        }
    }
}

extension Integration.ClusterCLI {
    /// Two agents under one name would take each other's place forever: the older one is told, and stops.
    @Test func aSecondAgentWithTheSameNameReplacesTheFirst() throws {
        let cluster = try TestCluster(agents: [["--slots", "1", "--name", "twin"]])
        defer { cluster.stop() }
        let first = cluster.agents[0]
        let second = try cluster.addAgent(["--slots", "1", "--name", "twin"])
        #expect(first.waitForExit(timeout: 20) == 3, "the first agent stops with exit code 3")
        #expect(first.stderr.contains("another agent named 'twin' joined"))
        #expect(second.poll() == nil, "the second one goes on")
        let id = try cluster.submit("--", "true")
        #expect(try cluster.proc("wait", id, "--timeout", "20").code == 0)
        #expect(try cluster.agentCount() == 1)
    }
}

extension Integration.ClusterCLI {
    /// The examples in config/ are read as they are (flags override what they say).
    @Test func exampleConfigFilesWork() async throws {
        let config = URL(fileURLWithPath: netnsScript).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("config").path
        let cluster = try TestCluster(
            agents: [["--config", config + "/agent.toml", "--name", "configured", "--slots", "1"]],
            coordinatorArguments: ["--config", config + "/coordinator.toml"])
        defer { cluster.stop() }
        let queues = try cluster.proc("queue", "--config", config + "/client.toml")
        #expect(queues.code == 0 && queues.stdout.contains("render"), "\(queues.stdout) \(queues.stderr)")
        let agents = try cluster.proc("agents")
        #expect(agents.stdout.contains("configured") && agents.stdout.contains("gpu=1"), "\(agents.stdout)")
    }
}
