import CZeroMQ

/// A CURVE key pair (RFC 26) as Z85 text, 40 characters each.
public struct CurveKeyPair: Sendable, Equatable {
    public let publicKey: String
    public let secretKey: String

    /// A fresh key pair from libzmq (libsodium underneath).
    public static func generate() throws(ZMQError) -> CurveKeyPair {
        var publicKey = [CChar](repeating: 0, count: 41)
        var secretKey = [CChar](repeating: 0, count: 41)
        guard zmq_curve_keypair(&publicKey, &secretKey) == 0 else { throw .last("zmq_curve_keypair") }
        return CurveKeyPair(publicKey: string(publicKey), secretKey: string(secretKey))
    }

    /// The pair of a secret key; the public half is derived from it.
    public init(secretKey: String) throws(ZMQError) {
        guard Z85.isKey(secretKey) else { throw ZMQError(code: EINVAL, operation: "CURVE secret key") }
        var publicKey = [CChar](repeating: 0, count: 41)
        guard zmq_curve_public(&publicKey, secretKey) == 0 else { throw .last("zmq_curve_public") }
        self.init(publicKey: Self.string(publicKey), secretKey: secretKey)
    }

    private init(publicKey: String, secretKey: String) {
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    private static func string(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Whether libzmq was built with CURVE (Debian's is).
    public static var isAvailable: Bool { zmq_has("curve") != 0 }
}

/// Z85 (RFC 32), the text form of CURVE keys.
public enum Z85 {
    /// The 32 bytes of a 40-character Z85 key, or nil when it is not one.
    public static func decodeKey(_ text: String) -> [UInt8]? {
        guard isKey(text) else { return nil }
        var bytes = [UInt8](repeating: 0, count: 32)
        guard zmq_z85_decode(&bytes, text) != nil else { return nil }
        return bytes
    }

    /// The Z85 text of 32 key bytes.
    public static func encodeKey(_ bytes: [UInt8]) -> String? {
        guard bytes.count == 32 else { return nil }
        var text = [CChar](repeating: 0, count: 41)
        guard zmq_z85_encode(&text, bytes, 32) != nil else { return nil }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static let alphabet = Set(
        "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#".utf8)

    /// 40 characters, all from the Z85 alphabet.
    public static func isKey(_ text: String) -> Bool {
        text.utf8.count == 40 && text.utf8.allSatisfy { alphabet.contains($0) }
    }
}

extension ZMQSocket {
    /// Makes this socket a CURVE server (it must then have a ZAP handler in its context to check clients).
    /// `domain` is passed to the ZAP handler with each handshake.
    public func makeCurveServer(secretKey: String, zapDomain: String) throws(ZMQError) {
        guard setOption(ZMQ_CURVE_SERVER, 1),
            setOption(ZMQ_CURVE_SECRETKEY, Array(secretKey.utf8)),
            setOption(ZMQ_ZAP_DOMAIN, Array(zapDomain.utf8))
        else { throw .last("CURVE server options") }
    }

    /// Makes this socket a CURVE client of the server whose public key is `serverKey`.
    public func makeCurveClient(keys: CurveKeyPair, serverKey: String) throws(ZMQError) {
        guard setOption(ZMQ_CURVE_SERVERKEY, Array(serverKey.utf8)),
            setOption(ZMQ_CURVE_PUBLICKEY, Array(keys.publicKey.utf8)),
            setOption(ZMQ_CURVE_SECRETKEY, Array(keys.secretKey.utf8))
        else { throw .last("CURVE client options") }
    }

    /// Messages larger than this make libzmq drop the connection that sent them (-1: no limit).
    public func setMaxMessageSize(_ bytes: Int64) {
        setOption(ZMQ_MAXMSGSIZE, int64: bytes)
    }
}

/// What a CURVE client (agent, `proc`, a subscriber) needs: its own key pair and the server's public key.
public struct CurveClientKeys: Sendable {
    public var keys: CurveKeyPair
    public var serverKey: String

    public init(keys: CurveKeyPair, serverKey: String) {
        self.keys = keys
        self.serverKey = serverKey
    }
}

extension ZMQSocket {
    public func makeCurveClient(_ client: CurveClientKeys) throws(ZMQError) {
        try makeCurveClient(keys: client.keys, serverKey: client.serverKey)
    }
}

/// The events of a client socket's security handshake, and what a person should be told about them.
public enum HandshakeOutcome: Sendable {
    case succeeded
    /// The server's ZAP handler refused this key (status code, usually 400).
    case refused(code: UInt32)
    /// The handshake broke: a mechanism mismatch (one side without CURVE) or a wrong server key; or, with
    /// libzmq 4.3.4, any connection error during the handshake. `definite`: a protocol error (EPROTO or
    /// a ZMTP protocol error code), not a connection that merely dropped.
    case failed(definite: Bool)

    public static let monitoredEvents: Int32 = ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
        | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL

    public init?(_ event: SocketMonitor.Event) {
        switch event.kind {
        case ZMQ_EVENT_HANDSHAKE_SUCCEEDED: self = .succeeded
        case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH: self = .refused(code: event.value)
        case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL: self = .failed(definite: true)
        case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL: self = .failed(definite: event.value == UInt32(EPROTO))
        default: return nil
        }
    }

    /// What went wrong, for a person; nil when nothing did. `hasKeys`: whether this side used CURVE.
    public func explanation(endpoint: String, publicKey: String?) -> String? {
        switch self {
        case .succeeded:
            return nil
        case .refused(let code):
            return "the coordinator at \(endpoint) refused this key (ZAP status \(code))"
                + (publicKey.map { ": its operator must add the certificate of public key \($0) to the authorized keys" } ?? "")
        case .failed:
            return publicKey == nil
                ? "the security handshake with \(endpoint) failed: the coordinator requires CURVE keys; "
                    + "give --cert (this side's secret certificate) and --coordinator-key"
                : "the security handshake with \(endpoint) failed: wrong --coordinator-key, or the coordinator "
                    + "does not use CURVE"
        }
    }
}
