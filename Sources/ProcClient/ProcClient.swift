import ProcCore
import ZeroMQ

/// Talks to a coordinator: requests over a DEALER, the event feed over a SUB. Its sockets live on its
/// own `EventLoop` thread; every method is safe to call from any task.
public final class ProcClient: @unchecked Sendable {
    public let address: CoordinatorAddress
    /// How long a request may go unanswered before it fails as `unreachable`.
    public let requestTimeout: Double
    let loop: EventLoop
    private let ownsLoop: Bool

    // Loop-confined.
    private var dealer: ZMQSocket?
    private var dealerToken: EventLoop.RegistrationToken?
    private var nextRequestID: UInt64 = 0
    private var pending: [UInt64: Pending] = [:]
    private var closed = false
    var subscriptions: [ObjectIdentifier: EventSubscription] = [:]

    private struct Pending {
        let completion: (Result<[UInt8], any Error>) -> Void
        let timer: TimerToken
    }

    /// Connects (lazily: nothing is sent until the first request) to `coordinator` (`HOST[:PORT]`).
    public convenience init(coordinator: String, requestTimeout: Double = 5) throws(ProcClientError) {
        let context = ZMQContext()
        let loop = EventLoop(name: "proc-client", context: context)
        loop.start()
        try self.init(address: CoordinatorAddress(coordinator), loop: loop, ownsLoop: true,
                      requestTimeout: requestTimeout)
    }

    /// Uses an existing loop (an in-process cluster shares its loop with its client).
    public convenience init(coordinator: String, loop: EventLoop, requestTimeout: Double = 5) throws(ProcClientError) {
        try self.init(address: CoordinatorAddress(coordinator), loop: loop, ownsLoop: false,
                      requestTimeout: requestTimeout)
    }

    private init(address: CoordinatorAddress, loop: EventLoop, ownsLoop: Bool, requestTimeout: Double) throws(ProcClientError) {
        self.address = address
        self.loop = loop
        self.ownsLoop = ownsLoop
        self.requestTimeout = requestTimeout
        do {
            try loop.sync { [self] in try openDealer() }
        } catch {
            throw ProcClientError(.badAddress, "cannot connect to \(address): \(error)")
        }
    }

    deinit {
        if ownsLoop {
            loop.stop()
            loop.join()
        }
    }

    /// Closes the sockets; pending requests fail with `closed`. Idempotent.
    public func close() {
        _ = try? loop.sync { [self] in closeOnLoop() }
        if ownsLoop {
            loop.stop()
            loop.join()
            loop.context.terminate()
        }
    }

    private func openDealer() throws {
        let dealer = try ZMQSocket(context: loop.context, type: .dealer)
        dealer.setOption(ZMQ_SNDHWM, 0)
        dealer.setOption(ZMQ_RCVHWM, 0)
        try dealer.connect(address.controlEndpoint)
        self.dealer = dealer
        dealerToken = loop.register(dealer) { [unowned self] in readReplies() }
        loop.onStop { [unowned self] in closeOnLoop() }
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
        if let dealerToken { loop.unregister(dealerToken) }
        dealerToken = nil
        dealer?.close()
        dealer = nil
    }

    // MARK: requests

    /// Sends one request and waits for its reply (or `requestTimeout`).
    public func request<Request: Encodable & Sendable, Reply: Decodable>(
        _ command: Wire.ClientCommand, _ body: Request, as reply: Reply.Type, timeout: Double? = nil
    ) async throws -> Reply {
        let encoded = try WireCoding.encode(body)
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
        guard !closed, let dealer else {
            return completion(.failure(ProcClientError(.closed, "the client was closed")))
        }
        nextRequestID += 1
        let id = nextRequestID
        let timer = loop.schedule(afterMilliseconds: Int64(timeout * 1000)) { [unowned self] in
            guard let request = pending.removeValue(forKey: id) else { return }
            request.completion(.failure(ProcClientError(
                .unreachable,
                "no answer from the coordinator at \(address) after \(formatSeconds(timeout)) "
                    + "(\(command.rawValue)); is it running there? Set --coordinator HOST[:PORT] or "
                    + "PROC_COORDINATOR")))
        }
        pending[id] = Pending(completion: completion, timer: timer)
        let frames: [Frame] = [Wire.clientProtocolBytes, Array(command.rawValue.utf8), requestIDFrame(id), body]
        do {
            if try dealer.send(frames) == false {
                throw ProcClientError(.unreachable, "cannot queue a request to \(address)")
            }
        } catch {
            pending[id] = nil
            loop.cancel(timer)
            completion(.failure(error))
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

func formatSeconds(_ seconds: Double) -> String {
    seconds == seconds.rounded() ? "\(Int(seconds)) s" : "\(seconds) s"
}
