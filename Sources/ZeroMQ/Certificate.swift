import Glibc

/// A CURVE certificate in the ZPL text format (RFC 4) that czmq's zcert and pyzmq's `zmq.auth` write:
/// `NAME.key` holds the public key, `NAME.key_secret` both keys; a `metadata` section holds free
/// name/value pairs (proc keeps the peer's role there).
///
/// ```
/// metadata
///     role = "agent"
/// curve
///     public-key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
///     secret-key = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"
/// ```
public struct Certificate: Sendable, Equatable {
    public var publicKey: String
    public var secretKey: String?
    public var metadata: [String: String]

    public init(publicKey: String, secretKey: String? = nil, metadata: [String: String] = [:]) {
        self.publicKey = publicKey
        self.secretKey = secretKey
        self.metadata = metadata
    }

    /// A new key pair.
    public static func generate(metadata: [String: String] = [:]) throws(ZMQError) -> Certificate {
        let keys = try CurveKeyPair.generate()
        return Certificate(publicKey: keys.publicKey, secretKey: keys.secretKey, metadata: metadata)
    }

    /// A server's public key given either as the 40-character Z85 key itself or as the path of its
    /// certificate (`NAME.key`); a file of that name wins over the key.
    public static func publicKey(keyOrPath: String) throws -> String {
        if Z85.isKey(keyOrPath) && access(keyOrPath, F_OK) != 0 { return keyOrPath }
        return try load(path: keyOrPath).publicKey
    }

    /// The key pair, when this certificate has its secret half.
    public var keyPair: CurveKeyPair? {
        guard let secretKey, let keys = try? CurveKeyPair(secretKey: secretKey), keys.publicKey == publicKey
        else { return nil }
        return keys
    }

    // MARK: reading

    public struct FormatError: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// Reads a certificate file (`NAME.key` or `NAME.key_secret`).
    public static func load(path: String) throws -> Certificate {
        guard let text = readTextFile(path, limit: 64 * 1024) else {
            throw FormatError(description: "cannot read certificate \(path): \(String(cString: strerror(errno)))")
        }
        switch Result(catching: { () throws(FormatError) -> Certificate in try parse(text) }) {
        case .success(let certificate): return certificate
        case .failure(let error): throw FormatError(description: "\(path): \(error.description)")
        }
    }

    /// Parses ZPL text: `#` comments, sections by indentation (4 spaces per level), `name = value` with
    /// the value quoted ("…" or '…') or bare (pyzmq writes metadata values bare).
    public static func parse(_ text: String) throws(FormatError) -> Certificate {
        var section = ""
        var curve: [String: String] = [:]
        var metadata: [String: String] = [:]
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            let line = String(rawLine)
            let trimmed = line.drop { $0 == " " || $0 == "\t" }
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            let indent = line.count - trimmed.count
            let (name, value) = nameAndValue(String(trimmed))
            if indent == 0 {
                section = name
                continue
            }
            guard let value else { continue }  // a deeper section name: nothing proc reads
            switch section {
            case "curve": curve[name] = value
            case "metadata": metadata[name] = value
            default: continue
            }
        }
        guard let publicKey = curve["public-key"] else {
            throw FormatError(description: "no curve/public-key in the certificate")
        }
        guard Z85.isKey(publicKey) else {
            throw FormatError(description: "curve/public-key is not a 40-character Z85 key")
        }
        let secretKey = curve["secret-key"]
        if let secretKey {
            guard Z85.isKey(secretKey) else {
                throw FormatError(description: "curve/secret-key is not a 40-character Z85 key")
            }
            guard let pair = try? CurveKeyPair(secretKey: secretKey), pair.publicKey == publicKey else {
                throw FormatError(description: "curve/secret-key does not match curve/public-key")
            }
        }
        return Certificate(publicKey: publicKey, secretKey: secretKey, metadata: metadata)
    }

    private static func nameAndValue(_ line: String) -> (String, String?) {
        guard let equals = line.firstIndex(of: "=") else {
            return (line.trimmingSpaces(), nil)
        }
        let name = String(line[..<equals]).trimmingSpaces()
        var value = String(line[line.index(after: equals)...]).trimmingSpaces()
        if value.count >= 2, let first = value.first, first == "\"" || first == "'", value.last == first {
            value = String(value.dropFirst().dropLast())
        } else if let hash = value.firstIndex(of: "#") {  // a bare value may be followed by a comment
            value = String(value[..<hash]).trimmingSpaces()
        }
        return (name, value)
    }

    // MARK: writing

    /// The public certificate's text (no secret key).
    public var publicText: String { text(includingSecret: false) }

    /// The secret certificate's text (both keys).
    public var secretText: String { text(includingSecret: true) }

    private func text(includingSecret: Bool) -> String {
        var out = "#   ****  Generated by proc  ****\n"
        if includingSecret {
            out += "#   ZeroMQ CURVE **Secret** Certificate\n"
            out += "#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.\n\n"
        } else {
            out += "#   ZeroMQ CURVE Public Certificate\n"
            out += "#   Exchange securely, or use a secure mechanism to verify the contents\n"
            out += "#   of this file after exchange.\n\n"
        }
        out += "metadata\n"
        for (name, value) in metadata.sorted(by: { $0.key < $1.key }) {
            out += "    \(name) = \"\(value)\"\n"
        }
        out += "curve\n"
        out += "    public-key = \"\(publicKey)\"\n"
        if includingSecret, let secretKey { out += "    secret-key = \"\(secretKey)\"\n" }
        return out
    }

    /// Writes `BASE` (public, mode 0644) and `BASE_secret` (mode 0600), as zcert and pyzmq name them:
    /// `save(base: "keys/agent1.key")` writes keys/agent1.key and keys/agent1.key_secret. Refuses to
    /// overwrite either file.
    public func save(base: String) throws {
        try writeNew(base + "_secret", secretText, mode: 0o600)
        try writeNew(base, publicText, mode: 0o644)
    }

    private func writeNew(_ path: String, _ text: String, mode: mode_t) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else {
            throw FormatError(description: "cannot create \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count else {
            throw FormatError(description: "cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }
}

/// The contents of a small text file, nil when it cannot be read (errno says why) or is over `limit` bytes.
func readTextFile(_ path: String, limit: Int) -> String? {
    // Non-blocking, and regular files only: a FIFO or a device named NAME.key must not hang the reader.
    let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
        errno = EINVAL
        return nil
    }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        guard n >= 0 else { return nil }
        if n == 0 { break }
        bytes.append(contentsOf: buffer[0..<n])
        if bytes.count > limit {
            errno = EFBIG
            return nil
        }
    }
    return String(decoding: bytes, as: UTF8.self)
}

extension String {
    func trimmingSpaces() -> String {
        var view = Substring(self)
        while let first = view.first, first == " " || first == "\t" { view = view.dropFirst() }
        while let last = view.last, last == " " || last == "\t" { view = view.dropLast() }
        return String(view)
    }
}
