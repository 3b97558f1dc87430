import ProcCore

/// Where a coordinator is: `HOST[:PORT]` or a full `tcp://HOST:PORT` (or `inproc://…`, `ipc://…`)
/// endpoint, parsed and checked before any socket exists (`Address`).
public struct CoordinatorAddress: Sendable, Equatable, CustomStringConvertible {
    public static let defaultPort = 5555
    public static let defaultEventsPort = 5556

    /// The control endpoint to connect to: "tcp://127.0.0.1:5555".
    public let controlEndpoint: String
    /// The host part, used to reach the event feed on the port the coordinator reports.
    public let host: String?

    public init(_ text: String) throws(ProcClientError) {
        if text.hasPrefix("inproc://") || text.hasPrefix("ipc://") {
            do {
                controlEndpoint = try Address.bindEndpoint(text, defaultPort: Self.defaultPort, what: "coordinator address")
            } catch {
                throw ProcClientError(.badAddress, error.description)
            }
            host = nil
            return
        }
        do {
            let target = try Address.target(text, defaultPort: Self.defaultPort, what: "coordinator address")
            controlEndpoint = target.endpoint
            host = target.endpointHost
        } catch {
            throw ProcClientError(.badAddress, error.description)
        }
    }

    /// The event feed's endpoint, given the port the coordinator reports.
    public func eventsEndpoint(port: Int?, reported: String) -> String {
        guard let host, let port else { return reported }
        return "tcp://\(host):\(port)"
    }

    public var description: String { controlEndpoint }
}
