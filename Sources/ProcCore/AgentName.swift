/// An agent's name: unique in the cluster, and the default name of its data directory, so it must be a
/// usable file name. 1 to 128 bytes, no whitespace, control characters or '/', and not "." or "..".
public enum AgentName {
    public static let maxBytes = 128

    /// Why `name` cannot name an agent, or nil when it can.
    public static func problem(_ name: String) -> String? {
        if name.isEmpty { return "an agent name cannot be empty" }
        if name.utf8.count > maxBytes { return "an agent name is at most \(maxBytes) bytes" }
        if name == "." || name == ".." { return "an agent name cannot be '.' or '..'" }
        if name.contains("/") { return "an agent name cannot contain '/'" }
        if name.unicodeScalars.contains(where: {
            $0.properties.generalCategory == .control || $0.properties.isWhitespace
        }) {
            return "an agent name cannot contain spaces or control characters"
        }
        return nil
    }
}
