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
