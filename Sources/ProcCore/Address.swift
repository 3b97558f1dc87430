import Glibc

/// Addresses as users type them, parsed before any socket exists: a coordinator to connect to
/// (`HOST[:PORT]`, `tcp://HOST:PORT`, `[IPv6]:PORT`) and endpoints to bind (`tcp://*:5555`, `HOST:PORT`,
/// `:PORT`, `PORT`, `ipc://PATH`, `inproc://NAME`). A host is a DNS name (ASCII letters, digits, `-`, `_`,
/// dots), an IPv4 literal or an IPv6 literal in brackets; a port is 1–65535. Anything else is refused
/// with a sentence saying what was expected.
public enum Address {
    /// A host and port to connect to.
    public struct Target: Sendable, Equatable, CustomStringConvertible {
        /// As given, without brackets.
        public let host: String
        public let port: Int
        public let isIPv6: Bool
        /// The host as it goes into an endpoint: an IPv6 literal in brackets.
        public var endpointHost: String { isIPv6 ? "[\(host)]" : host }
        public var endpoint: String { "tcp://\(endpointHost):\(port)" }
        public var description: String { "\(endpointHost):\(port)" }
    }

    public struct Problem: Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// `HOST[:PORT]` or `tcp://HOST:PORT`, one address. `what` names it in messages ("coordinator address").
    public static func target(_ text: String, defaultPort: Int, what: String) throws(Problem) -> Target {
        let given = text.trimmingASCIIWhitespace()
        guard !given.isEmpty else { throw Problem("empty \(what)") }
        if given.contains(",") {
            let parts = given.split(separator: ",", omittingEmptySubsequences: false)
            if parts.count > 1 && parts.allSatisfy({ !$0.trimmingASCIIWhitespace().isEmpty }) {
                throw Problem("bad \(what) '\(text)': a list of \(parts.count) addresses; give one (HOST[:PORT]): "
                    + "lists of coordinators come with failover, which this version does not have")
            }
            throw Problem("bad \(what) '\(text)': a comma is not part of an address (expected HOST[:PORT])")
        }
        var rest = Substring(given)
        if rest.hasPrefix("tcp://") {
            rest = rest.dropFirst(6)
        } else if let scheme = rest.range(of: "://") {
            throw Problem("bad \(what) '\(text)': '\(rest[..<scheme.lowerBound])://' is not supported here "
                + "(expected HOST[:PORT] or tcp://HOST:PORT)")
        }
        let (host, port, isIPv6) = try split(rest, text: text, what: what, defaultPort: defaultPort, wildcards: false)
        return Target(host: host, port: port!, isIPv6: isIPv6)
    }

    /// A bind endpoint: full endpoints (`tcp://HOST:PORT`, `tcp://*:*`, `ipc://PATH`, `inproc://NAME`) are
    /// checked; `HOST:PORT`, `:PORT` and `PORT` become `tcp://…` (`*` for a missing host). Returns the
    /// endpoint to bind.
    public static func bindEndpoint(_ text: String, defaultPort: Int, what: String) throws(Problem) -> String {
        let given = text.trimmingASCIIWhitespace()
        guard !given.isEmpty else { throw Problem("empty \(what)") }
        if given.hasPrefix("inproc://") {
            guard given.count > 9, given.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else {
                throw Problem("bad \(what) '\(text)': inproc://NAME needs a printable name")
            }
            return given
        }
        if given.hasPrefix("ipc://") {
            let path = given.dropFirst(6)
            guard !path.isEmpty, path.utf8.count <= 107, !path.utf8.contains(where: { $0 < 0x20 || $0 == 0x7f }) else {
                throw Problem("bad \(what) '\(text)': ipc://PATH needs a path of 1 to 107 bytes")
            }
            return given
        }
        var rest = Substring(given)
        if rest.hasPrefix("tcp://") {
            rest = rest.dropFirst(6)
        } else if rest.contains("://") {
            throw Problem("bad \(what) '\(text)': expected tcp://HOST:PORT, ipc://PATH, inproc://NAME or HOST:PORT")
        } else if rest.allSatisfy(\.isASCIIDigit) {
            rest = "*:" + rest  // "5555"
        } else if rest.hasPrefix(":") {
            rest = "*" + rest  // ":5555"
        }
        guard !rest.contains(";") else {
            throw Problem("bad \(what) '\(text)': the source;destination form is not supported")
        }
        let (host, port, isIPv6) = try split(rest, text: text, what: what, defaultPort: defaultPort, wildcards: true)
        let shownHost = isIPv6 ? "[\(host)]" : host
        let shownPort = port.map(String.init) ?? (rest.hasSuffix(":0") ? "0" : "*")
        return "tcp://\(shownHost):\(shownPort)"
    }

    /// HOST[:PORT] into its parts; the port is nil for `*` (only with `wildcards`, as is a `*` host).
    private static func split(
        _ rest: Substring, text: String, what: String, defaultPort: Int, wildcards: Bool
    ) throws(Problem) -> (String, Int?, Bool) {
        var host: Substring
        var portText: Substring?
        var isIPv6 = false
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else {
                throw Problem("bad \(what) '\(text)': missing ']' after the IPv6 address")
            }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw Problem("bad \(what) '\(text)': expected ':PORT' after ']'") }
                portText = after.dropFirst()
            }
            isIPv6 = true
            guard isIPv6Literal(String(host)) else {
                throw Problem("bad \(what) '\(text)': '\(host)' is not an IPv6 address")
            }
        } else {
            if let colon = rest.lastIndex(of: ":") {
                host = rest[..<colon]
                portText = rest[rest.index(after: colon)...]
                if host.contains(":") {
                    throw Problem("bad \(what) '\(text)': an IPv6 address goes in brackets, as [\(rest)]:PORT")
                }
            } else {
                host = rest
            }
            if !(wildcards && host == "*") {
                if let problem = hostProblem(String(host)) { throw Problem("bad \(what) '\(text)': \(problem)") }
            }
        }
        var port: Int? = defaultPort
        if let portText {
            if wildcards && (portText == "*" || portText == "0") {
                port = nil  // any free port: libzmq's `*`, which 0 means too
            } else {
                guard !portText.isEmpty, portText.count <= 5, portText.allSatisfy(\.isASCIIDigit),
                    let value = Int(portText), (1...65_535).contains(value)
                else {
                    throw Problem("bad port in \(what) '\(text)': a port is a number from 1 to 65535"
                        + (wildcards ? " (or * or 0 for any free port)" : ""))
                }
                port = value
            }
        }
        return (String(host), port, isIPv6)
    }

    /// Why `host` is not a host name or an IPv4 literal, or nil when it is one.
    public static func hostProblem(_ host: String) -> String? {
        if host.isEmpty { return "the host is empty (expected HOST[:PORT])" }
        guard host.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else {
            return "'\(host)' is not a host name: use ASCII letters, digits, '-' and '.' "
                + "(an international name in its xn-- form), or an IP address"
        }
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 { return nil }
        let name = host.hasSuffix(".") ? String(host.dropLast()) : host
        guard !name.isEmpty, name.utf8.count <= 253 else { return "'\(host)' is too long for a host name (253 bytes)" }
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        for label in labels {
            guard !label.isEmpty, label.utf8.count <= 63,
                label.utf8.allSatisfy({ isASCIIAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") }),
                label.first != "-", label.last != "-"
            else {
                return "'\(host)' is not a host name: each part between dots is 1 to 63 letters, digits, '-' or '_', "
                    + "not starting or ending with '-'"
            }
        }
        if labels.allSatisfy({ $0.allSatisfy(\.isASCIIDigit) }) { return "'\(host)' is not a valid IPv4 address" }
        return nil
    }

    public static func isIPv6Literal(_ text: String) -> Bool {
        var v6 = in6_addr()
        return inet_pton(AF_INET6, text, &v6) == 1
    }

    private static func isASCIIAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}

extension StringProtocol {
    /// Without spaces, tabs and line breaks at either end.
    func trimmingASCIIWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        return String(drop(while: isSpace).reversed().drop(while: isSpace).reversed())
    }
}
