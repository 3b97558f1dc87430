import ArgumentParser
import Foundation
import ProcClient
import ProcCommandSupport
import ProcCore
import ProcSystem

struct Submit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Submit a job (or a batch); prints the job id (one per line, in order).",
        discussion: """
            proc submit -- sh -c 'sleep 1; echo hi'
            proc submit --function square --args '{"x": 3}'
            proc submit --batch jobs.jsonl      (one job per line: ["argv", ...], {"argv": [...], "queue": ...}
                                                 or {"function": "square", "args": {"x": 3}})
            seq 100 | jq -c '["echo", .|tostring]' | proc submit --batch -
            Options given as flags are defaults for every line of a batch.
            """)

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "The queue (default: 'default').")
    var queue: String?

    @Option(help: "Higher runs first within a queue (default 0).")
    var priority: Int?

    @Option(help: "Seconds before the job is ended as error/timeout.")
    var timeout: Double?

    @Option(help: "Times to run the job again when it fails by itself.")
    var retries: Int?

    @Option(name: .customLong("label"), help: "A label the agent must carry, k=v; repeatable.")
    var labels: [String] = []

    @Option(name: .customLong("env"), help: "An environment variable for the job, K=V; repeatable.")
    var environment: [String] = []

    @Option(help: "The job's working directory on the agent.")
    var cwd: String?

    @Option(help: "A name for humans.")
    var name: String?

    @Option(help: "Call this function (offered by an agent's --functions host) instead of running a command.")
    var function: String?

    @Option(help: "The function's arguments, JSON (default {}).")
    var args: String?

    @Flag(help: "Call the function in a fresh host process of its own (else a warm one).")
    var isolated = false

    @Option(help: "Read jobs from FILE, one JSON array or object per line ('-' for stdin).")
    var batch: String?

    @Flag(help: "Wait for the job(s) to end; exit 0 only if all completed.")
    var wait = false

    @Argument(parsing: .captureForPassthrough, help: "The command and its arguments, after --.")
    var command: [String] = []

    /// The command after `--`, its long runs of arguments put back (`ArgumentRuns`).
    private var argv: [String] {
        ArgumentRuns.expand(command.first == "--" ? Array(command.dropFirst()) : command)
    }

    func validate() throws {
        if batch == nil && argv.isEmpty && function == nil {
            throw ValidationError("empty command: give one after --, a --function, or use --batch FILE")
        }
        if batch != nil && !argv.isEmpty { throw ValidationError("give either a command or --batch, not both") }
        if function != nil && !argv.isEmpty { throw ValidationError("give either a command or --function, not both") }
        if function == nil && batch == nil && args != nil { throw ValidationError("--args goes with --function NAME") }
        if function == nil && batch == nil && isolated { throw ValidationError("--isolated goes with --function NAME") }
        if let function, let problem = JobSpec.functionNameProblem(function) { throw ValidationError("--function: \(problem)") }
        try checkFlag(timeout, "--timeout", Bounds.jobTimeout)
        try checkFlag(retries, "--retries", Bounds.retries)
        try checkFlag(priority, "--priority", Bounds.priority)
        if let queue, let problem = JobSpec.nameProblem(queue, what: "--queue") { throw ValidationError(problem) }
        if let name, let problem = JobSpec.nameProblem(name, what: "--name") { throw ValidationError(problem) }
        if let cwd, cwd.isEmpty { throw ValidationError("--cwd is empty") }
    }

    func run() async throws {
        try await runClient(connection) { client in
            let defaults = try template()
            var specs: [JobSpec]
            if let batch {
                specs = try readBatch(batch, defaults: defaults)
                guard !specs.isEmpty else { throw CommandError("the batch '\(batch)' holds no jobs") }
            } else {
                var spec = defaults
                if spec.function == nil { spec.argv = argv }
                if let problem = spec.validationProblem() { throw CommandError(problem, exitCode: 64) }
                specs = [spec]
            }
            let ids = try await client.submit(specs)
            var out = ""
            out.reserveCapacity(ids.count * 8)
            for id in ids { out += id + "\n" }
            FileHandle.standardOutput.write(Data(out.utf8))
            if wait {
                let jobs = try await client.wait(ids)
                if !jobs.allSatisfy({ $0.status == .completed }) { throw ExitCode(1) }
            }
        }
    }

    private func template() throws -> JobSpec {
        var env: [String: String]?
        if !environment.isEmpty {
            env = [:]
            for pair in environment {
                guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else {
                    throw CommandError("bad --env '\(pair)': expected KEY=VALUE", exitCode: 64)
                }
                env![String(pair[..<equals])] = String(pair[pair.index(after: equals)...])
            }
        }
        let labels = try parseLabels(self.labels)
        var parsedArgs: JSONValue?
        if let args {
            do {
                parsedArgs = try WireCoding.decode(JSONValue.self, from: Array(args.utf8))
            } catch {
                throw CommandError("--args is not JSON (\(error)): give a JSON value, e.g. '{\"x\": 3}'", exitCode: 64)
            }
        }
        return JobSpec(argv: [], function: function, args: parsedArgs ?? (function != nil ? .object([:]) : nil),
                       isolated: isolated ? true : nil, env: env, cwd: cwd, queue: queue, priority: priority,
                       timeout: timeout, retries: retries, labels: labels.isEmpty ? nil : labels, name: name)
    }

    private func readBatch(_ path: String, defaults: JobSpec) throws -> [JobSpec] {
        let data: Data
        if path == "-" {
            data = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            do {
                data = Data(try readFileBytes(path, limit: 4 << 30))
            } catch {
                throw CommandError("batch file: \(error)", exitCode: 64)
            }
        }
        var specs: [JobSpec] = []
        var lineNumber = 0
        for line in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            let trimmed = line.drop(while: { $0 == 32 || $0 == 9 || $0 == 13 })
            if trimmed.isEmpty || trimmed.first == UInt8(ascii: "#") { continue }
            // Read strictly: an unknown key is refused (a typo, "timout", would otherwise run the job without
            // what was asked), and the error names the field.
            var spec: JobSpec
            do {
                spec = try WireCoding.decode(JobSpec.self, from: Array(trimmed), strict: true)
            } catch {
                let shown = trimmed.count > 80 ? "" : ": " + String(decoding: trimmed, as: UTF8.self)
                throw CommandError("batch line \(lineNumber): \(error)\(shown)", exitCode: 64)
            }
            spec.env = spec.env ?? defaults.env
            spec.cwd = spec.cwd ?? defaults.cwd
            spec.queue = spec.queue ?? defaults.queue
            spec.priority = spec.priority ?? defaults.priority
            spec.timeout = spec.timeout ?? defaults.timeout
            spec.retries = spec.retries ?? defaults.retries
            spec.labels = spec.labels ?? defaults.labels
            spec.name = spec.name ?? defaults.name
            // A line without a command or a function calls the flags' --function (with its own args).
            if spec.argv.isEmpty && spec.function == nil {
                spec.function = defaults.function
                spec.args = spec.args ?? defaults.args
            }
            if spec.function != nil { spec.isolated = spec.isolated ?? defaults.isolated }
            if let problem = spec.validationProblem() {
                throw CommandError("batch line \(lineNumber): \(problem)", exitCode: 64)
            }
            specs.append(spec)
        }
        return specs
    }
}
