import ArgumentParser
import Foundation
import ProcClient
import ProcCommandSupport
import ProcCore

struct Agents: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the agents that have joined.")

    @OptionGroup var connection: ConnectionOptions

    @Flag(help: "Print JSON.")
    var json = false

    func run() async throws {
        try await runClient(connection) { client in
            let agents = try await client.agents()
            if json { return try printJSON(agents) }
            let rows = agents.map { agent in
                [agent.id, agent.hostname, "\(agent.running)/\(agent.slots)",
                 agent.labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")]
            }
            printTable(["AGENT", "HOST", "RUNNING", "LABELS"], rows)
            if agents.isEmpty { print("no agents: start one with `proc-agent join HOST`") }
        }
    }
}

struct Queue: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List queues, or set a queue's limit of running jobs across the cluster.",
        discussion: "proc queue                      list\nproc queue render --max-running 3")

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "The queue to configure.")
    var name: String?

    @Option(help: "At most this many jobs of the queue run at once across the cluster (0 = no limit).")
    var maxRunning: Int?

    @Flag(help: "Print JSON.")
    var json = false

    func validate() throws {
        if name != nil && maxRunning == nil { throw ValidationError("give --max-running N to configure a queue") }
        try checkFlag(maxRunning, "--max-running", Bounds.maxRunning)
        if let name, let problem = JobSpec.nameProblem(name, what: "queue name") { throw ValidationError(problem) }
        if maxRunning != nil && name == nil { throw ValidationError("which queue? Give its name") }
    }

    func run() async throws {
        try await runClient(connection) { client in
            let queues = if let name, let maxRunning {
                try await client.setQueueLimit(name, maxRunning: maxRunning)
            } else {
                try await client.queues()
            }
            if json { return try printJSON(queues) }
            printTable(["QUEUE", "MAX RUNNING", "RUNNING", "PENDING"], queues.map {
                [$0.name, $0.maxRunning == 0 ? "-" : String($0.maxRunning), String($0.running), String($0.pending)]
            })
        }
    }
}
