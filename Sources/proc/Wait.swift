import ArgumentParser
import Foundation
import Glibc
import ProcClient
import ProcCommandSupport
import ProcCore

struct Wait: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Wait until jobs end; exit 0 only if all completed (1 otherwise, also on --timeout).")

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "Job ids ('-' reads them from stdin, one per line).")
    var ids: [String] = []

    @Option(help: "Give up after this many seconds.")
    var timeout: Double?

    @Flag(help: "Print nothing; only the exit code tells.")
    var quiet = false

    func validate() throws {
        if ids.isEmpty { throw ValidationError("which jobs? Give job ids (or '-' to read them from stdin)") }
        try checkFlag(timeout, "--timeout", Bounds.waitTimeout)
    }

    func run() async throws {
        var ids = ArgumentRuns.expand(self.ids)
        if ids == ["-"] {
            ids = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
                .split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            if ids.isEmpty {
                printError("no job ids on stdin: nothing to wait for (did the submit before it fail?)")
                throw ExitCode(64)
            }
        }
        let showProgress = !quiet && isatty(STDERR_FILENO) == 1 && ids.count > 1
        let total = ids.count
        try await runClient(connection) { client in
            var progress: (@Sendable ([JobSummary]) -> Void)?
            if showProgress {
                progress = { jobs in
                    let done = jobs.filter { $0.status.isFinal }.count
                    FileHandle.standardError.write(Data("\r\(done)/\(total) done".utf8))
                }
            }
            let jobs = try await client.wait(ids, timeout: timeout, onUpdate: progress)
            if showProgress { FileHandle.standardError.write(Data("\n".utf8)) }
            let completed = jobs.filter { $0.status == .completed }.count
            let final = jobs.filter { $0.status.isFinal }.count
            if !quiet {
                if jobs.count <= 20 {
                    for job in jobs {
                        print("\(job.id) \(describeOutcome(status: job.status, reason: job.reason, exitCode: job.exitCode, signal: job.signal))")
                    }
                } else {
                    var byStatus: [String: Int] = [:]
                    for job in jobs { byStatus[job.status.rawValue, default: 0] += 1 }
                    print(byStatus.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
                }
                if final < jobs.count {
                    printError("timed out after \(timeout ?? 0) s: \(jobs.count - final) of \(jobs.count) not finished")
                }
            }
            if completed != jobs.count { throw ExitCode(1) }
        }
    }
}
