import Foundation
import ProcClient
import ProcCore
import Testing

extension Integration {
    /// WAIT with `final_only` answers with the jobs that are final and leaves out the
    /// rest, which the client asks for again; without it, with every job, as before. `proc wait` gets every
    /// job's outcome either way, and its last slice before a timeout asks for every job.
    @Suite struct WaitReplies {
        @Test func finalOnlyLeavesOutTheJobsStillGoing() async throws {
            // No agent: jobs stay pending until cancelled.
            let cluster = try TestCluster()
            defer { cluster.stop() }
            let client = try ProcClient(coordinator: cluster.control, requestTimeout: 30)
            defer { client.close() }
            let ids = try await client.submit([JobSpec](repeating: JobSpec(argv: ["/bin/true"]), count: 5))
            _ = try await client.cancel([ids[1], ids[3]])

            let finalOnly = try await client.request(
                .wait, WaitRequest(ids: ids, timeoutMilliseconds: 50, finalOnly: true), as: WaitReply.self)
            #expect(finalOnly.jobs.map(\.id) == [ids[1], ids[3]] && !finalOnly.done)
            #expect(finalOnly.jobs.allSatisfy { $0.status == .cancelled })
            let every = try await client.request(
                .wait, WaitRequest(ids: ids, timeoutMilliseconds: 50), as: WaitReply.self)
            #expect(every.jobs.map(\.id) == ids && !every.done)
            let allFinal = try await client.request(
                .wait, WaitRequest(ids: [ids[3], ids[1], ids[3]], timeoutMilliseconds: 5_000, finalOnly: true),
                as: WaitReply.self)
            #expect(allFinal.jobs.map(\.id) == [ids[3], ids[1], ids[3]] && allFinal.done)

            // The client's wait: a timeout still gives every job's summary, the pending ones too.
            let waited = try await client.wait(ids, timeout: 1.5)
            #expect(waited.map(\.id) == ids)
            #expect(waited.map(\.status) == [.pending, .cancelled, .pending, .cancelled, .pending])
            // And `proc wait` says how many did not finish.
            let cli = try cluster.proc("wait", "--timeout", "1.2", ids[0], ids[1], ids[2])
            #expect(cli.code == 1 && cli.stderr.contains("2 of 3 not finished"), "\(cli.stdout)\(cli.stderr)")

            // Jobs that end while it waits come back as they end, and the wait ends with the last.
            // The cancel goes once the wait has had its first answer (the jobs final by then), so it
            // ends jobs the wait is still waiting for.
            _ = try await client.cancel([ids[0]])
            let (updates, updated) = AsyncStream<[JobSummary]>.makeStream()
            let rest = Task { try await client.wait(ids, onUpdate: { updated.yield($0) }) }
            var first: [JobSummary] = []
            for await update in updates {
                first = update
                break
            }
            #expect(first.count == 3 && first.allSatisfy { $0.status == .cancelled })
            _ = try await client.cancel([ids[2], ids[4]])
            let all = try await rest.value
            updated.finish()
            #expect(all.map(\.id) == ids && all.allSatisfy { $0.status == .cancelled })
        }
    }
}
