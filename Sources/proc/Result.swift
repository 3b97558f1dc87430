import ArgumentParser
import Foundation
import ProcClient
import ProcCore

struct Result: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show how a job ended: status, exit code, signal, reason, duration, agent, result, output.")

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "The job id.")
    var id: String

    @Flag(help: "Print JSON.")
    var json = false

    func run() async throws {
        try await runClient(connection) { client in
            let reply = try await client.result(id)
            if json { return try printJSON(reply) }
            let job = reply.job
            var lines: [(String, String)] = [
                ("id", job.id),
                ("status", job.status.rawValue),
            ]
            if let reason = job.reason, job.status == .error { lines.append(("reason", reason.rawValue)) }
            if let code = job.exitCode { lines.append(("exit code", String(code))) }
            if let signal = job.signal { lines.append(("signal", String(signal))) }
            if let type = job.errorType { lines.append(("error type", type)) }
            if let message = job.message { lines.append(("message", message)) }
            if let waiting = reply.waiting { lines.append(("waiting", waiting)) }
            if let function = job.spec.function {
                lines.append(("function", function))
                lines.append(("args", job.spec.args?.description ?? "{}"))
            } else {
                lines.append(("command", shellQuoted(job.spec.argv)))
            }
            lines.append(("queue", job.queue))
            lines.append(("attempt", String(job.attempt)))
            if let agent = job.agentID { lines.append(("agent", agent)) }
            if let started = job.startedAt, let finished = job.finishedAt {
                lines.append(("duration", formatDuration(finished - started)))
            }
            if let result = job.result { lines.append(("result", result.description)) }
            let width = lines.map(\.0.count).max() ?? 0
            for (key, value) in lines { print("\(key.padding(toLength: width, withPad: " ", startingAt: 0))  \(value)") }
            for (name, text, truncated) in [("stdout", reply.stdout, reply.stdoutTruncated),
                                            ("stderr", reply.stderr, reply.stderrTruncated)] {
                guard let text, !text.isEmpty else { continue }
                print("--- \(name)\(truncated == true ? " (last part)" : "") ---")
                print(text, terminator: text.hasSuffix("\n") ? "" : "\n")
            }
        }
    }
}
