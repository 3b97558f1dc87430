import ProcCore
import ZeroMQ

extension ProcClient {
    /// The event feed as an async sequence, complete and in order.
    ///
    /// Subscribes to the coordinator's PUB socket and fills every hole from the journal: events from
    /// `from` (or from the moment of subscribing) are delivered once each, in `seq` order, even those
    /// published before the subscription reached the coordinator (the slow-joiner window) or dropped by
    /// a full high-water mark. `topics` are prefixes (`job.`, `agent.`); empty means everything.
    public func events(topics: [String] = [], from seq: UInt64? = nil) -> EventStream {
        events(topics: topics, from: seq, want: nil)
    }

    /// `events`, with `want` asked of each event's topic on the client's loop before it is decoded: an
    /// event it does not want is passed over (still in order: no replay for it).
    package func events(topics: [String], from seq: UInt64?, want: (@Sendable ([UInt8]) -> Bool)?) -> EventStream {
        let (stream, continuation) = AsyncThrowingStream<[Event], any Error>.makeStream(bufferingPolicy: .unbounded)
        loop.execute { [self] in
            let subscription = EventSubscription(
                client: self, topics: topics, want: want, deliver: { continuation.yield($0) },
                end: { continuation.finish(throwing: $0) })
            subscriptions[ObjectIdentifier(subscription)] = subscription
            continuation.onTermination = { [weak self] _ in
                self?.loop.execute { [weak self] in
                    subscription.close()
                    self?.subscriptions[ObjectIdentifier(subscription)] = nil
                }
            }
            subscription.start(from: seq)
        }
        return EventStream(batches: stream)
    }

    /// The feed handed to `deliver` on the client's loop thread, in batches, complete and in order, from
    /// `seq`: for a consumer that lives on the loop (no task, no stream between). `end` is called once
    /// when the feed ends (nil: the client closed). Loop only.
    package func followEvents(
        topics: [String], from seq: UInt64?, want: (@Sendable ([UInt8]) -> Bool)?,
        deliver: @escaping ([Event]) -> Void, end: @escaping ((any Error)?) -> Void
    ) {
        let subscription = EventSubscription(client: self, topics: topics, want: want, deliver: deliver, end: end)
        subscriptions[ObjectIdentifier(subscription)] = subscription
        subscription.start(from: seq)
    }
}

/// The event feed, one event at a time: `for try await event in client.events()`.
///
/// The client's loop hands events over in batches (all that one read of the socket or one replay
/// brought, in order) and this hands them out one by one. The standard library's AsyncThrowingStream,
/// unspecialized across modules, cost as much per element as decoding the event (40% of ten feed
/// subscribers' samples, in generic metadata lookups and task switches); per batch, it does not.
public struct EventStream: AsyncSequence, Sendable {
    public typealias Element = Event
    public typealias Failure = any Error
    let batches: AsyncThrowingStream<[Event], any Error>

    public struct AsyncIterator: AsyncIteratorProtocol {
        var batches: AsyncThrowingStream<[Event], any Error>.AsyncIterator
        var current: [Event] = []
        var index = 0

        public mutating func next() async throws -> Event? {
            while index == current.count {
                guard let batch = try await batches.next() else { return nil }
                current = batch
                index = 0
            }
            index += 1
            return current[index - 1]
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(batches: batches.makeAsyncIterator()) }
}

/// One subscriber: a SUB socket plus replay from the journal. Confined to the client's loop.
final class EventSubscription: @unchecked Sendable {  // confined to the client loop
    /// Weak: a client released without close() ends its subscriptions from its deinit.
    private weak var client: ProcClient?
    private let loop: EventLoop
    private let topics: [String]
    private let want: (@Sendable ([UInt8]) -> Bool)?
    private let deliver: ([Event]) -> Void
    private let end: ((any Error)?) -> Void
    /// Events ready for the stream, handed over together at the end of a read or a replay, or every
    /// `maxHandOver` of them. Kept small: an array handed over cannot be reused, and a new one of a few
    /// thousand events (about 300 bytes each) came from fresh pages that the kernel had to zero, a quarter
    /// of ten subscribers' time in the feed benchmark.
    private var ready: [Event] = []
    private static let maxHandOver = 256
    private var socket: ZMQSocket?
    private var token: EventLoop.RegistrationToken?
    private var nextSeq: UInt64 = 1
    private var buffer: [UInt64: Event] = [:]
    private var replaying = false
    private var finished = false
    /// While the feed is quiet, ask the coordinator where it is: catches up on anything missed and
    /// notices a coordinator that is gone (the stream then ends with `unreachable`, never hangs).
    private var watchdog: RepeatingTimer?
    private var heardSinceCheck = false
    private var checking = false
    /// Events recovered from the journal rather than the live feed.
    private(set) var replayed = 0

    init(client: ProcClient, topics: [String], want: (@Sendable ([UInt8]) -> Bool)?,
         deliver: @escaping ([Event]) -> Void, end: @escaping ((any Error)?) -> Void) {
        self.client = client
        self.loop = client.loop
        self.topics = topics
        self.want = want
        self.deliver = deliver
        self.end = end
    }

    func start(from seq: UInt64?) {
        guard let client else { return }
        client.sendOnLoop(.info, WireCoding.bytes(Empty()), timeout: client.requestTimeout) { [self] result in
            do {
                let info = try WireCoding.decode(InfoReply.self, from: try result.get())
                let endpoint = client.address.eventsEndpoint(port: info.eventsPort, reported: info.eventsEndpoint)
                let socket = try ZMQSocket(context: client.loop.context, type: .sub)
                socket.setOption(ZMQ_RCVHWM, 0)
                socket.setMaxMessageSize(1 << 30)
                try client.applySecurity(to: socket)
                // Everything, filtered here: a gap in seq is then always a real gap.
                socket.subscribe("")
                try socket.connect(endpoint)
                self.socket = socket
                token = client.loop.register(socket) { [weak self] in self?.readLive() }
                nextSeq = seq ?? (info.lastSeq + 1)
                // Cover the time the subscription takes to reach the publisher.
                requestReplay()
                client.loop.schedule(afterMilliseconds: 300) { [weak self] in self?.requestReplay() }
                watchdog = client.loop.every(milliseconds: 2_000) { [weak self] in self?.checkAlive() }
            } catch {
                finish(throwing: error)
            }
        }
    }

    private func readLive() {
        guard let socket else { return }
        while let message = try? socket.receive() {
            guard message.count == 2 else { continue }
            heardSinceCheck = true
            // In order and nothing waiting (the usual case): straight through, and an event of a topic
            // not asked for is only counted, not decoded.
            if buffer.isEmpty, let seq = Event.leadingSeq(message[1]), seq == nextSeq {
                if !wanted(message[0]) {
                    nextSeq += 1
                    continue
                }
                if let event = try? WireCoding.decode(Event.self, from: message[1]), event.seq == seq {
                    nextSeq += 1
                    ready.append(event)
                    if ready.count >= Self.maxHandOver { handOver() }
                    continue
                }
            }
            guard let event = try? WireCoding.decode(Event.self, from: message[1]) else { continue }
            accept(event)
        }
        drain()
    }

    private func wanted(_ topic: [UInt8]) -> Bool {
        (topics.isEmpty || topics.contains { topic.starts(with: $0.utf8) }) && want?(topic) != false
    }

    private func accept(_ event: Event) {
        if event.seq >= nextSeq { buffer[event.seq] = event }
    }

    private func drain() {
        while let event = buffer.removeValue(forKey: nextSeq) {
            nextSeq += 1
            if wanted(event.type.topic) {
                ready.append(event)
                if ready.count >= Self.maxHandOver { handOver() }
            }
        }
        handOver()
        if !buffer.isEmpty { requestReplay() }
    }

    private func handOver() {
        guard !ready.isEmpty, !finished else { return }
        deliver(ready)
        ready.removeAll(keepingCapacity: true)
    }

    private func requestReplay() {
        guard let client, !replaying, !finished, socket != nil else { return }
        replaying = true
        let from = nextSeq
        client.sendOnLoop(.replay, WireCoding.bytes(ReplayRequest(fromSeq: from, limit: 1_000)),
                          timeout: client.requestTimeout) { [weak self] result in
            guard let self, let client = self.client, !finished else { return }
            replaying = false
            guard let reply = try? WireCoding.decode(ReplayReply.self, from: (try? result.get()) ?? []) else {
                // Try again on the next live event or gap.
                return
            }
            for event in reply.events where event.seq >= nextSeq && buffer[event.seq] == nil {
                buffer[event.seq] = event
                replayed += 1
                client.replayedEvents += 1
            }
            if reply.events.isEmpty, let lowest = buffer.keys.min(), lowest > nextSeq, reply.lastSeq >= lowest {
                // The journal no longer holds these (history pruned): skip the hole rather than stall.
                nextSeq = lowest
            }
            drain()
            // More to fetch while the journal holds seqs past what we have: a page ends at its count or
            // at its bytes, so only the seqs tell.
            if !reply.events.isEmpty, nextSeq <= reply.lastSeq { requestReplay() }
        }
    }

    private func checkAlive() {
        guard let client, !finished, !checking else { return }
        if heardSinceCheck {
            heardSinceCheck = false
            return
        }
        checking = true
        client.sendOnLoop(.info, WireCoding.bytes(Empty()), timeout: client.requestTimeout) { [weak self] result in
            guard let self, !finished else { return }
            checking = false
            switch result {
            case .success(let bytes):
                if let info = try? WireCoding.decode(InfoReply.self, from: bytes), info.lastSeq >= nextSeq {
                    requestReplay()
                }
            case .failure(let error):
                let message = (error as? ProcClientError)?.message ?? "\(error)"
                finish(throwing: ProcClientError(.unreachable, "lost contact with the event feed: \(message)"))
            }
        }
    }

    func finish(throwing error: (any Error)?) {
        guard !finished else { return }
        finished = true
        end(error)
        close()
    }

    func close() {
        finished = true
        if let watchdog { loop.cancel(watchdog) }
        watchdog = nil
        if let token { loop.unregister(token) }
        token = nil
        socket?.close()
        socket = nil
    }
}
