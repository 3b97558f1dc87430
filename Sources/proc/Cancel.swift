import ArgumentParser
import Foundation
import ProcClient
import ProcCommandSupport
import ProcCore

struct Cancel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Cancel jobs: pending ones at once, running ones by SIGTERM to their process group, then SIGKILL.")

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "Job ids.")
    var ids: [String] = []

    @Option(help: "Cancel every pending and running job of this queue.")
    var queue: String?

    func validate() throws {
        if ids.isEmpty && queue == nil { throw ValidationError("which jobs? Give job ids or --queue Q") }
        if !ids.isEmpty && queue != nil { throw ValidationError("give job ids or --queue, not both") }
        if let queue, let problem = JobSpec.nameProblem(queue, what: "--queue") { throw ValidationError(problem) }
    }

    func run() async throws {
        try await runClient(connection) { client in
            let reply = queue == nil ? try await client.cancel(ArgumentRuns.expand(ids)) : try await client.cancel(queue: queue!)
            for id in reply.cancelled { print("\(id) cancelling") }
            for id in reply.alreadyFinal { print("\(id) already ended") }
            if queue != nil && reply.cancelled.isEmpty { print("nothing to cancel in queue \(queue!)") }
        }
    }
}
