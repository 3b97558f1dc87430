import Foundation
import ProcCore
import ProcSystem
import TOMLKit

/// The TOML config file (`--config FILE`, or `PROC_CONFIG`). Flags beat environment, environment beats
/// this file, which beats defaults. Every key is optional; see config/*.toml for examples.
///
/// Read strictly: an unknown section or key is an error that names it and the nearest known one
/// (`timout` → `timeout`), a value of the wrong type says which type was expected, and every number is
/// checked against its range (`Bounds`) here, so a bad file fails at start with a message, exit 64.
public struct ConfigFile: Sendable {
    public struct Coordinator: Sendable {
        public var listen: String?
        public var events: String?
        public var dataDir: String?
        public var heartbeatMs: Int?
        public var liveness: Int?
        public var commitHoldMs: Int?
        public var killGraceSeconds: Double?
        public var maxAttempts: Int?
        public var reconnectGraceSeconds: Double?
        public var cert: String?
        public var authorizedKeys: String?
        public var insecure: Bool?
    }
    public struct Agent: Sendable {
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
        /// Function host executables (`functions = ["/opt/app/functions"]`).
        public var functions: [String]?
        public var maxCallsPerHost: Int?
    }
    public struct Client: Sendable {
        public var coordinator: String?
        public var cert: String?
        public var coordinatorKey: String?
    }

    public var coordinator: Coordinator?
    public var agent: Agent?
    public var client: Client?
    /// `[queues.NAME] max_running = N`: each queue's limit of running jobs.
    public var queueLimits: [String: Int] = [:]

    public init() {}

    /// Reads `path` (or `$PROC_CONFIG`); an empty config when neither is given.
    public static func load(_ path: String?) throws(CommandError) -> ConfigFile {
        guard let path = path ?? ProcessInfo.processInfo.environment["PROC_CONFIG"] else { return ConfigFile() }
        guard !path.isEmpty else { throw CommandError("the config file name is empty (--config or PROC_CONFIG)", exitCode: 64) }
        let text: String
        do { text = try readFile(path) } catch { throw CommandError("config file: \(error)", exitCode: 64) }
        return try parse(text, path: path)
    }

    /// The file's text, read as `path` (for messages).
    public static func parse(_ text: String, path: String) throws(CommandError) -> ConfigFile {
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw CommandError("config file \(path): \(error.description) at \(error.source.begin)", exitCode: 64)
        } catch {
            throw CommandError("config file \(path): \(error)", exitCode: 64)
        }
        do {
            return try read(table)
        } catch {
            throw CommandError("config file \(path): \(error.description)", exitCode: 64)
        }
    }

    private static func read(_ table: TOMLTable) throws(BoundProblem) -> ConfigFile {
        var file = ConfigFile()
        var root = TableReader(table, section: nil)
        if var section = try root.table("coordinator") {
            file.coordinator = Coordinator(
                listen: try section.string("listen"), events: try section.string("events"),
                dataDir: try section.string("data_dir"),
                heartbeatMs: try section.integer("heartbeat_ms", Bounds.heartbeatMilliseconds),
                liveness: try section.integer("liveness", Bounds.liveness),
                commitHoldMs: try section.integer("commit_hold_ms", Bounds.holdMilliseconds),
                killGraceSeconds: try section.seconds("kill_grace_seconds", Bounds.graceSeconds),
                maxAttempts: try section.integer("max_attempts", Bounds.maxAttempts),
                reconnectGraceSeconds: try section.seconds("reconnect_grace_seconds", Bounds.reconnectGraceSeconds),
                cert: try section.string("cert"), authorizedKeys: try section.string("authorized_keys"),
                insecure: try section.bool("insecure"))
            try section.finish()
        }
        if var section = try root.table("agent") {
            file.agent = Agent(
                coordinator: try section.string("coordinator"), name: try section.string("name"),
                slots: try section.integer("slots", Bounds.slots),
                prefetch: try section.integer("prefetch", Bounds.prefetch),
                resultHoldMs: try section.integer("result_hold_ms", Bounds.holdMilliseconds),
                labels: try section.stringTable("labels"),
                outputLimit: try section.integer("output_limit", Bounds.outputLimit),
                dataDir: try section.string("data_dir"), cert: try section.string("cert"),
                coordinatorKey: try section.string("coordinator_key"), runAs: try section.string("run_as"),
                functions: try section.strings("functions"),
                maxCallsPerHost: try section.integer("max_calls_per_host", Bounds.maxCallsPerHost))
            try section.finish()
        }
        if var section = try root.table("client") {
            file.client = Client(
                coordinator: try section.string("coordinator"), cert: try section.string("cert"),
                coordinatorKey: try section.string("coordinator_key"))
            try section.finish()
        }
        if var queues = try root.table("queues") {
            for name in queues.keys {
                guard var queue = try queues.table(name) else { continue }
                if let limit = try queue.integer("max_running", Bounds.maxRunning) { file.queueLimits[name] = limit }
                try queue.finish()
            }
            try queues.finish()
        }
        try root.finish()
        return file
    }
}

/// Reads one table of the file, key by key, remembering which keys it knows so that `finish` can refuse
/// the rest.
private struct TableReader {
    let table: TOMLTable
    let section: String?
    private var known: [String] = []

    init(_ table: TOMLTable, section: String?) {
        self.table = table
        self.section = section
    }

    var keys: [String] { table.keys }

    private func name(_ key: String) -> String { section.map { "[\($0)] \(key)" } ?? key }

    private mutating func value(_ key: String) -> (any TOMLValueConvertible)? {
        known.append(key)
        return table[key]
    }

    private func wrongType(_ key: String, _ expected: String, _ value: any TOMLValueConvertible) -> BoundProblem {
        BoundProblem("\(name(key)) must be \(expected), not \(Self.describe(value.type))")
    }

    private static func describe(_ type: TOMLType) -> String {
        switch type {
        case .table: "a table"
        case .array: "an array"
        case .string: "a string"
        case .int: "an integer"
        case .double: "a floating-point number"
        case .bool: "a boolean"
        case .date, .time, .dateTime: "a date or time"
        }
    }

    mutating func string(_ key: String) throws(BoundProblem) -> String? {
        guard let value = value(key) else { return nil }
        guard let text = value.string else { throw wrongType(key, "a string", value) }
        return text
    }

    mutating func bool(_ key: String) throws(BoundProblem) -> Bool? {
        guard let value = value(key) else { return nil }
        guard let flag = value.bool else { throw wrongType(key, "true or false", value) }
        return flag
    }

    mutating func integer(_ key: String, _ bound: Bound<Int>) throws(BoundProblem) -> Int? {
        guard let value = value(key) else { return nil }
        guard let number = value.int else { throw wrongType(key, "an integer", value) }
        return try bound.check(number, name(key))
    }

    /// Seconds, as an integer (`5`) or a float (`0.5`).
    mutating func seconds(_ key: String, _ bound: Bound<Double>) throws(BoundProblem) -> Double? {
        guard let value = value(key) else { return nil }
        guard let number = value.double ?? value.int.map(Double.init) else {
            throw wrongType(key, "a number of seconds", value)
        }
        return try bound.check(number, name(key))
    }

    /// An array of strings (`functions = ["a", "b"]`).
    mutating func strings(_ key: String) throws(BoundProblem) -> [String]? {
        guard let value = value(key) else { return nil }
        guard let array = value.array else { throw wrongType(key, "an array of strings", value) }
        var result: [String] = []
        for (index, element) in array.enumerated() {
            guard let text = element.string else { throw BoundProblem("\(name(key))[\(index)] must be a string") }
            result.append(text)
        }
        return result
    }

    /// A table whose values are all strings (`[agent.labels]`).
    mutating func stringTable(_ key: String) throws(BoundProblem) -> [String: String]? {
        guard let value = value(key) else { return nil }
        guard let inner = value.table else { throw wrongType(key, "a table of strings", value) }
        var result: [String: String] = [:]
        for innerKey in inner.keys {
            guard let text = inner[innerKey]?.string else {
                throw BoundProblem("\(name(key)).\(innerKey) must be a string")
            }
            result[innerKey] = text
        }
        return result
    }

    mutating func table(_ key: String) throws(BoundProblem) -> TableReader? {
        guard let value = value(key) else { return nil }
        guard let inner = value.table else { throw wrongType(key, "a table ([\(key)])", value) }
        return TableReader(inner, section: section.map { "\($0).\(key)" } ?? key)
    }

    /// Refuses any key nothing asked for.
    func finish() throws(BoundProblem) {
        for key in table.keys where !known.contains(key) {
            let whereText = section.map { "in [\($0)]" } ?? "at the top level"
            throw BoundProblem("unknown key '\(key)' \(whereText)\(didYouMean(key, in: known))")
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

/// `k=v` pairs from repeated `--label` flags, checked as a job's labels are (`JobSpec.labelProblem`).
public func parseLabels(_ pairs: [String]) throws(CommandError) -> [String: String] {
    var labels: [String: String] = [:]
    for pair in pairs {
        guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else {
            throw CommandError("bad label '\(pair)': expected KEY=VALUE", exitCode: 64)
        }
        labels[String(pair[..<equals])] = String(pair[pair.index(after: equals)...])
    }
    if let problem = JobSpec.labelProblem(labels) { throw CommandError("bad label: \(problem)", exitCode: 64) }
    return labels
}

/// A bind endpoint from a flag, the environment or the config file, checked (`Address.bindEndpoint`):
/// "HOST:PORT", ":PORT" or "PORT" become tcp endpoints; full endpoints are checked as they are.
public func bindEndpoint(_ text: String, defaultPort: Int, option: String) throws(CommandError) -> String {
    do {
        return try Address.bindEndpoint(text, defaultPort: defaultPort, what: option)
    } catch {
        throw CommandError(error.description, exitCode: 64)
    }
}
