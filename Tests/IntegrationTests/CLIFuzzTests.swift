import Foundation
import Glibc
import ProcCore
import Testing

extension Integration {
    /// Issue 21: every subcommand and flag of the three binaries (and check-proc) with hostile values,
    /// a few thousand invocations against a live cluster. None may exit by a signal or dump a raw error; a
    /// value that cannot be valid must not exit 0; and the coordinator still completes a job afterwards.
    /// PROC_CLI_FUZZ_RUNS sets the count (longer runs by hand), PROC_FUZZ_SEED replays a run.
    @Suite struct CLIFuzz {
        /// What a flag takes, and so which hostile values are surely wrong for it.
        enum Kind: CaseIterable {
            case seconds, integer, name, address, path, label, pair, bindEndpoint, role, level
            /// Any text does (a topic prefix that matches nothing, a seq past the end): nothing must fail.
            case free
        }

        /// A hostile value, and whether it is certainly invalid for a kind (then the command must fail).
        struct Value {
            let text: String
            let invalidFor: Set<Kind>
        }

        static let numbers: [Value] = [
            Value(text: "nan", invalidFor: [.seconds, .integer]),
            Value(text: "inf", invalidFor: [.seconds, .integer]),
            Value(text: "-inf", invalidFor: [.seconds, .integer]),
            Value(text: "1e30", invalidFor: [.seconds, .integer]),
            Value(text: "1e309", invalidFor: [.seconds, .integer]),
            Value(text: "-1", invalidFor: [.seconds, .integer]),
            Value(text: "-0", invalidFor: []),
            Value(text: "0", invalidFor: []),
            Value(text: "9223372036854775807", invalidFor: [.seconds, .integer]),
            Value(text: "9223372036854775808", invalidFor: [.seconds, .integer]),
            Value(text: "-9223372036854775808", invalidFor: [.seconds, .integer]),
            Value(text: "0x10", invalidFor: [.integer]),  // a hexadecimal float to Swift's Double: 16
            Value(text: "1.5", invalidFor: [.integer]),
            Value(text: "٣", invalidFor: [.seconds, .integer]),
            Value(text: " 5", invalidFor: [.seconds, .integer]),
            Value(text: "", invalidFor: [.seconds, .integer, .name, .address, .path, .label, .pair, .bindEndpoint, .role, .level]),
        ]

        static let texts: [Value] = [
            Value(text: "a\nb", invalidFor: [.seconds, .integer, .name, .address, .label, .pair, .bindEndpoint, .role, .level]),
            Value(text: "é🙂", invalidFor: [.seconds, .integer, .address, .pair, .bindEndpoint, .role, .level]),
            Value(text: "a b", invalidFor: [.seconds, .integer, .address, .pair, .bindEndpoint, .role, .level]),
            Value(text: "*", invalidFor: [.seconds, .integer, .address, .pair, .role, .level]),
            Value(text: ",", invalidFor: [.seconds, .integer, .address, .pair, .bindEndpoint, .role, .level]),
            Value(text: "127.0.0.1:1,127.0.0.1:2", invalidFor: [.seconds, .integer, .address, .bindEndpoint, .role, .level]),
            Value(text: "[::1", invalidFor: [.seconds, .integer, .address, .bindEndpoint, .role, .level]),
            Value(text: "host:99999", invalidFor: [.seconds, .integer, .address, .bindEndpoint, .role, .level]),
            Value(text: "tcp://127.0.0.1:0", invalidFor: [.seconds, .integer, .address, .role, .level]),
            Value(text: "=", invalidFor: [.seconds, .integer, .label, .pair, .address, .bindEndpoint, .role, .level]),
            Value(text: "=x", invalidFor: [.seconds, .integer, .label, .pair, .address, .bindEndpoint, .role, .level]),
            Value(text: "k=\u{7}", invalidFor: [.seconds, .integer, .name, .label, .address, .bindEndpoint, .role, .level]),
            Value(text: "/dev/null", invalidFor: [.seconds, .integer, .address, .label, .pair, .bindEndpoint, .role, .level]),
            Value(text: "/proc/self", invalidFor: [.seconds, .integer, .address, .label, .pair, .bindEndpoint, .role, .level]),
            Value(text: "/proc/no/such/dir", invalidFor: [.seconds, .integer, .address, .label, .pair, .bindEndpoint, .role, .level]),
            Value(text: "../x", invalidFor: [.seconds, .integer, .label, .pair, .address, .bindEndpoint, .role, .level]),
            Value(text: "%s%n%x", invalidFor: [.seconds, .integer, .address, .label, .pair, .bindEndpoint, .role, .level]),
            Value(text: "$(touch /tmp/proc-fuzz-pwned)", invalidFor: [.seconds, .integer, .address, .label, .pair, .bindEndpoint, .role, .level]),
            Value(text: String(repeating: "x", count: 70_000), invalidFor: [.seconds, .integer, .name, .address, .label, .bindEndpoint, .role, .level]),
            Value(text: "--", invalidFor: []),
            Value(text: "-h", invalidFor: []),
        ]

        static let values = numbers + texts

        /// Flags that may be given more than once, each value used; of the others, the last one counts.
        static let repeatable: Set<String> = ["--label", "--env", "--topic"]

        /// A command line: a program, the words before the fuzzed flag, its flags and their kinds, and
        /// what to add so that an accepted run ends soon.
        struct Command {
            let program: String
            let words: [String]
            let flags: [(String, Kind)]
            var tail: [String] = []
            /// A run that is accepted keeps going (a coordinator, an agent): ended by the test once started.
            var serves = false
        }

        static func commands(control: String, directory: String, lockedDirectory: String) -> [Command] {
            let connection: [(String, Kind)] = [
                ("--coordinator", .address), ("--request-timeout", .seconds), ("--config", .path), ("--cert", .path),
                ("--coordinator-key", .path),
            ]
            let at = ["--coordinator", control, "--request-timeout", "2"]
            return [
                Command(program: "proc", words: ["submit"] + at, flags: connection + [
                    ("--queue", .name), ("--priority", .integer), ("--timeout", .seconds), ("--retries", .integer),
                    ("--label", .label), ("--env", .pair), ("--cwd", .path), ("--name", .name), ("--batch", .path),
                    ("--function", .name), ("--args", .free),
                ], tail: ["--", "true"]),
                Command(program: "proc", words: ["status"] + at, flags: connection + [("--queue", .name), ("--limit", .integer)]),
                Command(program: "proc", words: ["wait", "j1"] + at, flags: connection + [("--timeout", .seconds)],
                        tail: ["--timeout", "1"]),
                Command(program: "proc", words: ["result"] + at, flags: connection, tail: ["j1"]),
                Command(program: "proc", words: ["cancel"] + at, flags: connection + [("--queue", .name)], tail: ["j999999"]),
                Command(program: "proc", words: ["events", "--no-follow"] + at, flags: connection + [
                    ("--topic", .free), ("--from-seq", .free), ("--count", .free),
                ], tail: ["--count", "3"]),
                Command(program: "proc", words: ["agents"] + at, flags: connection),
                Command(program: "proc", words: ["queue", "fuzzq"] + at, flags: connection + [("--max-running", .integer)],
                        tail: ["--max-running", "2"]),
                Command(program: "proc", words: ["keygen", "k"], flags: [("--role", .role), ("--dir", .path)],
                        tail: ["--dir", directory + "/keys"]),
                // Accepted runs exit 2 at once: the data directory is the running coordinator's.
                Command(program: "proc-coordinator", words: ["start", "--data-dir", lockedDirectory], flags: [
                    ("--slots", .integer), ("--label", .label), ("--listen", .bindEndpoint), ("--events", .bindEndpoint),
                    ("--data-dir", .path), ("--config", .path), ("--heartbeat-ms", .integer), ("--liveness", .integer),
                    ("--commit-hold-ms", .integer), ("--kill-grace", .seconds), ("--max-attempts", .integer),
                    ("--reconnect-grace", .seconds), ("--cert", .path), ("--authorized-keys", .path),
                    ("--log-level", .level), ("--functions", .path), ("--max-calls-per-host", .integer),
                ], tail: ["--standalone", "--listen", "tcp://127.0.0.1:*", "--events", "tcp://127.0.0.1:*"], serves: true),
                Command(program: "proc-agent", words: ["join", control, "--data-dir", lockedDirectory], flags: [
                    ("--slots", .integer), ("--prefetch", .integer), ("--result-hold-ms", .integer), ("--label", .label),
                    ("--name", .name), ("--config", .path), ("--output-limit", .integer), ("--stop-grace", .seconds),
                    ("--data-dir", .path), ("--reconnect-max", .seconds), ("--cert", .path), ("--coordinator-key", .path),
                    ("--run-as", .name), ("--log-level", .level), ("--functions", .path),
                    ("--max-calls-per-host", .integer),
                ], serves: true),
                Command(program: "check-proc", words: ["--coordinator", control], flags: [
                    ("--pass", .integer), ("--coordinator", .address), ("--jobs", .integer), ("--max-workers", .integer),
                    ("--timeout", .seconds),
                ], tail: ["--jobs", "1", "--timeout", "20"]),
            ]
        }

        @Test func everyCommandSurvivesHostileValues() async throws {
            let environment = ProcessInfo.processInfo.environment
            let runs = environment["PROC_CLI_FUZZ_RUNS"].flatMap(Int.init) ?? 2_500
            let seed = environment["PROC_FUZZ_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 0...UInt64.max)
            print("cli fuzz: \(runs) invocations, PROC_FUZZ_SEED=\(seed)")
            var random = SeededRandom(seed: seed)
            let cluster = try TestCluster(standaloneSlots: 2)
            defer { cluster.stop() }
            let commands = Self.commands(control: cluster.control, directory: cluster.directory,
                                         lockedDirectory: cluster.directory + "/data")
            var failures = 0, refusals = 0, accepted = 0
            for index in 0..<runs {
                let command = commands[Int.random(in: 0..<commands.count, using: &random)]
                // One to three fuzzed flags; then the command's own tail (its later flags win where repeated,
                // so the fuzzed one comes last when it is the tail's).
                var arguments = command.words + command.tail.filter { $0 != "--" && $0 != "true" }
                var invalid: [String: Bool] = [:]
                var shown: [String] = []
                for _ in 0..<Int.random(in: 1...3, using: &random) {
                    let (flag, kind) = command.flags[Int.random(in: 0..<command.flags.count, using: &random)]
                    let value = Self.values[Int.random(in: 0..<Self.values.count, using: &random)]
                    arguments += [flag, value.text]
                    let bad = value.invalidFor.contains(kind)
                    invalid[flag] = Self.repeatable.contains(flag) ? (invalid[flag] ?? false) || bad : bad
                    shown.append("\(flag) \(value.text.prefix(40).debugDescription)")
                }
                let mustFail = invalid.values.contains(true)
                if command.tail.contains("--") { arguments += ["--", "true"] }
                let outcome = try invoke(binary(command.program), arguments, serves: command.serves,
                                         directory: cluster.directory)
                let label = "#\(index) \(command.program) \(command.words.first ?? "") \(shown.joined(separator: " "))"
                if outcome.code >= 128 {
                    failures += 1
                    Issue.record("\(label): exit by signal \(outcome.code - 128): \(outcome.stderr.prefix(300))")
                } else if outcome.stderr.contains("Fatal error") || outcome.stderr.contains("NSCocoaErrorDomain")
                    || outcome.stderr.contains("Error Domain=")
                {
                    failures += 1
                    Issue.record("\(label): a raw error: \(outcome.stderr.prefix(300))")
                } else if mustFail && outcome.code == 0 {
                    failures += 1
                    Issue.record("\(label): exit 0 for a value that cannot be valid")
                } else if outcome.code != 0 && outcome.said.isEmpty {
                    failures += 1
                    Issue.record("\(label): exit \(outcome.code) without a word")
                }
                if outcome.code == 0 { accepted += 1 } else { refusals += 1 }
                if failures > 20 { break }
            }
            print("cli fuzz: \(accepted) accepted, \(refusals) refused, \(failures) failures")
            #expect(!FileManager.default.fileExists(atPath: "/tmp/proc-fuzz-pwned"))
            #expect(cluster.coordinator.poll() == nil, "the coordinator is still running")
            let id = try cluster.submit("--", "sh", "-c", "echo after-fuzz")
            #expect(try cluster.proc("wait", id).code == 0)
            #expect(try cluster.result(id).stdout == "after-fuzz\n")
        }

        /// Runs one invocation. A serving program that got as far as serving is ended with SIGTERM and
        /// must then exit cleanly (0); one still running after 20 s otherwise is a hang, reported as such.
        private func invoke(_ program: String, _ arguments: [String], serves: Bool, directory: String) throws
            -> (code: Int32, stderr: String, said: String)
        {
            // In a scratch directory of its own: relative paths it is given ("a b", "../x") land there.
            let root = directory + "/scratch-\(UUID().uuidString.prefix(8))"
            let scratch = root + "/cwd"
            try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: root) }
            let process = try TestProcess(program, arguments, environment: ["PROC_LOG_LEVEL": "error"],
                                          directory: directory, workingDirectory: scratch)
            defer {
                unlink(process.stdoutPath)
                unlink(process.stderrPath)
            }
            let limit = serves ? 3.0 : 20.0
            // What it said, on either stream (`proc wait` reports its jobs on stdout and exits 1).
            func said() -> String { (process.stderr + process.stdout).trimmingCharacters(in: .whitespacesAndNewlines) }
            if let code = process.waitForExit(timeout: limit) { return (code, process.stderr, said()) }
            guard serves else {
                process.terminate(signal: SIGKILL)
                return (255, "hung for \(limit) s: " + process.stderr, said())
            }
            // Serving: a graceful stop must end it, exit 0.
            let code = process.terminate(signal: SIGTERM, timeout: 15) ?? 255
            return (code == 0 ? 0 : max(code, 1), process.stderr, said())
        }
    }
}
