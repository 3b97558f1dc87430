@_exported import CZeroMQ

/// The socket types proc uses.
public enum SocketType: Sendable {
    case router, dealer, pub, sub, xpub, rep, pair

    var raw: Int32 {
        switch self {
        case .router: ZMQ_ROUTER
        case .dealer: ZMQ_DEALER
        case .pub: ZMQ_PUB
        case .sub: ZMQ_SUB
        case .xpub: ZMQ_XPUB
        case .rep: ZMQ_REP
        case .pair: ZMQ_PAIR
        }
    }
}

/// One frame of a multipart message.
public typealias Frame = [UInt8]

/// A libzmq socket. Not thread-safe: create, use and close it on one thread (the loop that owns it).
public final class ZMQSocket {
    let handle: UnsafeMutableRawPointer
    public let type: SocketType
    public private(set) var isClosed = false
    /// Used since its events were last asked for (`EventLoop`): what it can receive may have changed
    /// without its ZMQ_FD being signalled.
    var needsEventsCheck = true
    /// ZMQ_FD: readable when libzmq has news for this socket (edge-like; see `EventLoop`).
    private(set) lazy var notificationFD: Int32 = {
        var fd: Int32 = -1
        var size = MemoryLayout<Int32>.size
        zmq_getsockopt(handle, ZMQ_FD, &fd, &size)
        return fd
    }()

    public init(context: ZMQContext, type: SocketType) throws(ZMQError) {
        guard let handle = zmq_socket(context.handle, type.raw) else { throw .last("zmq_socket") }
        self.handle = handle
        self.type = type
        // Never block a process at exit on unsent messages; proc resends what matters.
        setOption(ZMQ_LINGER, 0)
    }

    deinit { close() }

    public func close() {
        guard !isClosed else { return }
        isClosed = true
        zmq_close(handle)
    }

    // MARK: options

    @discardableResult
    public func setOption(_ option: Int32, _ value: Int32) -> Bool {
        needsEventsCheck = true
        var value = value
        return zmq_setsockopt(handle, option, &value, MemoryLayout<Int32>.size) == 0
    }

    @discardableResult
    public func setOption(_ option: Int32, _ bytes: [UInt8]) -> Bool {
        needsEventsCheck = true
        return bytes.withUnsafeBytes { zmq_setsockopt(handle, option, $0.baseAddress, $0.count) == 0 }
    }

    @discardableResult
    public func setOption(_ option: Int32, int64 value: Int64) -> Bool {
        needsEventsCheck = true
        var value = value
        return zmq_setsockopt(handle, option, &value, MemoryLayout<Int64>.size) == 0
    }

    /// ZMQ_EVENTS (ZMQ_POLLIN, ZMQ_POLLOUT), or nil if the socket is closed.
    func pendingEvents() -> Int32? {
        var value: Int32 = 0
        var size = MemoryLayout<Int32>.size
        return zmq_getsockopt(handle, ZMQ_EVENTS, &value, &size) == 0 ? value : nil
    }

    public func intOption(_ option: Int32) -> Int32 {
        needsEventsCheck = true  // ZMQ_EVENTS among them would take the signal the loop waits for
        var value: Int32 = 0
        var size = MemoryLayout<Int32>.size
        zmq_getsockopt(handle, option, &value, &size)
        return value
    }

    public func subscribe(_ prefix: String) { setOption(ZMQ_SUBSCRIBE, Array(prefix.utf8)) }

    /// An item for zmq_poll, for programs that poll many sockets themselves (the benchmark's harness).
    public func pollItem(events: Int16 = Int16(ZMQ_POLLIN)) -> zmq_pollitem_t {
        zmq_pollitem_t(socket: handle, fd: -1, events: events, revents: 0)
    }

    /// The endpoint the socket last bound, with a wildcard port resolved ("tcp://127.0.0.1:41235").
    public var lastEndpoint: String {
        var buffer = [CChar](repeating: 0, count: 512)
        var size = buffer.count
        zmq_getsockopt(handle, ZMQ_LAST_ENDPOINT, &buffer, &size)
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    // MARK: endpoints

    public func bind(_ endpoint: String) throws(ZMQError) {
        needsEventsCheck = true
        guard zmq_bind(handle, endpoint) == 0 else { throw .last("bind \(endpoint)") }
    }

    public func connect(_ endpoint: String) throws(ZMQError) {
        needsEventsCheck = true
        guard zmq_connect(handle, endpoint) == 0 else { throw .last("connect \(endpoint)") }
    }

    // MARK: messages

    /// Sends all frames as one message without blocking. Returns false when the message could not be
    /// queued now (EAGAIN: high-water mark; EHOSTUNREACH: ROUTER peer gone). Other errors throw.
    @discardableResult
    public func send(_ frames: [Frame]) throws(ZMQError) -> Bool {
        for (index, frame) in frames.enumerated() {
            guard try send(frame, more: index < frames.count - 1) else { return false }
        }
        return true
    }

    /// A message of two frames, without an array to hold them (the coordinator publishes every event so).
    @discardableResult
    public func send(_ first: Frame, _ second: Frame) throws(ZMQError) -> Bool {
        guard try send(first, more: true) else { return false }
        return try send(second, more: false)
    }

    /// One frame without blocking; false if it could not be queued (libzmq sends multipart messages
    /// atomically: failing the first frame drops nothing).
    private func send(_ frame: Frame, more: Bool) throws(ZMQError) -> Bool {
        needsEventsCheck = true
        let flags = ZMQ_DONTWAIT | (more ? ZMQ_SNDMORE : 0)
        let rc = frame.withUnsafeBytes { zmq_send(handle, $0.baseAddress, $0.count, flags) }
        guard rc < 0 else { return true }
        let code = zmq_errno()
        if code == EAGAIN || code == EHOSTUNREACH || code == EINTR { return false }
        throw ZMQError(code: code, operation: "send")
    }

    /// Receives one whole message without blocking; nil when none is waiting.
    public func receive() throws(ZMQError) -> [Frame]? {
        var ignored: String? = nil
        return try receive(userID: &ignored, wantsUserID: false)
    }

    /// Receives one whole message without blocking, with the `User-Id` its peer was given by the ZAP
    /// handler (nil on connections without ZAP: inproc, NULL security).
    public func receive(userID: inout String?) throws(ZMQError) -> [Frame]? {
        userID = nil
        return try receive(userID: &userID, wantsUserID: true)
    }

    private func receive(userID: inout String?, wantsUserID: Bool) throws(ZMQError) -> [Frame]? {
        needsEventsCheck = true
        var frames: [Frame] = []
        var msg = zmq_msg_t()
        zmq_msg_init(&msg)
        defer { zmq_msg_close(&msg) }
        while true {
            let rc = zmq_msg_recv(&msg, handle, ZMQ_DONTWAIT)
            if rc < 0 {
                let code = zmq_errno()
                if (code == EAGAIN || code == EINTR) && frames.isEmpty { return nil }
                if code == EINTR { continue }
                throw ZMQError(code: code, operation: "receive")
            }
            // Frames from the peer carry its metadata; a ROUTER's routing-id frame is made locally and does not.
            if wantsUserID && userID == nil, let value = zmq_msg_gets(&msg, "User-Id") {
                userID = String(cString: value)
            }
            let size = zmq_msg_size(&msg)
            if size == 0 {
                frames.append([])
            } else {
                let data = zmq_msg_data(&msg)!.assumingMemoryBound(to: UInt8.self)
                frames.append(Array(UnsafeBufferPointer(start: data, count: size)))
            }
            if zmq_msg_more(&msg) == 0 { return frames }
        }
    }

    /// Blocks up to `timeoutMilliseconds` for one message (for simple programs and tests).
    public func receive(timeoutMilliseconds: Int) throws(ZMQError) -> [Frame]? {
        if let message = try receive() { return message }
        var item = zmq_pollitem_t(socket: handle, fd: -1, events: Int16(ZMQ_POLLIN), revents: 0)
        let rc = zmq_poll(&item, 1, timeoutMilliseconds)
        if rc < 0 && zmq_errno() != EINTR { throw .last("poll") }
        return try receive()
    }
}

extension ZMQSocket {
    /// TCP keepalive (idle 10 s, then every 2 s, 3 probes): the kernel closes half-open connections.
    ///
    /// Not ZMTP heartbeats (ZMQ_HEARTBEAT_IVL/TIMEOUT): with libzmq 4.3.4, Debian 12's, a heartbeat
    /// timeout can abort the process with "Assertion failed: !_io_error (stream_engine_base.cpp:331)"
    /// (zeromq/libzmq#4364; it happened in our soak run). proc's own heartbeats decide liveness.
    public func setTCPKeepalive() {
        setOption(ZMQ_TCP_KEEPALIVE, 1)
        setOption(ZMQ_TCP_KEEPALIVE_IDLE, 10)
        setOption(ZMQ_TCP_KEEPALIVE_INTVL, 2)
        setOption(ZMQ_TCP_KEEPALIVE_CNT, 3)
    }
}
