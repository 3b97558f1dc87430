import ProcCore
import ZeroMQ

/// Talks to a coordinator: requests over a DEALER, the event feed over a SUB. Its sockets live on its
/// own `EventLoop` thread; every method is safe to call from any task.
public final class ProcClient: @unchecked Sendable {
    public let address: CoordinatorAddress
    /// How long a request may go unanswered before it fails as `unreachable`.
    public let requestTimeout: Double
    /// CURVE keys for both sockets (nil: none, for a coordinator without CURVE).
    public let security: CurveClientKeys?
    package let loop: EventLoop
    private let ownsLoop: Bool
    /// The ZeroMQ context is the client's own, ended with it (not one it shares with a cluster).
    private let ownsContext: Bool

    // Loop-confined.
    private var dealer: ZMQSocket?
    private var dealerToken: EventLoop.RegistrationToken?
    private var monitor: SocketMonitor?
    /// Why the last security handshake failed, until one succeeds.
    private var handshakeProblem: String?
    private var failedHandshakes = 0
    private var nextRequestID: UInt64 = 0
    private var pending: [UInt64: PendingRequest] = [:]
    private var closed = false
    /// Why the socket could not be opened (loop-confined).
    private var openProblem: String?
    var subscriptions: [ObjectIdentifier: EventSubscription] = [:]
    /// Jobs `submit(_:)` queued for the loop to send together.
    let submitQueue = SubmitQueue()
    /// Events this client's subscriptions fetched with REPLAY instead of from the live feed (gaps, the
    /// slow-joiner window). Loop-confined; read with `replayedEventCount()`.
    var replayedEvents = 0

    /// How many events this client's subscriptions have recovered from the journal so far.
    public func replayedEventCount() async -> Int {
        (try? await loop.call { [self] in replayedEvents }) ?? 0
    }

    struct PendingRequest {
        let completion: (Result<[UInt8], any Error>) -> Void
        let timer: TimerToken
    }

    /// Connects (lazily: nothing is sent until the first request) to `coordinator` (`HOST[:PORT]`).
    public convenience init(
        coordinator: String, requestTimeout: Double = 5, security: CurveClientKeys? = nil
    ) throws(ProcClientError) {
        let context = ZMQContext()
        let loop = EventLoop(name: "proc-client", context: context)
        loop.start()
        try self.init(address: CoordinatorAddress(coordinator), loop: loop, ownsLoop: true, ownsContext: true,
                      requestTimeout: requestTimeout, security: security)
    }

    /// A client with a loop thread of its own on an existing context (an in-process cluster's, reached
    /// over inproc): its decoding and routing then run beside the cluster's loop, not on it.
    package convenience init(coordinator: String, context: ZMQContext, requestTimeout: Double = 5) throws(ProcClientError) {
        let loop = EventLoop(name: "proc-client", context: context)
        loop.start()
        try self.init(address: CoordinatorAddress(coordinator), loop: loop, ownsLoop: true, ownsContext: false,
                      requestTimeout: requestTimeout, security: nil)
    }

    /// Uses an existing loop (an in-process cluster shares its loop with its client).
    public convenience init(coordinator: String, loop: EventLoop, requestTimeout: Double = 5) throws(ProcClientError) {
        try self.init(address: CoordinatorAddress(coordinator), loop: loop, ownsLoop: false, ownsContext: false,
                      requestTimeout: requestTimeout, security: nil)
    }

    private init(
        address: CoordinatorAddress, loop: EventLoop, ownsLoop: Bool, ownsContext: Bool, requestTimeout: Double,
        security: CurveClientKeys?
    ) throws(ProcClientError) {
        self.address = address
        self.loop = loop
        self.ownsLoop = ownsLoop
        self.ownsContext = ownsContext
        self.requestTimeout = requestTimeout
        self.security = security
        // On the loop, before anything sent to it: the caller does not wait (a socket that cannot be opened
        // fails the requests, saying why).
        loop.perform { [self] in
            do {
                try openDealer()
            } catch {
                openProblem = "cannot connect to \(address): \(error)"
            }
        }
    }

    /// Released without `close()` (an early return or a thrown error in the caller's code): everything is
    /// closed all the same. With its own loop, the loop is stopped first, so nothing else can touch the
    /// sockets; on a shared loop, the sockets are closed there.
    deinit {
        if ownsLoop {
            loop.stop()
            loop.join()
            closeOnLoop()
            if ownsContext { loop.context.terminate() }
        } else if !closed {
            let leftover = ClientLeftover(
                loop: loop, token: dealerToken, dealer: dealer, monitor: monitor,
                subscriptions: Array(subscriptions.values), pending: Array(pending.values))
            loop.perform { leftover.close() }
        }
    }

    /// Closes the sockets; pending requests fail with `closed`. Idempotent. Suspends (does not block the
    /// caller's thread) until the client's loop has ended.
    public func shutdown() async {
        _ = try? await loop.call { [self] in closeOnLoop() }
        if ownsLoop {
            await loop.stopAndWait()
            if ownsContext { loop.context.terminate() }
        }
    }

    /// `shutdown` for code that is not async: blocks until done (a moment).
    public func close() {
        _ = try? loop.sync { [self] in closeOnLoop() }
        if ownsLoop {
            loop.stop()
            loop.join()
            if ownsContext { loop.context.terminate() }
        }
    }

    private func openDealer() throws {
        let dealer = try ZMQSocket(context: loop.context, type: .dealer)
        dealer.setOption(ZMQ_SNDHWM, 0)
        dealer.setOption(ZMQ_RCVHWM, 0)
        dealer.setMaxMessageSize(1 << 30)
        try applySecurity(to: dealer)
        // Without CURVE too: a coordinator that requires it fails the handshake, and the user is told so.
        // Weak, not unowned: a client released without close() may still be called until its deinit
        // has unregistered it.
        let monitor = try SocketMonitor(dealer, loop: loop, events: HandshakeOutcome.monitoredEvents) { [weak self] in
            if let self, let outcome = HandshakeOutcome($0) { handshake(outcome) }
        }
        do {
            try dealer.connect(address.controlEndpoint)
        } catch {
            monitor.close()
            throw error
        }
        self.monitor = monitor
        self.dealer = dealer
        dealerToken = loop.register(dealer) { [weak self] in self?.readReplies() }
        loop.onStop { [weak self] in self?.closeOnLoop() }
    }

    private func closeOnLoop() {
        guard !closed else { return }
        closed = true
        for subscription in subscriptions.values { subscription.finish(throwing: nil) }
        subscriptions.removeAll()
        let failed = pending
        pending.removeAll()
        for (_, request) in failed {
            loop.cancel(request.timer)
            request.completion(.failure(ProcClientError(.closed, "the client was closed")))
        }
        monitor?.close()
        monitor = nil
        if let dealerToken { loop.unregister(dealerToken) }
        dealerToken = nil
        dealer?.close()
        dealer = nil
    }

    /// CURVE client options for a socket to the coordinator (the DEALER, and the event feed's SUB).
    func applySecurity(to socket: ZMQSocket) throws {
        if let security { try socket.makeCurveClient(security) }
    }

    /// A failed handshake fails every request waiting for an answer at once, with the reason: a client
    /// with the wrong key hears so within a moment, instead of waiting for a timeout.
    private func handshake(_ outcome: HandshakeOutcome) {
        // libzmq 4.3.4 reports any connection error during a handshake (a reset while the coordinator
        // restarts) like a mechanism mismatch: a refusal counts at once, other failures from the third on.
        switch outcome {
        case .succeeded: failedHandshakes = 0
        case .refused: failedHandshakes = 3
        case .failed(let definite): failedHandshakes = definite ? 3 : failedHandshakes + 1
        }
        handshakeProblem = failedHandshakes >= 3
            ? outcome.explanation(endpoint: address.description, publicKey: security?.keys.publicKey) : nil
        guard let problem = handshakeProblem else { return }
        let failed = pending
        pending.removeAll()
        for (_, request) in failed {
            loop.cancel(request.timer)
            request.completion(.failure(ProcClientError(.unauthorized, problem)))
        }
    }

    // MARK: requests

    /// Sends one request and waits for its reply (or `requestTimeout`).
    public func request<Request: WireWritable & Sendable, Reply: WireReadable>(
        _ command: Wire.ClientCommand, _ body: Request, as reply: Reply.Type, timeout: Double? = nil
    ) async throws -> Reply {
        try await request(command, encoded: body.jsonBytes, as: reply, timeout: timeout)
    }

    /// The largest request body sent: the coordinator drops a connection that sends more than its
    /// maximum message size (64 MiB by default) without a word, so the client says it first.
    public static let maxRequestBytes = 32 << 20

    func request<Reply: WireReadable>(
        _ command: Wire.ClientCommand, encoded: [UInt8], as reply: Reply.Type, timeout: Double? = nil
    ) async throws -> Reply {
        guard encoded.count <= Self.maxRequestBytes else {
            throw ProcClientError(.rejected, "\(command.rawValue) request too large: \(encoded.count >> 20) MiB "
                + "(at most \(Self.maxRequestBytes >> 20) MiB per request); send less at once")
        }
        let bytes = try await send(command, encoded, timeout: timeout ?? requestTimeout)
        do {
            return try WireCoding.decode(Reply.self, from: bytes)
        } catch {
            throw ProcClientError(.protocolError, "unreadable \(command.rawValue) reply from \(address): \(error)")
        }
    }

    private func send(_ command: Wire.ClientCommand, _ body: [UInt8], timeout: Double) async throws -> [UInt8] {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[UInt8], any Error>) in
            loop.execute { [self] in
                sendOnLoop(command, body, timeout: timeout) { continuation.resume(with: $0) }
            }
        }
    }

    /// Sends a request from the loop thread; `completion` runs on the loop thread, exactly once.
    func sendOnLoop(
        _ command: Wire.ClientCommand, _ body: [UInt8], timeout: Double,
        completion: @escaping (Result<[UInt8], any Error>) -> Void
    ) {
        if let openProblem { return completion(.failure(ProcClientError(.badAddress, openProblem))) }
        guard !closed, dealer != nil else {
            return completion(.failure(ProcClientError(.closed, "the client was closed")))
        }
        // After a protocol failure libzmq stops reconnecting: nothing sent now would ever be answered.
        if let handshakeProblem { return completion(.failure(ProcClientError(.unauthorized, handshakeProblem))) }
        nextRequestID += 1
        let id = nextRequestID
        let timer = loop.schedule(afterMilliseconds: Int64((timeout * 1000).rounded())) { [weak self] in
            guard let self, let request = pending.removeValue(forKey: id) else { return }
            request.completion(.failure(ProcClientError(
                .unreachable,
                "no answer from the coordinator at \(address) after \(formatSeconds(timeout)) "
                    + "(\(command.rawValue)); is it running there? Set --coordinator HOST[:PORT] or "
                    + "PROC_COORDINATOR")))
        }
        pending[id] = PendingRequest(completion: completion, timer: timer)
        let frames: [Frame] = [Wire.clientProtocolBytes, Array(command.rawValue.utf8), requestIDFrame(id), body]
        trySend(id, frames)
    }

    /// Queues a pending request's frames. When libzmq has no connection to queue on (between handshake
    /// attempts, after a failed one), it tries again shortly; the handshake's outcome or the request's
    /// timeout ends the request meanwhile.
    private func trySend(_ id: UInt64, _ frames: [Frame]) {
        guard let dealer, pending[id] != nil else { return }
        do {
            if try dealer.send(frames) == false {
                if let handshakeProblem { throw ProcClientError(.unauthorized, handshakeProblem) }
                loop.schedule(afterMilliseconds: 20) { [weak self] in self?.trySend(id, frames) }
            }
        } catch {
            guard let request = pending.removeValue(forKey: id) else { return }
            loop.cancel(request.timer)
            request.completion(.failure(error))
        }
    }

    private func readReplies() {
        guard let dealer else { return }
        while let message = try? dealer.receive() {
            guard message.count == 4, message[0] == Wire.clientProtocolBytes, let id = requestID(message[2]),
                let request = pending.removeValue(forKey: id)
            else { continue }  // a reply to a request that already timed out
            loop.cancel(request.timer)
            let command = String(decoding: message[1], as: UTF8.self)
            if command == Wire.ClientCommand.error.rawValue {
                let error = (try? WireCoding.decode(ErrorReply.self, from: message[3]))
                    .map(ProcClientError.init) ?? ProcClientError(.protocolError, "unreadable error reply")
                request.completion(.failure(error))
            } else {
                request.completion(.success(message[3]))
            }
        }
    }

    private func requestIDFrame(_ id: UInt64) -> Frame {
        withUnsafeBytes(of: id.bigEndian) { Array($0) }
    }

    private func requestID(_ frame: Frame) -> UInt64? {
        guard frame.count == 8 else { return nil }
        return frame.reduce(0) { $0 << 8 | UInt64($1) }
    }
}

/// The loop-confined parts of a client released without `close()` on a loop it shares.
private final class ClientLeftover: @unchecked Sendable {
    let loop: EventLoop
    let token: EventLoop.RegistrationToken?
    let dealer: ZMQSocket?
    let monitor: SocketMonitor?
    let subscriptions: [EventSubscription]
    let pending: [(completion: (Result<[UInt8], any Error>) -> Void, timer: TimerToken)]

    init(loop: EventLoop, token: EventLoop.RegistrationToken?, dealer: ZMQSocket?, monitor: SocketMonitor?,
         subscriptions: [EventSubscription], pending: [ProcClient.PendingRequest]) {
        self.loop = loop
        self.token = token
        self.dealer = dealer
        self.monitor = monitor
        self.subscriptions = subscriptions
        self.pending = pending.map { ($0.completion, $0.timer) }
    }

    func close() {
        for subscription in subscriptions { subscription.finish(throwing: nil) }
        for request in pending {
            loop.cancel(request.timer)
            request.completion(.failure(ProcClientError(.closed, "the client was released")))
        }
        monitor?.close()
        if let token { loop.unregister(token) }
        dealer?.close()
    }
}

func formatSeconds(_ seconds: Double) -> String {
    seconds == seconds.rounded() ? "\(Int(seconds)) s" : "\(seconds) s"
}
