import Foundation
import Glibc
import Histogram
import ProcClient
import ProcCore
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
}

/// `proc submit --batch FILE` of `count` jobs to a coordinator with no agents (they stay pending, so the
/// coordinator holds them all), while `subscribers` Swift clients follow the feed and must see every
/// job.submitted event, in order.
func submitAndFeed(count: Int, subscribers: Int) async throws -> SubmitResult {
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
    let replayed = clients.reduce(0) { $0 + $1.replayedEventCount() }
    return SubmitResult(jobs: count, seconds: submitted, residentKiB: after, residentBeforeKiB: before,
                        subscribers: subscribers, feedSeconds: lastEvent - start,
                        eventsPerSubscriber: subscribers == 0 ? 0 : seen, replayed: replayed)
}

/// The feed on its own: `subscribers` plain SUB sockets on one thread, as a subscriber in any language
/// has them, read the seq at the head of each job.submitted body and must see every one, in order, while
/// `proc submit --batch` of `count` jobs produces them. Tells what the coordinator's feed carries from
/// what ten Swift clients decoding every event on the same two cores can take.
func submitAndRawFeed(count: Int, subscribers: Int) async throws -> (seen: Int, seconds: Double) {
    let cluster = try SeparateCluster(slots: nil)
    defer { cluster.stop() }
    let batch = cluster.directory + "/batch"
    try String(repeating: "[\"/bin/true\"]\n", count: count).write(toFile: batch, atomically: true, encoding: .utf8)
    let context = ZMQContext()
    defer { context.terminate() }
    var sockets: [ZMQSocket] = []
    defer { sockets.forEach { $0.close() } }
    for _ in 0..<subscribers {
        let socket = try ZMQSocket(context: context, type: .sub)
        socket.setOption(ZMQ_RCVHWM, 0)
        socket.subscribe("job.submitted")
        try socket.connect(cluster.events)
        sockets.append(socket)
    }
    try await Task.sleep(for: .milliseconds(500))  // subscriptions reach the publisher

    let start = monotonicSeconds()
    let submit = try Child(binaryDirectory + "/proc", ["submit", "--batch", batch, "--coordinator", cluster.control,
                                                       "--request-timeout", "120"])
    var seen = [Int](repeating: 0, count: subscribers)
    var next = [UInt64](repeating: 0, count: subscribers)  // 0: the first seq is whatever comes first
    var items = sockets.map { $0.pollItem() }
    var last = start
    let deadline = start + 600
    var submitted: Int32?
    while seen.min()! < count, monotonicSeconds() < deadline {
        let ready = zmq_poll(&items, Int32(items.count), 100)
        guard ready >= 0 else { break }
        if ready == 0 && submitted == nil { submitted = submit.wait(timeout: 0.001) }
        if let submitted, submitted != 0 { break }
        for (index, socket) in sockets.enumerated() where items[index].revents & Int16(ZMQ_POLLIN) != 0 {
            while let message = try? socket.receive(), message.count == 2 {
                guard let seq = Event.leadingSeq(message[1]) else {
                    throw BenchError("raw feed: an event body without its seq first")
                }
                if next[index] != 0 && seq != next[index] {
                    throw BenchError("raw feed: seq \(seq), expected \(next[index])")
                }
                next[index] = seq + 1
                seen[index] += 1
                last = monotonicSeconds()
            }
        }
    }
    guard let code = submitted ?? submit.wait(timeout: 600), code == 0 else {
        throw BenchError("proc submit --batch failed: \(submit.output.suffix(500))")
    }
    return (seen.min()!, last - start)
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
    let submitter = try ProcClient(coordinator: cluster.control)
    let watcher = try ProcClient(coordinator: cluster.control)
    defer { submitter.close(); watcher.close() }
    let deadline = monotonicSeconds() + 20
    while (try? await submitter.agents().count) != 1 {
        guard monotonicSeconds() < deadline else { throw BenchError("latency: the agent did not join") }
        try await Task.sleep(for: .milliseconds(50))
    }
    let count = Int(Double(rate) * seconds)
    let firstSeq = try await watcher.info().lastSeq + 1
    let watching = Task { () throws -> [String: (Double, Double)] in
        var received: [String: (Double, Double)] = [:]  // job id → (receive time, published time), wall clock
        for try await event in watcher.events(topics: ["job.started"], from: firstSeq) {
            let now = currentTimestamp()
            if let id = event.jobID { received[id] = (now, parseRFC3339(event.time) ?? now) }
            if received.count == count { break }
        }
        return received
    }
    try await Task.sleep(for: .milliseconds(500))

    let sent = try await withThrowingTaskGroup(of: (String, Double).self) { group in
        let start = monotonicSeconds()
        for index in 0..<count {
            let due = start + Double(index) / Double(rate)
            let wait = due - monotonicSeconds()
            if wait > 0 { try await Task.sleep(for: .microseconds(Int(wait * 1e6))) }
            group.addTask {
                let at = currentTimestamp()
                let id = try await submitter.submit(JobSpec(argv: ["/bin/true"]))
                return (id, at)
            }
        }
        var sent: [String: Double] = [:]
        for try await (id, at) in group { sent[id] = at }
        return sent
    }
    let received = try await watching.value
    var submitToStarted = Histogram<UInt64>(numberOfSignificantValueDigits: .three)
    var publishToReceive = Histogram<UInt64>(numberOfSignificantValueDigits: .three)
    for (id, (at, published)) in received {
        guard let submittedAt = sent[id] else { continue }
        _ = submitToStarted.record(UInt64(max(0, (at - submittedAt) * 1e6)))
        _ = publishToReceive.record(UInt64(max(0, (at - published) * 1e6)))
    }
    return LatencyResult(jobs: received.count, submitToStarted: submitToStarted, publishToReceive: publishToReceive)
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
        let proto = Wire.agentProtocolBytes
        var sockets: [ZMQSocket] = []
        defer { sockets.forEach { $0.close() } }
        for index in 0..<agents {
            guard let socket = try? ZMQSocket(context: context, type: .dealer) else { return }
            socket.setOption(ZMQ_SNDHWM, 0)
            socket.setOption(ZMQ_RCVHWM, 0)
            socket.setOption(ZMQ_ROUTING_ID, Array("agent/sim-\(index)/\(UInt32.random(in: 0...UInt32.max))".utf8))
            guard (try? socket.connect(endpoint)) != nil else { return }
            let hello = Hello(name: "sim-\(index)", hostname: "sim", slots: 4, labels: [:], pid: getpid(),
                              version: "1", running: [])
            _ = try? socket.send([proto, Array("HELLO".utf8), WireCoding.bytes(hello)])
            sockets.append(socket)
        }
        var items = sockets.map { $0.pollItem() }
        var lastHeartbeat = monotonicSeconds()
        let jobsCommand = Array("JOBS".utf8), resultCommand = Array("RESULT".utf8)
        let heartbeat = Array("HEARTBEAT".utf8)
        while !lock.withLock({ stopRequested }) {
            let ready = zmq_poll(&items, Int32(items.count), 100)
            if ready > 0 {
                for (index, item) in items.enumerated() where item.revents & Int16(ZMQ_POLLIN) != 0 {
                    var finishedHere = 0
                    while let message = try? sockets[index].receive() {
                        guard message.count == 3, message[1] == jobsCommand,
                            let batch = try? WireCoding.decode(JobsMessage.self, from: message[2])
                        else { continue }
                        let now = currentTimestamp()
                        let results = batch.jobs.map {
                            RunResult(jobID: $0.jobID, attempt: $0.attempt, status: .completed, exitCode: 0,
                                      startedAt: now, finishedAt: now)
                        }
                        _ = try? sockets[index].send([proto, resultCommand, WireCoding.bytes(ResultsMessage(results: results))])
                        finishedHere += results.count
                    }
                    if finishedHere > 0 { lock.withLock { done += finishedHere } }
                }
            }
            // Like a real agent with the default 1 s interval (it heartbeats only when idle; this is more).
            if monotonicSeconds() - lastHeartbeat > 1 {
                lastHeartbeat = monotonicSeconds()
                for socket in sockets { _ = try? socket.send([proto, heartbeat, []]) }
            }
        }
    }
}
