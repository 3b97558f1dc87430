import Glibc
import Logging
import ProcCore
import ZeroMQ

/// An agent's connection to a coordinator on another process or host: a DEALER with the coordinator's
/// CURVE key if it has one, heartbeats both ways (`PeerLiveness`) and reconnection with backoff
/// (`ReconnectBackoff`) when the coordinator falls silent. Confined to the agent's loop.
final class SocketLink {
    private let configuration: AgentConfiguration
    private let loop: EventLoop
    private let logger: Logger
    private var dealer: ZMQSocket?
    private var token: EventLoop.RegistrationToken?
    private var monitor: SocketMonitor?
    /// The routing id of the current connection: a new one per connection, so the coordinator can only
    /// reach this connection after its HELLO (a stable id would let ROUTER_HANDOVER route runs to a new
    /// connection before its HELLO is read).
    private(set) var routingID: [UInt8] = []
    private(set) var liveness: PeerLiveness
    private var backoff: ReconnectBackoff
    private var lastHandshakeComplaint: Int64?
    private var reconnectPending = false

    /// A message from the coordinator (loop thread).
    var receive: (CoordinatorMessage) -> Void = { _ in }
    /// A frame set that is not a coordinator's message: counted by the agent.
    var malformed: (String) -> Void = { _ in }
    /// Connected again after a silence: the agent says HELLO.
    var connected: () -> Void = {}
    /// The coordinator refused this agent's key during the handshake.
    var refused: (String) -> Void = { _ in }

    init(configuration: AgentConfiguration, loop: EventLoop, logger: Logger) {
        self.configuration = configuration
        self.loop = loop
        self.logger = logger
        liveness = PeerLiveness(intervalMilliseconds: configuration.heartbeatMilliseconds,
                                liveness: configuration.liveness, now: monotonicMilliseconds())
        backoff = ReconnectBackoff(minimumMilliseconds: configuration.reconnectMinMilliseconds,
                                   maximumMilliseconds: configuration.reconnectMaxMilliseconds)
    }

    var isOpen: Bool { dealer != nil }

    func open() throws {
        let dealer = try ZMQSocket(context: loop.context, type: .dealer)
        routingID = Array("agent/\(configuration.name)/\(UInt32.random(in: 0...UInt32.max))".utf8)
        dealer.setOption(ZMQ_ROUTING_ID, routingID)
        dealer.setOption(ZMQ_SNDHWM, 0)
        dealer.setOption(ZMQ_RCVHWM, 0)
        dealer.setTCPKeepalive()
        dealer.setMaxMessageSize(configuration.maxMessageBytes)
        if let security = configuration.security {
            try dealer.makeCurveClient(security)
            monitor = try SocketMonitor(dealer, loop: loop, events: HandshakeOutcome.monitoredEvents) { [weak self] in
                if let self, let outcome = HandshakeOutcome($0) { handshake(outcome) }
            }
        }
        do {
            try dealer.connect(configuration.coordinatorEndpoint)
        } catch {
            monitor?.close()
            monitor = nil
            throw error
        }
        self.dealer = dealer
        token = loop.register(dealer) { [weak self] in self?.read() }
        liveness.heard(at: monotonicMilliseconds())
    }

    func close() {
        monitor?.close()
        monitor = nil
        if let token { loop.unregister(token) }
        token = nil
        dealer?.close()
        dealer = nil
    }

    @discardableResult
    func send(_ message: AgentMessage) -> Bool {
        guard let dealer else { return false }
        do {
            guard try dealer.send(message.frames) else { return false }
            liveness.sent(at: monotonicMilliseconds())
            return true
        } catch {
            logger.warning("send to coordinator failed", metadata: ["error": "\(error)"])
            return false
        }
    }

    /// WELCOME: the coordinator's heartbeat settings, and the next reconnect starts from the shortest wait.
    func welcomed(_ welcome: Welcome) {
        liveness.reconfigure(intervalMilliseconds: welcome.heartbeatMilliseconds, liveness: welcome.liveness)
        backoff.reset()
    }

    /// Heartbeats, and the coordinator's liveness: a silent coordinator is reconnected to after a backoff.
    func tick() {
        guard dealer != nil else { return }
        let now = monotonicMilliseconds()
        switch liveness.check(at: now) {
        case .none: break
        case .sendHeartbeat: send(.heartbeat)
        case .lost(let silent):
            close()
            let delay = backoff.delay { Int.random(in: $0) }
            logger.warning("no word from the coordinator; reconnecting", metadata: [
                "silent.ms": .stringConvertible(silent), "retry.ms": .stringConvertible(delay),
            ])
            reconnectPending = true
            loop.schedule(afterMilliseconds: Int64(delay)) { [weak self] in
                guard let self, reconnectPending, dealer == nil else { return }
                reconnectPending = false
                do {
                    try open()
                    connected()
                } catch {
                    logger.error("reconnect failed", metadata: ["error": "\(error)"])
                }
            }
        }
    }

    /// No more reconnecting (the agent stops).
    func stopReconnecting() { reconnectPending = false }

    private func read() {
        guard let dealer else { return }
        while let frames = try? dealer.receive() {
            guard frames.count == 3, frames[0] == Wire.agentProtocolBytes,
                let command = Wire.AgentCommand(frame: frames[1])
            else {
                malformed("unknown protocol, command or frame count")
                continue
            }
            liveness.heard(at: monotonicMilliseconds())
            do {
                guard let message = try CoordinatorMessage(command, body: frames[2]) else {
                    malformed("\(command.rawValue) is not sent by a coordinator")
                    continue
                }
                receive(message)
            } catch {
                malformed("invalid \(command.rawValue): \(error)")
            }
        }
    }

    private func handshake(_ outcome: HandshakeOutcome) {
        let endpoint = configuration.coordinatorEndpoint
        guard let problem = outcome.explanation(endpoint: endpoint, publicKey: configuration.security?.keys.publicKey)
        else { return }
        if case .refused = outcome { return refused(problem) }
        // libzmq retries by itself; say it once every 30 s, not at every retry.
        let now = monotonicMilliseconds()
        if lastHandshakeComplaint.map({ now - $0 >= 30_000 }) ?? true {
            lastHandshakeComplaint = now
            logger.error("cannot join: \(problem)")
        }
    }
}
