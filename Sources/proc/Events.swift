import ArgumentParser
import Foundation
import ProcClient
import ProcCommandSupport
import ProcCore

struct Events: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Follow the event feed (human lines, or --json for the raw bodies).")

    @OptionGroup var connection: ConnectionOptions

    @Option(name: .customLong("topic"), help: "Only events whose type starts with this (job., agent.); repeatable.")
    var topics: [String] = []

    @Flag(help: "Print each event's JSON body, one per line.")
    var json = false

    @Option(help: "Start from this seq (replayed from the journal), instead of from now.")
    var fromSeq: UInt64?

    @Option(help: "Exit after this many events.")
    var count: Int?

    @Flag(help: "Print the journal's events from --from-seq (default 1) up to now, then exit.")
    var noFollow = false

    func validate() throws {
        try checkFlag(count, "--count", Bound(1...Int.max))
    }

    func run() async throws {
        try await runClient(connection) { client in
            var seen = 0
            if count == 0 { return }
            func show(_ event: Event) throws {
                print(json ? String(decoding: try WireCoding.encode(event), as: UTF8.self) : humanLine(event))
                seen += 1
            }
            if noFollow {
                // Up to the last seq of the first answer ("now"), page by page: a page is cut short by its
                // bytes as well as its count, so only the seqs say where the range ends.
                var from = max(fromSeq ?? 1, 1)
                var end: UInt64?
                while true {
                    let reply = try await client.replay(from: from, limit: 1_000)
                    let last = end ?? reply.lastSeq
                    end = last
                    for event in reply.events where event.seq <= last {
                        if topics.isEmpty || topics.contains(where: event.type.rawValue.hasPrefix) {
                            try show(event)
                            if let count, seen >= count { return }
                        }
                    }
                    guard let next = reply.events.last.map({ $0.seq + 1 }), next <= last else { return }
                    from = next
                }
            }
            for try await event in client.events(topics: topics, from: fromSeq) {
                try show(event)
                fflush(nil)
                if let count, seen >= count { break }
            }
        }
    }
}

/// "#12 23:16:50.123 job.completed j3 exit=0 agent=a1 (0.02 s)".
func humanLine(_ event: Event) -> String {
    var parts = ["#\(event.seq)", String(event.time.dropFirst(11).prefix(12)), event.type.rawValue]
    if let job = event.jobID { parts.append(job) }
    if let attempt = event.attempt, attempt > 1 { parts.append("attempt=\(attempt)") }
    if let queue = event.queue, queue != defaultQueueName { parts.append("queue=\(queue)") }
    if let agent = event.agentID { parts.append("agent=\(agent)") }
    if let code = event.exitCode { parts.append("exit=\(code)") }
    if let signal = event.signal { parts.append("signal=\(signal)") }
    if let reason = event.reason { parts.append("reason=\(reason)") }
    if let progress = event.progress { parts.append(String(format: "progress=%.0f%%", progress * 100)) }
    if let slots = event.slots { parts.append("slots=\(slots)") }
    if let max = event.maxRunning { parts.append("max_running=\(max)") }
    if let command = event.command, event.type == .jobSubmitted { parts.append("$ " + shellQuoted(command)) }
    if let result = event.result { parts.append("result=\(result)") }
    if let message = event.message { parts.append("— \(message)") }
    if let duration = event.duration { parts.append("(\(formatDuration(duration)))") }
    return parts.joined(separator: " ")
}
