/// Where a coordinator is: `HOST[:PORT]` or a full `tcp://HOST:PORT` (or `inproc://…`) endpoint.
public struct CoordinatorAddress: Sendable, Equatable, CustomStringConvertible {
    public static let defaultPort = 5555
    public static let defaultEventsPort = 5556

    /// The control endpoint to connect to: "tcp://127.0.0.1:5555".
    public let controlEndpoint: String
    /// The host part, used to reach the event feed on the port the coordinator reports.
    public let host: String?

    public init(_ text: String) throws(ProcClientError) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { throw ProcClientError(.badAddress, "empty coordinator address") }
        if trimmed.hasPrefix("inproc://") || trimmed.hasPrefix("ipc://") {
            controlEndpoint = trimmed
            host = nil
            return
        }
        var rest = trimmed
        if rest.hasPrefix("tcp://") { rest.removeFirst(6) }
        var host = rest
        var port = Self.defaultPort
        if rest.hasPrefix("[") {  // [::1]:5555
            guard let close = rest.firstIndex(of: "]") else {
                throw ProcClientError(.badAddress, "bad coordinator address '\(text)': missing ']'")
            }
            host = String(rest[rest.index(after: rest.startIndex)..<close])
            let after = rest[rest.index(after: close)...]
            if after.hasPrefix(":") {
                guard let value = Int(after.dropFirst()), (1...65535).contains(value) else {
                    throw ProcClientError(.badAddress, "bad port in coordinator address '\(text)'")
                }
                port = value
            }
            controlEndpoint = "tcp://[\(host)]:\(port)"
            self.host = "[\(host)]"
            return
        }
        if let colon = rest.lastIndex(of: ":") {
            host = String(rest[..<colon])
            guard let value = Int(rest[rest.index(after: colon)...]), (1...65535).contains(value) else {
                throw ProcClientError(.badAddress, "bad port in coordinator address '\(text)' (expected HOST[:PORT])")
            }
            port = value
        }
        guard !host.isEmpty, !host.contains("/") else {
            throw ProcClientError(.badAddress, "bad coordinator address '\(text)' (expected HOST[:PORT])")
        }
        controlEndpoint = "tcp://\(host):\(port)"
        self.host = host
    }

    /// The event feed's endpoint, given the port the coordinator reports.
    public func eventsEndpoint(port: Int?, reported: String) -> String {
        guard let host, let port else { return reported }
        return "tcp://\(host):\(port)"
    }

    public var description: String { controlEndpoint }
}

extension String {
    fileprivate func trimmingCharacters(in set: Set<Character>) -> String {
        String(drop(while: { set.contains($0) }).reversed().drop(while: { set.contains($0) }).reversed())
    }
}

extension Set where Element == Character {
    fileprivate static let whitespaces: Set<Character> = [" ", "\t", "\n", "\r"]
}
