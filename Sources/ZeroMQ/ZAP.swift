import CZeroMQ

/// One authentication request from libzmq (ZAP, RFC 27): a peer is in its security handshake.
public struct ZAPRequest: Sendable {
    public let domain: String
    /// The peer's IP address.
    public let address: String
    public let mechanism: String
    /// CURVE: the client's public key as Z85.
    public let curvePublicKey: String?
}

/// What the handler answers. `allow`'s `userID` is attached to every message from that connection
/// (`ZMQSocket.receive(userID:)`).
public enum ZAPDecision: Sendable {
    case allow(userID: String)
    case deny(reason: String)
}

/// The ZAP handler of a context: a REP socket on `inproc://zeromq.zap.01`, served on the loop thread.
/// Without one, libzmq lets every CURVE key in; with one, every handshake on a socket that has a ZAP
/// domain waits for `authorize`. Create, use and close it on the loop thread (*loop only*), before the
/// sockets it guards accept connections.
public final class ZAPHandler {
    public static let endpoint = "inproc://zeromq.zap.01"

    private let loop: EventLoop
    private var socket: ZMQSocket?
    private var token: EventLoop.RegistrationToken?
    private let authorize: (ZAPRequest) -> ZAPDecision
    /// Requests that were not valid ZAP (cannot happen from libzmq itself; counted for the record).
    public private(set) var malformed = 0

    public init(loop: EventLoop, authorize: @escaping (ZAPRequest) -> ZAPDecision) throws(ZMQError) {
        self.loop = loop
        self.authorize = authorize
        let socket = try ZMQSocket(context: loop.context, type: .rep)
        try socket.bind(Self.endpoint)
        self.socket = socket
        token = loop.register(socket) { [unowned self] in serve() }
    }

    /// Dropped without `close()` (an error path of its owner): closed on its loop all the same.
    deinit {
        guard let socket else { return }
        let leftover = Leftover(loop: loop, token: token, socket: socket, monitored: nil)
        loop.perform { leftover.close() }
    }

    public func close() {
        if let token { loop.unregister(token) }
        token = nil
        socket?.close()
        socket = nil
    }

    private func serve() {
        guard let socket else { return }
        while let frames = try? socket.receive() {
            // version, request id, domain, address, identity, mechanism, credentials…
            guard frames.count >= 6, frames[0] == Array("1.0".utf8) else {
                malformed += 1
                _ = try? socket.send(reply(requestID: frames.count > 1 ? frames[1] : [], "500", "malformed ZAP request", ""))
                continue
            }
            let mechanism = String(decoding: frames[5], as: UTF8.self)
            let key = mechanism == "CURVE" && frames.count >= 7 ? Z85.encodeKey(frames[6]) : nil
            let request = ZAPRequest(
                domain: String(decoding: frames[2], as: UTF8.self),
                address: String(decoding: frames[3], as: UTF8.self),
                mechanism: mechanism, curvePublicKey: key)
            switch authorize(request) {
            case .allow(let userID):
                _ = try? socket.send(reply(requestID: frames[1], "200", "OK", userID))
            case .deny(let reason):
                _ = try? socket.send(reply(requestID: frames[1], "400", reason, ""))
            }
        }
    }

    private func reply(requestID: Frame, _ status: String, _ text: String, _ userID: String) -> [Frame] {
        [Array("1.0".utf8), requestID, Array(status.utf8), Array(text.utf8), Array(userID.utf8), []]
    }
}

/// Watches a socket's connection events (zmq_socket_monitor) on the loop thread: connects, disconnects
/// and the outcome of each security handshake. *Loop only*; close it before the socket it watches.
public final class SocketMonitor {
    public struct Event: Sendable {
        /// One of ZMQ_EVENT_*.
        public let kind: Int32
        /// The event's value: for a failed handshake, the reason (a ZAP status code such as 400 for
        /// ZMQ_EVENT_HANDSHAKE_FAILED_AUTH, a ZMQ_PROTOCOL_ERROR_* code for a failed protocol).
        public let value: UInt32
        public let endpoint: String
    }

    private let loop: EventLoop
    private let watched: ZMQSocket
    private var pair: ZMQSocket?
    private var token: EventLoop.RegistrationToken?

    public init(_ socket: ZMQSocket, loop: EventLoop, events: Int32, handler: @escaping (Event) -> Void) throws(ZMQError) {
        self.loop = loop
        self.watched = socket
        let endpoint = "inproc://proc-monitor-\(UInt64.random(in: 0...UInt64.max))"
        guard zmq_socket_monitor(socket.handle, endpoint, events) == 0 else { throw .last("zmq_socket_monitor") }
        let pair = try ZMQSocket(context: loop.context, type: .pair)
        try pair.connect(endpoint)
        self.pair = pair
        token = loop.register(pair) { [unowned self] in
            guard let pair = self.pair else { return }
            while let frames = try? pair.receive() {
                guard frames.count == 2, frames[0].count == 6 else { continue }
                let raw = frames[0]
                let kind = Int32(UInt16(raw[0]) | UInt16(raw[1]) << 8)  // native (little-endian) order
                let value = UInt32(raw[2]) | UInt32(raw[3]) << 8 | UInt32(raw[4]) << 16 | UInt32(raw[5]) << 24
                handler(Event(kind: kind, value: value, endpoint: String(decoding: frames[1], as: UTF8.self)))
            }
        }
    }

    /// Dropped without `close()` (its owner failed half-way, or was released on an error path): closed on
    /// its loop all the same. A library cleans up; it does not trap.
    deinit {
        guard let pair else { return }
        let leftover = Leftover(loop: loop, token: token, socket: pair, monitored: watched)
        loop.perform { leftover.close() }
    }

    public func close() {
        if let token { loop.unregister(token) }
        token = nil
        zmq_socket_monitor(watched.handle, nil, 0)
        pair?.close()
        pair = nil
    }
}

/// What a dropped ZAP handler or monitor leaves on its loop: its registration and its socket.
private final class Leftover: @unchecked Sendable {
    let loop: EventLoop
    let token: EventLoop.RegistrationToken?
    let socket: ZMQSocket
    let monitored: ZMQSocket?

    init(loop: EventLoop, token: EventLoop.RegistrationToken?, socket: ZMQSocket, monitored: ZMQSocket?) {
        self.loop = loop
        self.token = token
        self.socket = socket
        self.monitored = monitored
    }

    func close() {
        if let token { loop.unregister(token) }
        if let monitored, !monitored.isClosed { zmq_socket_monitor(monitored.handle, nil, 0) }
        socket.close()
    }
}
