import Foundation
import TOMLKit

/// The TOML config file (`--config FILE`, or `PROC_CONFIG`). Flags beat environment, environment beats
/// this file, which beats defaults. Every key is optional; see config/*.toml for examples.
public struct ConfigFile: Decodable, Sendable {
    public struct Coordinator: Decodable, Sendable {
        public var listen: String?
        public var events: String?
        public var dataDir: String?
        public var heartbeatMs: Int?
        public var liveness: Int?
        public var commitHoldMs: Int?
        public var killGraceSeconds: Double? { killGrace?.value }
        public var maxAttempts: Int?
        public var reconnectGraceSeconds: Double? { reconnectGrace?.value }
        var killGrace: Seconds?
        var reconnectGrace: Seconds?
        public var cert: String?
        public var authorizedKeys: String?
        public var insecure: Bool?
        enum CodingKeys: String, CodingKey {
            case listen, events, dataDir = "data_dir", heartbeatMs = "heartbeat_ms", liveness
            case commitHoldMs = "commit_hold_ms"
            case killGrace = "kill_grace_seconds", maxAttempts = "max_attempts"
            case reconnectGrace = "reconnect_grace_seconds"
            case cert, authorizedKeys = "authorized_keys", insecure
        }
    }
    public struct Agent: Decodable, Sendable {
        public var coordinator: String?
        public var name: String?
        public var slots: Int?
        public var prefetch: Int?
        public var resultHoldMs: Int?
        public var labels: [String: String]?
        public var outputLimit: Int?
        public var dataDir: String?
        public var cert: String?
        public var coordinatorKey: String?
        public var runAs: String?
        enum CodingKeys: String, CodingKey {
            case coordinator, name, slots, prefetch, resultHoldMs = "result_hold_ms", labels
            case outputLimit = "output_limit", dataDir = "data_dir"
            case cert, coordinatorKey = "coordinator_key", runAs = "run_as"
        }
    }
    public struct Client: Decodable, Sendable {
        public var coordinator: String?
        public var cert: String?
        public var coordinatorKey: String?
        enum CodingKeys: String, CodingKey {
            case coordinator, cert, coordinatorKey = "coordinator_key"
        }
    }
    public struct Queue: Decodable, Sendable {
        public var maxRunning: Int?
        enum CodingKeys: String, CodingKey { case maxRunning = "max_running" }
    }

    /// A number of seconds written as a TOML integer (`5`) or float (`0.5`).
    struct Seconds: Decodable, Sendable {
        let value: Double
        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let integer = try? container.decode(Int.self) { value = Double(integer) } else {
                value = try container.decode(Double.self)
            }
        }
    }

    public var coordinator: Coordinator?
    public var agent: Agent?
    public var client: Client?
    public var queues: [String: Queue]?

    public init() {}

    /// Reads `path` (or `$PROC_CONFIG`); an empty config when neither is given.
    public static func load(_ path: String?) throws -> ConfigFile {
        guard let path = path ?? ProcessInfo.processInfo.environment["PROC_CONFIG"], !path.isEmpty else {
            return ConfigFile()
        }
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw CommandError("cannot read config file '\(path)': \(error.localizedDescription)")
        }
        do {
            return try TOMLDecoder().decode(ConfigFile.self, from: text)
        } catch let error as TOMLParseError {
            throw CommandError("config file '\(path)': \(error.description) at \(error.source.begin)")
        } catch {
            throw CommandError("config file '\(path)': \(error)")
        }
    }
}

/// A command failed for a reason the user can fix; printed as "error: MESSAGE", exit code 1 or as given.
public struct CommandError: Error, CustomStringConvertible {
    public let description: String
    public let exitCode: Int32
    public init(_ description: String, exitCode: Int32 = 1) {
        self.description = description
        self.exitCode = exitCode
    }
}

/// `k=v` pairs from repeated `--label` flags.
public func parseLabels(_ pairs: [String]) throws -> [String: String] {
    var labels: [String: String] = [:]
    for pair in pairs {
        guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else {
            throw CommandError("bad label '\(pair)': expected KEY=VALUE")
        }
        labels[String(pair[..<equals])] = String(pair[pair.index(after: equals)...])
    }
    return labels
}

/// Turns "HOST:PORT", ":PORT" or "PORT" into a bind endpoint; full endpoints pass through.
public func bindEndpoint(_ text: String, defaultPort: Int) -> String {
    if text.contains("://") { return text }
    if let port = Int(text) { return "tcp://*:\(port)" }
    if text.hasPrefix(":") { return "tcp://*\(text)" }
    if text.contains(":") { return "tcp://\(text)" }
    return "tcp://\(text):\(defaultPort)"
}
