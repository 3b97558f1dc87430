import ArgumentParser
import Foundation
import ProcClient
import ProcCommandSupport
import ProcCore

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show jobs (the newest, or those named) and counts.")

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "Job ids (default: the newest jobs).")
    var ids: [String] = []

    @Option(help: "Only this queue.")
    var queue: String?

    @Option(help: "How many of the newest jobs to show (default 20).")
    var limit: Int = 20

    @Flag(help: "Print JSON.")
    var json = false

    func validate() throws {
        try checkFlag(limit, "--limit", Bounds.statusLimit)
        if let queue, let problem = JobSpec.nameProblem(queue, what: "--queue") { throw ValidationError(problem) }
    }

    func run() async throws {
        try await runClient(connection) { client in
            let reply = try await client.status(ArgumentRuns.expand(ids), queue: queue, limit: limit)
            if json { return try printJSON(reply) }
            let rows = reply.jobs.map { job in
                [job.id, describeOutcome(status: job.status, reason: job.reason, exitCode: job.exitCode,
                                         signal: job.signal),
                 job.queue, String(job.attempt), job.agentID ?? "-",
                 job.progress.map { String(format: "%.0f%%", $0 * 100) } ?? "-",
                 job.name ?? job.function.map { "function \($0)" } ?? shellQuoted(job.command)]
            }
            printTable(["ID", "STATUS", "QUEUE", "ATTEMPT", "AGENT", "PROGRESS", "COMMAND"], rows)
            for job in reply.jobs { if let waiting = job.waiting { print("\(job.id) waits: \(waiting)") } }
            let counts = JobStatus.allCases.map { "\($0.rawValue) \(reply.counts[$0.rawValue] ?? 0)" }
            print((queue.map { "queue \($0): " } ?? "") + counts.joined(separator: ", "))
            if let info = try? await client.info(), info.security == "insecure" {
                print("WARNING: this coordinator was started with --insecure: no CURVE on a network port, so anyone "
                    + "who reaches it can run commands on every agent")
            }
        }
    }
}

func printTable(_ header: [String], _ rows: [[String]]) {
    let all = [header] + rows
    let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
    for row in all {
        let cells = row.enumerated().map { index, cell in
            index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
        }
        print(cells.joined(separator: "  "))
    }
}
