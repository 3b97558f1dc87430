import CZeroMQ
import Glibc

/// The one thread of a process that owns its ZeroMQ sockets (DESIGN §3, "Threads").
///
/// Sockets are not thread-safe and a blocking poll inside a Swift Task starves the cooperative
/// pool, so every socket of a process lives here. Other threads hand work in through `execute`, a
/// lock-protected queue plus an `eventfd` in the poll set; the poll timeout drives the timers.
///
/// Methods marked *loop only* must be called on the loop thread (from a handler, a timer or an
/// `execute` block).
public final class EventLoop: @unchecked Sendable {
    public let name: String
    public let context: ZMQContext

    // Cross-thread inbox.
    private let lock = Mutex()
    private var inbox: [@Sendable () -> Void] = []
    private var stopRequested = false
    /// Whether the loop thread runs (under `lock`): work for a loop that never ran or has ended is done at once.
    private var running = false
    /// Waiting for the loop to finish (`stopAndWait`), under `lock`.
    private var finishWaiters: [CheckedContinuation<Void, Never>] = []
    private var hasFinished = false
    private let wakeFD: Int32

    // Loop-thread state.
    private struct Registration {
        var socket: ZMQSocket?
        var fd: Int32
        var handler: (_ hungUp: Bool) -> Void
    }
    private var registrations: [Int: Registration] = [:]
    /// The ids of `registrations` in the order they were made (ids only grow): the order handlers are called in.
    private var registrationOrder: [Int] = []
    private var nextRegistrationID = 1
    private var itemsDirty = true
    /// poll(2)'s set: plain fds as they are, a socket by its ZMQ_FD (`rebuildPollItems`).
    private var pollItems: [pollfd] = []
    private var pollOwners: [Int] = []
    /// The socket of each item, nil for a plain fd.
    private var pollSockets: [ZMQSocket?] = []
    /// Per item: a socket that said, before the wait, that it has input.
    private var pollSaidInput: [Bool] = []
    /// The registrations ready in this pass (kept to reuse its storage).
    private var readyIDs: [(id: Int, hungUp: Bool)] = []
    private var timers = TimerQueue()
    private var iterationHooks: [() -> Void] = []
    private var thread: pthread_t?
    private var loopThread: pthread_t?
    private var reportedPollError = false
    private let finishedSignal = Semaphore()

    public init(name: String, context: ZMQContext) {
        self.name = name
        self.context = context
        self.wakeFD = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        precondition(wakeFD >= 0, "eventfd failed: \(errno)")
    }

    deinit { close(wakeFD) }

    // MARK: starting and stopping

    /// Starts the loop on a new thread.
    public func start() {
        let box = Unmanaged.passRetained(self)
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        var thread = pthread_t()
        let rc = pthread_create(&thread, &attributes, { raw in
            let loop = Unmanaged<EventLoop>.fromOpaque(raw!).takeRetainedValue()
            loop.run()
            return nil
        }, box.toOpaque())
        pthread_attr_destroy(&attributes)
        precondition(rc == 0, "pthread_create failed: \(rc)")
        self.thread = thread
        lock.withLock { running = true }
    }

    /// Asks the loop to stop after the current iteration; `onStop` handlers run on the loop first.
    public func stop() {
        lock.withLock { stopRequested = true }
        wake()
    }

    /// Waits until the loop thread has finished (after `stop`), at most `timeoutSeconds`.
    @discardableResult
    public func join(timeoutSeconds: Double = 10) -> Bool {
        guard let thread else { return true }
        guard finishedSignal.wait(timeoutSeconds: timeoutSeconds) else { return false }
        pthread_join(thread, nil)
        self.thread = nil
        return true
    }

    /// Stops the loop and suspends until its thread has finished (its stop hooks have run).
    public func stopAndWait() async {
        stop()
        guard thread != nil, !isInLoop else { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = lock.withLock { () -> Bool in
                if hasFinished { return true }
                finishWaiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
        join()
    }

    public var isInLoop: Bool { loopThread.map { pthread_equal($0, pthread_self()) != 0 } ?? false }

    // MARK: cross-thread

    /// Runs `work` on the loop thread, soon. Callable from any thread.
    public func execute(_ work: @escaping @Sendable () -> Void) {
        if enqueue(work) { wake() }
    }

    /// Appends to the inbox; true when it was empty, so the loop must be woken. One wake-up serves every
    /// item queued before the loop drains the inbox (it reads the eventfd before it takes the items), so
    /// a burst of requests costs one write(2), not one each.
    private func enqueue(_ work: @escaping @Sendable () -> Void) -> Bool {
        lock.withLock {
            inbox.append(work)
            return inbox.count == 1
        }
    }

    /// Runs `work` on the loop thread: now when called there, or when the loop is not running (nothing
    /// else can touch its sockets then), else soon. For cleanup from a `deinit`, which may run anywhere.
    public func perform(_ work: @escaping @Sendable () -> Void) {
        if isInLoop { return work() }
        let queued = lock.withLock { () -> Bool? in
            guard running else { return nil }
            inbox.append(work)
            return inbox.count == 1
        }
        switch queued {
        case nil: work()
        case true?: wake()
        case false?: break
        }
    }

    private func wake() {
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    // MARK: registrations (loop only)

    public struct RegistrationToken: Hashable, Sendable { let id: Int }

    /// Calls `handler` whenever `socket` has a message to read. The handler should drain what is there.
    @discardableResult
    public func register(_ socket: ZMQSocket, handler: @escaping () -> Void) -> RegistrationToken {
        // It may hold messages already, announced before it was polled: look before the first wait.
        socket.needsEventsCheck = true
        return add(Registration(socket: socket, fd: socket.notificationFD, handler: { _ in handler() }))
    }

    /// Calls `handler` whenever `fd` is readable (a pipe, a pidfd, an eventfd).
    @discardableResult
    public func register(fd: Int32, handler: @escaping () -> Void) -> RegistrationToken {
        add(Registration(socket: nil, fd: fd, handler: { _ in handler() }))
    }

    /// Calls `handler` whenever `fd` is readable, saying whether it was only hung up: poll reported POLLHUP
    /// (or POLLERR) without POLLIN, so a read would find nothing (for a pipe: every writer has closed and
    /// nothing is left). The owner may then close it without the read that would return 0.
    @discardableResult
    public func register(fd: Int32, hangUpAware handler: @escaping (_ hungUp: Bool) -> Void) -> RegistrationToken {
        add(Registration(socket: nil, fd: fd, handler: handler))
    }

    public func unregister(_ token: RegistrationToken) {
        if registrations.removeValue(forKey: token.id) != nil {
            itemsDirty = true
            // Usually one of the last few (a job's fds go soon after they come): look from the end.
            if let index = registrationOrder.lastIndex(of: token.id) { registrationOrder.remove(at: index) }
        }
    }

    private func add(_ registration: Registration) -> RegistrationToken {
        let id = nextRegistrationID
        nextRegistrationID += 1
        registrations[id] = registration
        registrationOrder.append(id)
        itemsDirty = true
        return RegistrationToken(id: id)
    }

    /// Runs `action` once, after `milliseconds`. Loop only.
    @discardableResult
    public func schedule(afterMilliseconds milliseconds: Int64, _ action: @escaping () -> Void) -> TimerToken {
        // At most a year: a deadline past that is a bug or hostile input, and must not overflow.
        timers.add(deadline: monotonicMilliseconds() + min(max(milliseconds, 0), 365 * 86_400_000), action: action)
    }

    /// Runs `action` every `milliseconds` until cancelled. Loop only.
    @discardableResult
    public func every(milliseconds: Int64, _ action: @escaping () -> Void) -> RepeatingTimer {
        let repeating = RepeatingTimer()
        arm(repeating, milliseconds, action)
        return repeating
    }

    /// The timer's closure holds the loop weakly: a stopped loop with a repeating timer is released.
    private func arm(_ repeating: RepeatingTimer, _ milliseconds: Int64, _ action: @escaping () -> Void) {
        repeating.token = schedule(afterMilliseconds: milliseconds) { [weak self] in
            guard !repeating.cancelled else { return }
            action()
            if !repeating.cancelled { self?.arm(repeating, milliseconds, action) }
        }
    }

    public func cancel(_ token: TimerToken) { timers.cancel(token) }

    public func cancel(_ repeating: RepeatingTimer) {
        repeating.cancelled = true
        if let token = repeating.token { timers.cancel(token) }
    }

    /// Runs `hook` at the end of every loop iteration, after all ready handlers ran. Loop only.
    /// The coordinator commits its journal here: one transaction per iteration (group commit).
    public func onIteration(_ hook: @escaping () -> Void) { iterationHooks.append(hook) }

    private var stopHooks: [() -> Void] = []

    /// Runs `hook` on the loop thread when the loop stops (close sockets here). Loop only.
    public func onStop(_ hook: @escaping () -> Void) { stopHooks.append(hook) }

    // MARK: the loop

    private func run() {
        loopThread = pthread_self()
        proc_set_thread_name(String(name.prefix(15)))
        // Children spawned here signal this thread when they exit.
        _ = proc_unblock_child_signal()
        let wakeToken = register(fd: wakeFD) { [unowned self] in drainInbox() }
        _ = wakeToken
        drainInbox()
        while !lock.withLock({ stopRequested }) {
            if itemsDirty { rebuildPollItems() }
            let now = monotonicMilliseconds()
            var timeout: Int = 1_000
            if let next = timers.nextDeadline { timeout = Int(max(0, min(next - now, 1_000))) }
            // A socket's ZMQ_FD is only a signal that libzmq has news for it, and asking (ZMQ_EVENTS) consumes
            // it, so poll(2) alone cannot tell whether messages wait. A socket is asked when that signal came,
            // or when it was used or had input since it was last asked (`needsEventsCheck`); not, as zmq_poll
            // does, every socket twice on every pass with a poll(2) of its own each time.
            var socketSaidInput = false
            for index in pollSockets.indices {
                pollSaidInput[index] = false
                guard let socket = pollSockets[index], socket.needsEventsCheck else { continue }
                if socketHasInput(socket) {
                    pollSaidInput[index] = true
                    socketSaidInput = true
                }
            }
            var ready = pollItems.withUnsafeMutableBufferPointer {
                poll($0.baseAddress, nfds_t($0.count), Int32(socketSaidInput ? 0 : timeout))
            }
            if ready < 0 {
                let code = errno
                if code != EINTR { reportLoopError("poll failed in loop \(name): \(String(cString: strerror(code)))") }
                for index in pollItems.indices { pollItems[index].revents = 0 }  // not written on failure
                ready = 0
            }
            if ready > 0 || socketSaidInput {
                // Handlers may (un)register; take a snapshot of who was ready first, in the order of
                // registration (`rebuildPollItems`).
                readyIDs.removeAll(keepingCapacity: true)
                for index in pollItems.indices where pollItems[index].revents != 0 || pollSaidInput[index] {
                    let revents = pollItems[index].revents
                    if let socket = pollSockets[index] {
                        if revents & Int16(POLLNVAL) != 0 {
                            reportClosedSocket()
                            continue
                        }
                        // Its signal came: ask what it means.
                        guard pollSaidInput[index] || socketHasInput(socket) else { continue }
                        readyIDs.append((pollOwners[index], false))
                    } else {
                        readyIDs.append((pollOwners[index], revents & Int16(POLLIN) == 0))
                    }
                }
                for (id, hungUp) in readyIDs {
                    // Copy the handler out first: it may (un)register, which mutates `registrations`.
                    guard let registration = registrations[id] else { continue }
                    registration.handler(hungUp)
                    // A handler that left messages unread (a budget, backpressure) gets no new signal for
                    // them: ask again before the next wait.
                    registration.socket?.needsEventsCheck = true
                }
            }
            // One at a time, outside the queue's own access: an action may schedule or cancel timers,
            // including one due in this same pass.
            let firedAt = monotonicMilliseconds()
            while let action = timers.popNextDue(now: firedAt) { action() }
            for hook in iterationHooks { hook() }
        }
        drainInbox()
        for hook in stopHooks { hook() }
        registrations.removeAll()
        registrationOrder.removeAll()
        // Work handed in from now on is done by its caller (`perform`); what came in before this runs here.
        let late = lock.withLock { () -> [@Sendable () -> Void] in
            running = false
            defer { inbox.removeAll() }
            return inbox
        }
        for work in late { work() }
        let waiters = lock.withLock { () -> [CheckedContinuation<Void, Never>] in
            hasFinished = true
            defer { finishWaiters.removeAll() }
            return finishWaiters
        }
        finishedSignal.signal()
        for waiter in waiters { waiter.resume() }
    }

    private func drainInbox() {
        var counter: UInt64 = 0
        _ = read(wakeFD, &counter, 8)
        while true {
            let work = lock.withLock { () -> [@Sendable () -> Void] in
                let taken = inbox
                inbox.removeAll(keepingCapacity: true)
                return taken
            }
            if work.isEmpty { return }
            for item in work { item() }
        }
    }

    private func rebuildPollItems() {
        pollItems.removeAll(keepingCapacity: true)
        pollOwners.removeAll(keepingCapacity: true)
        pollSockets.removeAll(keepingCapacity: true)
        pollSaidInput.removeAll(keepingCapacity: true)
        for id in registrationOrder {
            guard let registration = registrations[id] else { continue }
            pollItems.append(pollfd(fd: registration.fd, events: Int16(POLLIN), revents: 0))
            pollOwners.append(id)
            pollSockets.append(registration.socket)
            pollSaidInput.append(false)
        }
        itemsDirty = false
    }

    /// ZMQ_EVENTS: whether a message can be received now. It also takes libzmq's pending commands, which
    /// resets the socket's ZMQ_FD signal.
    private func socketHasInput(_ socket: ZMQSocket) -> Bool {
        socket.needsEventsCheck = false
        guard let events = socket.pendingEvents() else {
            reportClosedSocket()
            return false
        }
        return events & ZMQ_POLLIN != 0
    }

    /// A socket closed while still registered (a bug of ours).
    private func reportClosedSocket() {
        reportLoopError("a socket in loop \(name) was closed without being unregistered")
    }

    /// Says what is wrong once (on stderr: the loop may be the logger's own), then backs off rather than spin.
    private func reportLoopError(_ what: String) {
        if !reportedPollError {
            reportedPollError = true
            let text = "proc: \(what)\n"
            _ = text.withCString { write(2, $0, strlen($0)) }
        }
        usleep(1_000)
    }
}

/// A timer that repeats until cancelled with `EventLoop.cancel(_:)`.
public final class RepeatingTimer {
    fileprivate var token: TimerToken?
    fileprivate var cancelled = false
}

public struct TimerToken: Hashable, Sendable { let id: UInt64 }

/// Timers ordered by deadline (a binary heap), with lazy cancellation.
struct TimerQueue {
    private struct Entry { var deadline: Int64; var id: UInt64 }
    private var heap: [Entry] = []
    private var actions: [UInt64: () -> Void] = [:]
    private var nextID: UInt64 = 1

    var nextDeadline: Int64? {
        heap.first?.deadline
    }

    mutating func add(deadline: Int64, action: @escaping () -> Void) -> TimerToken {
        let id = nextID
        nextID += 1
        actions[id] = action
        heap.append(Entry(deadline: deadline, id: id))
        siftUp(heap.count - 1)
        return TimerToken(id: id)
    }

    mutating func cancel(_ token: TimerToken) { actions[token.id] = nil }

    mutating func popNextDue(now: Int64) -> (() -> Void)? {
        while let first = heap.first, first.deadline <= now {
            popFirst()
            if let action = actions.removeValue(forKey: first.id) { return action }
        }
        // Drop cancelled entries at the top so nextDeadline does not wake the loop for nothing.
        while let first = heap.first, actions[first.id] == nil { popFirst() }
        return nil
    }

    private mutating func popFirst() {
        heap.swapAt(0, heap.count - 1)
        heap.removeLast()
        if !heap.isEmpty { siftDown(0) }
    }

    private mutating func siftUp(_ index: Int) {
        var child = index
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].deadline < heap[parent].deadline else { return }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func siftDown(_ index: Int) {
        var parent = index
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < heap.count && heap[left].deadline < heap[smallest].deadline { smallest = left }
            if right < heap.count && heap[right].deadline < heap[smallest].deadline { smallest = right }
            if smallest == parent { return }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
    }
}

/// Milliseconds on the monotonic clock.
public func monotonicMilliseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Int64(now.tv_sec) * 1_000 + Int64(now.tv_nsec) / 1_000_000
}

extension EventLoop {
    /// Runs `body` on the loop thread and waits for its result (at most `timeoutSeconds`); on a loop that
    /// is not running, runs it here.
    /// For setup and teardown from other threads; never call it from async code on a hot path.
    public func sync<T: Sendable>(
        timeoutSeconds: Double = 30, _ body: @escaping @Sendable () throws -> T
    ) throws -> T {
        if isInLoop { return try body() }
        let box = ResultBox<T>()
        let done = Semaphore()
        // On a loop that is not running (stopped, or not started), at once: nothing else touches its state.
        perform {
            box.set(Result { try body() })
            done.signal()
        }
        guard done.wait(timeoutSeconds: timeoutSeconds), let result = box.get() else {
            throw ZMQError(code: ETIMEDOUT, operation: "waiting for the \(name) loop")
        }
        return try result.get()
    }
}

extension EventLoop {
    /// Runs `body` on the loop thread and returns its result, suspending the caller instead of blocking
    /// its thread (on a loop that is not running, runs it at once).
    public func call<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            perform { continuation.resume(with: Result { try body() }) }
        }
    }
}

private final class ResultBox<T: Sendable>: @unchecked Sendable {
    private let lock = Mutex()
    private var value: Result<T, any Error>?
    func set(_ value: Result<T, any Error>) { lock.withLock { self.value = value } }
    func get() -> Result<T, any Error>? { lock.withLock { value } }
}
