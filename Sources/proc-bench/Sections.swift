import Foundation
import Glibc
import Histogram
import ProcClient
import ProcCore
import ProcTestSupport
import ZeroMQ

// MARK: peers

/// `xargs -P K` and GNU `parallel -j K` running the same workload (each line of a list file is one job; a
/// dummy argument "0" is appended, which /bin/true, sleep and sh -c all ignore).
func viaPeer(_ peer: String, path: String, _ argv: [String], count: Int, parallel: Int) throws -> Double {
    let list = NSTemporaryDirectory() + "proc-bench-list-\(getpid())"
    try String(repeating: "0\n", count: count).write(toFile: list, atomically: true, encoding: .utf8)
    defer { unlink(list) }
    let arguments: [String] = peer == "xargs"
        ? ["-P", String(parallel), "-n", "1", "-a", list] + argv
        : ["--will-cite", "-q", "-j", String(parallel), "-N0", "-a", list] + argv
    let start = monotonicSeconds()
    let child = try Child(path, arguments)
    guard let code = child.wait(timeout: 600), code == 0 else {
        throw BenchError("\(peer) failed: \(child.output.suffix(500))")
    }
    return monotonicSeconds() - start
}

// MARK: idle

/// CPU used by an idle coordinator and agent (heartbeats only), as a percentage of one core.
func idleCPU(seconds: Double) throws -> (coordinator: Double, agent: Double) {
    let cluster = try SeparateCluster(slots: 2)
    defer { cluster.stop() }
    usleep(1_500_000)  // joined, settled
    guard let agent = cluster.agent, let c0 = cpuSeconds(of: cluster.coordinator.pid), let a0 = cpuSeconds(of: agent.pid)
    else { throw BenchError("idle: processes not running") }
    let start = monotonicSeconds()
    usleep(useconds_t(seconds * 1e6))
    let elapsed = monotonicSeconds() - start
    guard let c1 = cpuSeconds(of: cluster.coordinator.pid), let a1 = cpuSeconds(of: agent.pid) else {
        throw BenchError("idle: a process died")
    }
    return ((c1 - c0) / elapsed * 100, (a1 - a0) / elapsed * 100)
}

// MARK: submission and the feed

struct SubmitResult {
    var jobs: Int
    var seconds: Double
    var residentKiB: Int
    var residentBeforeKiB: Int
    var subscribers: Int
    var feedSeconds: Double
    var eventsPerSubscriber: Int
    var replayed: Int
    /// With `restart`: from starting the coordinator again, after a kill -9, to its `ready` line.
    var restartSeconds: Double?
}

/// `proc submit --batch FILE` of `count` jobs to a coordinator with no agents (they stay pending, so the
/// coordinator holds them all), while `subscribers` Swift clients follow the feed and must see every
/// job.submitted event, in order. With `restart`, the coordinator is then killed (SIGKILL) and started
/// again on its data directory: the time it takes to recover every job and say it is ready.
func submitAndFeed(count: Int, subscribers: Int, restart: Bool = false) async throws -> SubmitResult {
    let cluster = try SeparateCluster(slots: nil)
    defer { cluster.stop() }
    let batch = cluster.directory + "/batch"
    try String(repeating: "[\"/bin/true\"]\n", count: count).write(toFile: batch, atomically: true, encoding: .utf8)
    let before = residentKiB(of: cluster.coordinator.pid) ?? 0

    let clients = try (0..<subscribers).map { _ in try ProcClient(coordinator: cluster.control, requestTimeout: 30) }
    defer { clients.forEach { $0.close() } }
    let info = try await clients.first?.info()
    let firstSeq = (info?.lastSeq ?? 0) + 1
    let followers = clients.map { client in
        Task { () throws -> (Int, Double) in
            var seen = 0
            var expected = firstSeq
            for try await event in client.events(topics: ["job.submitted"], from: firstSeq) {
                guard event.seq == expected else { throw BenchError("feed: seq \(event.seq), expected \(expected)") }
                expected += 1
                seen += 1
                if seen == count { break }
            }
            return (seen, monotonicSeconds())
        }
    }
    try await Task.sleep(for: .milliseconds(500))  // subscriptions reach the publisher

    let start = monotonicSeconds()
    let submit = try Child(binaryDirectory + "/proc", ["submit", "--batch", batch, "--coordinator", cluster.control,
                                                       "--request-timeout", "120"])
    guard let code = submit.wait(timeout: 1_800), code == 0 else {
        throw BenchError("proc submit --batch failed: \(submit.output.suffix(500))")
    }
    let submitted = monotonicSeconds() - start
    let after = residentKiB(of: cluster.coordinator.pid) ?? 0
    var lastEvent = start
    var seen = Int.max
    for follower in followers {
        let (count, at) = try await follower.value
        seen = min(seen, count)
        lastEvent = max(lastEvent, at)
    }
    var replayed = 0
    for client in clients { replayed += await client.replayedEventCount() }
    return SubmitResult(jobs: count, seconds: submitted, residentKiB: after, residentBeforeKiB: before,
                        subscribers: subscribers, feedSeconds: lastEvent - start,
                        eventsPerSubscriber: subscribers == 0 ? 0 : seen, replayed: replayed,
                        restartSeconds: restart ? try await restartTime(cluster, jobs: count) : nil)
}

/// Kills the cluster's coordinator (SIGKILL) and times a new one on the same data directory from its start
/// to its `ready` line; checks that it has every job back, pending; then stops the new one.
func restartTime(_ cluster: SeparateCluster, jobs: Int) async throws -> Double {
    kill(cluster.coordinator.pid, SIGKILL)
    guard cluster.coordinator.wait(timeout: 30) != nil else { throw BenchError("the coordinator did not die") }
    let start = monotonicSeconds()
    let again = try Child(binaryDirectory + "/proc-coordinator", [
        "start", "--listen", "tcp://127.0.0.1:*", "--events", "tcp://127.0.0.1:*", "--data-dir",
        cluster.directory + "/data", "--log-level", "warning",
    ])
    defer { again.stop() }
    guard let ready = again.line(containing: "ready control=", timeout: 600) else {
        throw BenchError("the restarted coordinator did not get ready: \(again.output.suffix(500))")
    }
    let seconds = monotonicSeconds() - start
    // What it recovered (from the journal's job chunks and rows): every job, still pending.
    let control = ready.split(separator: " ").first { $0.hasPrefix("control=") }
        .map { $0.dropFirst("control=".count).replacingOccurrences(of: "tcp://", with: "") } ?? ""
    let client = try ProcClient(coordinator: control, requestTimeout: 60)
    defer { client.close() }
    let pending = try await client.status(limit: 0).counts["pending"] ?? 0
    guard pending == jobs else {
        throw BenchError("the restarted coordinator has \(pending) pending jobs, not \(jobs)")
    }
    return seconds
}

/// The feed on its own: `subscribers` plain SUB sockets on one thread, as a subscriber in any language
/// has them, read the seq at the head of each job.submitted body and must see every one, in order, while
/// `proc submit --batch` of `count` jobs produces them. Tells what the coordinator's feed carries from
/// what ten Swift clients decoding every event on the same two cores can take. Also returns the first
/// event's frames, for `bareFeed`.
func submitAndRawFeed(count: Int, subscribers: Int) async throws -> (seen: Int, seconds: Double, sample: [Frame]) {
    let cluster = try SeparateCluster(slots: nil)
    defer { cluster.stop() }
    let batch = cluster.directory + "/batch"
    try String(repeating: "[\"/bin/true\"]\n", count: count).write(toFile: batch, atomically: true, encoding: .utf8)
    let context = ZMQContext()
    defer { context.terminate() }
    let feed = try RawSubscribers(context: context, endpoint: cluster.events, count: subscribers)
    defer { feed.close() }
    try await Task.sleep(for: .milliseconds(500))  // subscriptions reach the publisher

    let start = monotonicSeconds()
    let submit = try Child(binaryDirectory + "/proc", ["submit", "--batch", batch, "--coordinator", cluster.control,
                                                       "--request-timeout", "120"])
    let deadline = start + 600
    var submitted: Int32?
    while feed.fewest < count, monotonicSeconds() < deadline {
        let ready = try feed.read(timeoutMilliseconds: 100)
        if ready == 0 && submitted == nil { submitted = submit.wait(timeout: 0.001) }
        if let submitted, submitted != 0 { break }
    }
    guard let code = submitted ?? submit.wait(timeout: 600), code == 0 else {
        throw BenchError("proc submit --batch failed: \(submit.output.suffix(500))")
    }
    return (feed.fewest, feed.last - start, feed.sample)
}

/// The feed's floor: a bare ZeroMQ PUB, in a thread of this process with a context of its own, sends
/// `count` events made from `sample` (its seq counting up) as fast as it can to the same plain SUB
/// sockets as `submitAndRawFeed`. No coordinator, no journal, nothing producing the events: what this
/// machine's libzmq carries to that many subscribers. Returns events per second each subscriber saw.
func bareFeed(sample: [Frame], count: Int, subscribers: Int) async throws -> (seen: Int, rate: Double) {
    guard sample.count == 2, let seq = Event.leadingSeq(sample[1]) else { throw BenchError("bare feed: no sample event") }
    let prefix = Array(#"{"seq":"#.utf8)
    let rest = Array(sample[1].dropFirst(prefix.count + String(seq).utf8.count))
    let bodies = (1...count).map { prefix + Array(String($0).utf8) + rest }
    let context = ZMQContext()
    defer { context.terminate() }
    let publisherContext = ZMQContext()
    defer { publisherContext.terminate() }
    // Used by the sending thread alone once it starts; closed after it has finished.
    nonisolated(unsafe) let publisher = try ZMQSocket(context: publisherContext, type: .pub)
    let sent = Semaphore()
    var started = false
    defer {
        if started { _ = sent.wait(timeoutSeconds: 30) }
        publisher.close()
    }
    publisher.setOption(ZMQ_SNDHWM, 0)
    publisher.setOption(ZMQ_LINGER, 0)
    try publisher.bind("tcp://127.0.0.1:*")
    let feed = try RawSubscribers(context: context, endpoint: publisher.lastEndpoint, count: subscribers)
    defer { feed.close() }
    try await Task.sleep(for: .milliseconds(500))  // subscriptions reach the publisher

    let topic = sample[0]
    let sending = Thread {
        for body in bodies { _ = try? publisher.send([topic, body]) }
        sent.signal()
    }
    let start = monotonicSeconds()
    sending.start()
    started = true
    let deadline = start + 120
    while feed.fewest < count, monotonicSeconds() < deadline { _ = try feed.read(timeoutMilliseconds: 100) }
    return (feed.fewest, Double(feed.fewest) / (feed.last - start))
}

/// Plain SUB sockets on one thread, subscribed to job.submitted: each counts what it sees and checks
/// that the seq at the head of every body follows the one before.
final class RawSubscribers {
    private let sockets: [ZMQSocket]
    private var items: [zmq_pollitem_t]
    private var seen: [Int]
    private var next: [UInt64]  // 0: the first seq is whatever comes first
    private(set) var last = monotonicSeconds()
    private(set) var sample: [Frame] = []

    init(context: ZMQContext, endpoint: String, count: Int) throws {
        var sockets: [ZMQSocket] = []
        do {
            for _ in 0..<count {
                let socket = try ZMQSocket(context: context, type: .sub)
                sockets.append(socket)
                socket.setOption(ZMQ_RCVHWM, 0)
                socket.setOption(ZMQ_LINGER, 0)
                socket.subscribe("job.submitted")
                try socket.connect(endpoint)
            }
        } catch {
            sockets.forEach { $0.close() }  // or terminating the context would wait for them
            throw error
        }
        self.sockets = sockets
        items = sockets.map { $0.pollItem() }
        seen = [Int](repeating: 0, count: count)
        next = [UInt64](repeating: 0, count: count)
    }

    var fewest: Int { seen.min() ?? 0 }

    func close() { sockets.forEach { $0.close() } }

    /// Waits up to `timeoutMilliseconds` for events and reads every one waiting; returns zmq_poll's count.
    func read(timeoutMilliseconds: Int) throws -> Int32 {
        let ready = zmq_poll(&items, Int32(items.count), timeoutMilliseconds)
        guard ready >= 0 else { throw BenchError("raw feed: zmq_poll failed (errno \(zmq_errno()))") }
        for (index, socket) in sockets.enumerated() where items[index].revents & Int16(ZMQ_POLLIN) != 0 {
            while let message = try? socket.receive(), message.count == 2 {
                guard let seq = Event.leadingSeq(message[1]) else {
                    throw BenchError("raw feed: an event body without its seq first")
                }
                if next[index] != 0 && seq != next[index] {
                    throw BenchError("raw feed: seq \(seq), expected \(next[index])")
                }
                if sample.isEmpty { sample = message }
                next[index] = seq + 1
                seen[index] += 1
                last = monotonicSeconds()
            }
        }
        return ready
    }
}

// MARK: latency

struct LatencyResult {
    var jobs: Int
    var submitToStarted: Histogram<UInt64>
    var publishToReceive: Histogram<UInt64>
}

/// Jobs submitted one at a time at `rate` per second to a coordinator and an agent in separate processes
/// (or, `standalone`, one single-host coordinator process); a subscriber in this process times each
/// job.started from the moment its SUBMIT was sent, and each event from the `time` the coordinator
/// stamped on it.
func latency(rate: Int, seconds: Double, standalone: Bool = false) async throws -> LatencyResult {
    let cluster = try SeparateCluster(slots: 4, standalone: standalone)
    defer { cluster.stop() }
    let client = try ProcClient(coordinator: cluster.control)
    defer { client.close() }
    let deadline = monotonicSeconds() + 20
    while (try? await client.agents().count) != 1 {
        guard monotonicSeconds() < deadline else { throw BenchError("latency: the agent did not join") }
        try await Task.sleep(for: .milliseconds(50))
    }
    let probe = LatencyProbe(control: "tcp://\(cluster.control)", events: cluster.events, rate: rate,
                             count: Int(Double(rate) * seconds))
    let jobs = try await probe.run()
    // Each job's submit time and latency, to tell a stall (many late jobs at once) from a spread tail.
    if let trace = ProcessInfo.processInfo.environment["PROC_BENCH_LATENCY_TRACE"] {
        let name = trace + (standalone ? ".single-host" : ".separate") + ".\(rate)"
        let lines = jobs.map { String(format: "%.6f %.3f", $0.submitted, ($0.seen - $0.submitted) * 1e3) }
        try? (lines.joined(separator: "\n") + "\n").write(toFile: name, atomically: true, encoding: .utf8)
    }
    var submitToStarted = Histogram<UInt64>(numberOfSignificantValueDigits: .three)
    var publishToReceive = Histogram<UInt64>(numberOfSignificantValueDigits: .three)
    for job in jobs {
        _ = submitToStarted.record(UInt64(max(0, (job.seen - job.submitted) * 1e6)))
        _ = publishToReceive.record(UInt64(max(0, (job.seen - job.published) * 1e6)))
    }
    return LatencyResult(jobs: jobs.count, submitToStarted: submitToStarted, publishToReceive: publishToReceive)
}

/// `latency`'s load and its subscriber, each on a thread of its own. A plain DEALER speaking the client
/// protocol sends one SUBMIT of one job at each due time (clock_nanosleep to it); a plain SUB socket on
/// the feed, as a subscriber in any language has it, waits in zmq_poll and takes each job.started the
/// moment it arrives.
/// Before, the load came through the Swift client (a hop onto its loop thread, a timer and a continuation
/// per request, a Task.sleep per job) and the events through its subscription: that cost this process
/// about 0.6 ms of CPU per job, as much as the coordinator and the agent together on the same two cores,
/// and the queue it made was the benchmark's own. The Swift subscriber's own cost
/// is the feed section's.
final class LatencyProbe: @unchecked Sendable {
    struct Job {
        var submitted: Double  // wall clock, as the coordinator's stamps
        var published: Double
        var seen: Double
    }

    let control: String
    let events: String
    let rate: Int
    let count: Int
    private let lock = Mutex()
    private var started: [String: (seen: Double, published: Double)] = [:]
    private var watchError: (any Error)?
    private var stopWatching = false

    init(control: String, events: String, rate: Int, count: Int) {
        self.control = control
        self.events = events
        self.rate = rate
        self.count = count
    }

    func run() async throws -> [Job] {
        try await withCheckedThrowingContinuation { continuation in
            Thread { [self] in continuation.resume(with: Result { try measure() }) }.start()
        }
    }

    private func measure() throws -> [Job] {
        let context = ZMQContext()
        defer { context.terminate() }
        let watching = Semaphore(), watched = Semaphore()
        Thread { [self] in
            defer { watched.signal() }
            do { try watch(context, ready: watching) } catch {
                lock.withLock { watchError = error }
                watching.signal()
            }
        }.start()
        defer {
            lock.withLock { stopWatching = true }
            _ = watched.wait(timeoutSeconds: 5)
        }
        guard watching.wait(timeoutSeconds: 10) else { throw BenchError("latency: the subscriber did not start") }
        if let error = lock.withLock({ watchError }) { throw error }

        let dealer = try ZMQSocket(context: context, type: .dealer)
        defer { dealer.close() }
        dealer.setOption(ZMQ_LINGER, 0)
        try dealer.connect(control)
        let proto = Wire.clientProtocolBytes, command = Array(Wire.ClientCommand.submit.rawValue.utf8)
        let body = WireCoding.bytes(SubmitRequest(jobs: [JobSpec(argv: ["/bin/true"])]))
        var sentAt = [Double](repeating: 0, count: count)
        var submitted: [String: Double] = [:]  // job id → when its SUBMIT was sent
        func readReplies() throws {
            while let reply = try dealer.receive() {
                let index = reply.count == 4 ? Int(reply[2].reduce(0) { $0 << 8 | UInt64($1) }) : -1
                guard sentAt.indices.contains(index), reply[1] == command else {
                    throw BenchError("latency: SUBMIT refused: \(String(decoding: reply.last ?? [], as: UTF8.self))")
                }
                for id in try WireCoding.decode(SubmitReply.self, from: reply[3]).ids { submitted[id] = sentAt[index] }
            }
        }
        var start = timespec()
        clock_gettime(CLOCK_MONOTONIC, &start)
        for index in 0..<count {
            let offset = Int(Double(index) / Double(rate) * 1e9)
            var due = timespec(tv_sec: start.tv_sec + offset / 1_000_000_000,
                               tv_nsec: start.tv_nsec + offset % 1_000_000_000)
            if due.tv_nsec >= 1_000_000_000 { due.tv_sec += 1; due.tv_nsec -= 1_000_000_000 }
            while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &due, nil) == EINTR {}
            sentAt[index] = currentTimestamp()
            let id = withUnsafeBytes(of: UInt64(index).bigEndian) { Array($0) }
            guard try dealer.send([proto, command, id, body]) else { throw BenchError("latency: SUBMIT not sent") }
            try readReplies()
        }
        let deadline = monotonicSeconds() + 30
        var item = [dealer.pollItem()]
        while submitted.count < count || lock.withLock({ started.count }) < count {
            if let error = lock.withLock({ watchError }) { throw error }
            guard monotonicSeconds() < deadline else {
                throw BenchError("latency: in 30 s, \(submitted.count) of \(count) SUBMITs answered and "
                    + "\(lock.withLock { started.count }) jobs started")
            }
            _ = zmq_poll(&item, 1, 20)
            try readReplies()
        }
        let seen = lock.withLock { started }
        return submitted.compactMap { id, at in
            seen[id].map { Job(submitted: at, published: $0.published, seen: $0.seen) }
        }
    }

    /// The subscriber's thread: signals `ready` once subscribed, then records every job.started until told
    /// to stop.
    private func watch(_ context: ZMQContext, ready: ZeroMQ.Semaphore) throws {
        let subscriber = try ZMQSocket(context: context, type: .sub)
        defer { subscriber.close() }
        subscriber.setOption(ZMQ_LINGER, 0)
        subscriber.setOption(ZMQ_RCVHWM, 0)
        subscriber.subscribe("job.started")
        try subscriber.connect(events)
        usleep(500_000)  // the subscription reaches the publisher
        ready.signal()
        var item = [subscriber.pollItem()]
        while !lock.withLock({ stopWatching }) {
            guard zmq_poll(&item, 1, 100) >= 0 || zmq_errno() == EINTR else {
                throw BenchError("latency: zmq_poll failed (errno \(zmq_errno()))")
            }
            while let message = try subscriber.receive() {
                let now = currentTimestamp()
                guard message.count == 2, let event = try? WireCoding.decode(Event.self, from: message[1]),
                    let id = event.jobID
                else { throw BenchError("latency: an unreadable job.started") }
                let published = parseRFC3339(event.time) ?? now
                lock.withLock { started[id] = (now, published) }
            }
        }
    }
}

/// One SUBMIT of one job at a time through the Swift client, each awaited before the next: what a request
/// costs the calling process (all its threads: the caller's task, the client's loop thread, libzmq's I/O
/// thread) and the coordinator. No agent: the jobs stay pending.
func clientRequests(count: Int) async throws -> (rate: Double, clientMicros: Double, coordinatorMicros: Double) {
    let cluster = try SeparateCluster(slots: nil)
    defer { cluster.stop() }
    let client = try ProcClient(coordinator: cluster.control)
    defer { client.close() }
    _ = try await client.info()
    let spec = JobSpec(argv: ["/bin/true"])
    let own0 = cpuSeconds(of: getpid()) ?? 0, coordinator0 = cpuSeconds(of: cluster.coordinator.pid) ?? 0
    let start = monotonicSeconds()
    for _ in 0..<count { _ = try await client.submit(spec) }
    let elapsed = monotonicSeconds() - start
    let own = (cpuSeconds(of: getpid()) ?? own0) - own0
    let coordinator = (cpuSeconds(of: cluster.coordinator.pid) ?? coordinator0) - coordinator0
    return (Double(count) / elapsed, own * 1e6 / Double(count), coordinator * 1e6 / Double(count))
}

// MARK: simulated agents

/// `agents` DEALER connections in this process speaking the agent protocol to a coordinator in another
/// process, each finishing every job the moment it gets it: the scheduler's speed without spawning.
/// Heartbeats go both ways as usual. Returns completed jobs per second, and the coordinator's CPU time
/// per job (steadier than the rate on a shared 2-core machine).
func simulatedAgents(agents: Int, jobs: Int) async throws
    -> (rate: Double, seconds: Double, coordinatorMicrosPerJob: Double) {
    let cluster = try SeparateCluster(slots: nil)
    defer { cluster.stop() }
    let harness = AgentHarness(endpoint: "tcp://\(cluster.control)", agents: agents, target: jobs)
    harness.start()
    defer { harness.stop() }
    let client = try ProcClient(coordinator: cluster.control, requestTimeout: 60)
    defer { client.close() }
    let deadline = monotonicSeconds() + 60
    while (try? await client.agents().count) != agents {
        guard monotonicSeconds() < deadline else { throw BenchError("simulated agents did not all join") }
        try await Task.sleep(for: .milliseconds(100))
    }
    let start = monotonicSeconds()
    let cpu0 = cpuSeconds(of: cluster.coordinator.pid) ?? 0
    _ = try await client.submit([JobSpec](repeating: JobSpec(argv: ["/bin/true"]), count: jobs))
    guard harness.waitForTarget(timeout: 600) else {
        throw BenchError("simulated agents: only \(harness.completed) of \(jobs) jobs completed")
    }
    let elapsed = monotonicSeconds() - start
    let cpu = (cpuSeconds(of: cluster.coordinator.pid) ?? cpu0) - cpu0
    return (Double(jobs) / elapsed, elapsed, cpu * 1e6 / Double(jobs))
}

/// The simulated agents' thread: one zmq_poll over every DEALER.
final class AgentHarness: @unchecked Sendable {
    let endpoint: String
    let agents: Int
    let target: Int
    private let lock = Mutex()
    private var stopRequested = false
    private var done = 0
    private let finished = Semaphore()
    private var thread: Thread?

    init(endpoint: String, agents: Int, target: Int) {
        self.endpoint = endpoint
        self.agents = agents
        self.target = target
    }

    var completed: Int { lock.withLock { done } }

    func start() {
        let thread = Thread { [self] in run() }
        thread.stackSize = 8 << 20
        self.thread = thread
        thread.start()
    }

    func stop() {
        lock.withLock { stopRequested = true }
        _ = finished.wait(timeoutSeconds: 10)
    }

    func waitForTarget(timeout: Double) -> Bool {
        let deadline = monotonicSeconds() + timeout
        while monotonicSeconds() < deadline {
            if completed >= target { return true }
            usleep(2_000)
        }
        return false
    }

    private func run() {
        defer { finished.signal() }
        let context = ZMQContext()
        defer { context.terminate() }
        var simulated: [RawAgent] = []
        defer { simulated.forEach { $0.close() } }
        for index in 0..<agents {
            let hello = Hello(name: "sim-\(index)", hostname: "sim", slots: 4, labels: [:], pid: getpid(),
                              version: "1", running: [], acksInJobs: true)
            guard let agent = try? RawAgent(context: context, endpoint: endpoint, hello: hello,
                                            routingID: Array("agent/sim-\(index)/\(UInt32.random(in: 0...UInt32.max))".utf8),
                                            unbounded: true)
            else { return }
            simulated.append(agent)
        }
        let sockets = simulated.map(\.socket)
        // One epoll over the sockets' ZMQ_FDs: zmq_poll asks all 1,000 sockets on every pass (getsockopt
        // and poll(2) over every one), which took 60% of this thread and a tenth of the two cores that the
        // coordinator under test shares. A ZMQ_FD is readable while libzmq has
        // news for its socket.
        let epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epoll >= 0 else { return }
        defer { close(epoll) }
        for (index, socket) in sockets.enumerated() {
            var event = epoll_event(events: EPOLLIN.rawValue, data: epoll_data_t(u64: UInt64(index)))
            guard epoll_ctl(epoll, EPOLL_CTL_ADD, socket.intOption(ZMQ_FD), &event) == 0 else { return }
        }
        var readyEvents = [epoll_event](repeating: epoll_event(), count: 256)
        // Every socket is read once at the start: its news may have come before it was in the epoll.
        var toRead = Array(sockets.indices)
        var lastHeartbeat = monotonicSeconds()
        let heartbeat = AgentMessage.heartbeat.frames
        while !lock.withLock({ stopRequested }) {
            let count = epoll_wait(epoll, &readyEvents, Int32(readyEvents.count), toRead.isEmpty ? 100 : 0)
            for event in readyEvents.prefix(Int(max(0, count))) { toRead.append(Int(event.data.u64)) }
            for index in toRead {
                var finishedHere = 0
                // Until ZMQ_EVENTS says nothing is left: asking takes the news (a receive that finds
                // nothing may leave it, and the level-triggered epoll would report the socket again).
                while sockets[index].intOption(ZMQ_EVENTS) & ZMQ_POLLIN != 0,
                      let message = try? sockets[index].receive() {
                    guard case .jobs(let batch) = RawAgent.decode(message) else { continue }
                    _ = try? simulated[index].complete(batch.jobs)
                    finishedHere += batch.jobs.count
                }
                if finishedHere > 0 { lock.withLock { done += finishedHere } }
            }
            toRead.removeAll(keepingCapacity: true)
            // Like a real agent with the default 1 s interval (it heartbeats only when idle; this is more).
            if monotonicSeconds() - lastHeartbeat > 1 {
                lastHeartbeat = monotonicSeconds()
                for socket in sockets { _ = try? socket.send(heartbeat) }
                // A send may take the news its socket's ZMQ_FD was signalled for: read them all next.
                toRead = Array(sockets.indices)
            }
        }
    }
}
