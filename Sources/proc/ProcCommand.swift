import ArgumentParser
import Foundation
import ProcClient
import ProcCommandSupport
import ProcCore

@main
struct ProcCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "proc",
        abstract: "Submit, watch and cancel work on a proc cluster.",
        discussion: "Every command talks to the coordinator given by --coordinator HOST[:PORT], else PROC_COORDINATOR, "
            + "else the config file's [client] coordinator, else 127.0.0.1:5555.",
        subcommands: [
            Submit.self, Status.self, Wait.self, Result.self, Cancel.self, Events.self, Agents.self, Queue.self,
            Keygen.self,
        ])

    /// Long runs of ids or arguments bypass the parser's quadratic handling of positionals (`ArgumentRuns`).
    static func main() async {
        await main(ArgumentRuns.compact(Array(CommandLine.arguments.dropFirst())))
    }
}

/// Options every client command takes.
struct ConnectionOptions: ParsableArguments {
    @Option(help: "The coordinator, HOST[:PORT] (or PROC_COORDINATOR; default 127.0.0.1:5555).")
    var coordinator: String?

    @Option(help: "A TOML config file (or PROC_CONFIG).")
    var config: String?

    @Option(help: "Seconds to wait for the coordinator to answer a request (default 5).")
    var requestTimeout: Double = 5

    @Option(help: "This client's secret certificate, NAME.key_secret (or PROC_CERT), for a coordinator with CURVE.")
    var cert: String?

    @Option(help: "The coordinator's public key: its .key file or the 40-character key (or PROC_COORDINATOR_KEY).")
    var coordinatorKey: String?

    func validate() throws {
        try checkFlag(requestTimeout, "--request-timeout", Bounds.requestTimeout)
    }

    func connect() throws -> ProcClient {
        let file = try ConfigFile.load(config)
        let target = coordinator ?? environment("PROC_COORDINATOR") ?? file.client?.coordinator ?? "127.0.0.1:5555"
        let source = coordinator != nil ? "--coordinator" : environment("PROC_COORDINATOR") != nil
            ? "PROC_COORDINATOR" : file.client?.coordinator != nil ? "[client] coordinator" : "the default"
        let security = try loadClientKeys(
            cert: cert ?? environment("PROC_CERT") ?? file.client?.cert,
            coordinatorKey: coordinatorKey ?? environment("PROC_COORDINATOR_KEY") ?? file.client?.coordinatorKey)
        do {
            return try ProcClient(coordinator: target, requestTimeout: requestTimeout, security: security)
        } catch {
            throw CommandError("\(source): \(error.message)", exitCode: error.code == .badAddress ? 64 : 1)
        }
    }
}

/// Runs a client command: prints a clear message and exits non-zero on any failure.
func runClient(_ options: ConnectionOptions, _ body: (ProcClient) async throws -> Void) async throws {
    do {
        let client = try options.connect()
        do {
            try await body(client)
        } catch {
            await client.shutdown()
            throw error
        }
        await client.shutdown()
    } catch let error as ProcClientError {
        printError(error.message)
        throw ExitCode(error.code == .unreachable || error.code == .unauthorized ? 2 : 1)
    } catch let error as CommandError {
        printError(error.description)
        throw ExitCode(error.exitCode)
    }
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data("error: \(message)\n".utf8))
}

func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

/// A shell-like rendering of an argv.
func shellQuoted(_ argv: [String]) -> String {
    argv.map { arg in
        if !arg.isEmpty, arg.allSatisfy({ $0.isLetter || $0.isNumber || "-_./=:@%+,".contains($0) }) { return arg }
        return "'" + arg.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }.joined(separator: " ")
}

func formatDuration(_ seconds: Double) -> String {
    if seconds < 1 { return String(format: "%.0f ms", seconds * 1000) }
    if seconds < 120 { return String(format: "%.2f s", seconds) }
    return String(format: "%d min %02d s", Int(seconds) / 60, Int(seconds) % 60)
}

/// "completed", "error (exit 3)", "error (signal 9)", "error (spawn)".
func describeOutcome(status: JobStatus, reason: FailureReason?, exitCode: Int32?, signal: Int32?) -> String {
    guard status == .error else { return status.rawValue }
    switch reason {
    case .exit: return "error (exit \(exitCode ?? -1))"
    case .signal: return "error (signal \(signal ?? 0))"
    case .some(let reason): return "error (\(reason.rawValue))"
    case nil: return "error"
    }
}
