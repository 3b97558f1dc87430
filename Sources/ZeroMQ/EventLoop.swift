import CZeroMQ
import Glibc

/// The one thread of a process that owns its ZeroMQ sockets (DESIGN §3, "Threads").
///
/// Sockets are not thread-safe and a blocking `zmq_poll` inside a Swift Task starves the cooperative
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
    private let wakeFD: Int32

    // Loop-thread state.
    private struct Registration {
        var socket: ZMQSocket?
        var fd: Int32
        var handler: () -> Void
    }
    private var registrations: [Int: Registration] = [:]
    private var nextRegistrationID = 1
    private var itemsDirty = true
    private var pollItems: [zmq_pollitem_t] = []
    private var pollOwners: [Int] = []
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

    public var isInLoop: Bool { loopThread.map { pthread_equal($0, pthread_self()) != 0 } ?? false }

    // MARK: cross-thread

    /// Runs `work` on the loop thread, soon. Callable from any thread.
    public func execute(_ work: @escaping @Sendable () -> Void) {
        lock.withLock { inbox.append(work) }
        wake()
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
        add(Registration(socket: socket, fd: -1, handler: handler))
    }

    /// Calls `handler` whenever `fd` is readable (a pipe, a pidfd, an eventfd).
    @discardableResult
    public func register(fd: Int32, handler: @escaping () -> Void) -> RegistrationToken {
        add(Registration(socket: nil, fd: fd, handler: handler))
    }

    public func unregister(_ token: RegistrationToken) {
        if registrations.removeValue(forKey: token.id) != nil { itemsDirty = true }
    }

    private func add(_ registration: Registration) -> RegistrationToken {
        let id = nextRegistrationID
        nextRegistrationID += 1
        registrations[id] = registration
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
        let wakeToken = register(fd: wakeFD) { [unowned self] in drainInbox() }
        _ = wakeToken
        drainInbox()
        while !lock.withLock({ stopRequested }) {
            if itemsDirty { rebuildPollItems() }
            let now = monotonicMilliseconds()
            var timeout: Int = 1_000
            if let next = timers.nextDeadline { timeout = Int(max(0, min(next - now, 1_000))) }
            let ready = pollItems.withUnsafeMutableBufferPointer { zmq_poll($0.baseAddress, Int32($0.count), timeout) }
            if ready < 0 && zmq_errno() != EINTR {
                // A closed socket still registered (ENOTSOCK) would make this spin: say so, and back off.
                if !reportedPollError {
                    reportedPollError = true
                    let text = "proc: zmq_poll failed in loop \(name): \(ZMQError.last("poll")); a socket was "
                        + "closed without being unregistered\n"
                    _ = text.withCString { write(2, $0, strlen($0)) }
                }
                usleep(1_000)
            }
            if ready > 0 {
                // Handlers may (un)register; take a snapshot of who was ready first.
                var readyIDs: [Int] = []
                for index in pollItems.indices where pollItems[index].revents & Int16(ZMQ_POLLIN | ZMQ_POLLERR) != 0 {
                    readyIDs.append(pollOwners[index])
                }
                for id in readyIDs {
                    // Copy the handler out first: it may (un)register, which mutates `registrations`.
                    let handler = registrations[id]?.handler
                    handler?()
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
        finishedSignal.signal()
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
        for (id, registration) in registrations.sorted(by: { $0.key < $1.key }) {
            pollItems.append(zmq_pollitem_t(
                socket: registration.socket?.handle, fd: registration.fd, events: Int16(ZMQ_POLLIN), revents: 0))
            pollOwners.append(id)
        }
        itemsDirty = false
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
    /// Runs `body` on the loop thread and waits for its result (at most `timeoutSeconds`).
    /// For setup and teardown from other threads; never call it from async code on a hot path.
    public func sync<T: Sendable>(
        timeoutSeconds: Double = 30, _ body: @escaping @Sendable () throws -> T
    ) throws -> T {
        if isInLoop { return try body() }
        let box = ResultBox<T>()
        let done = Semaphore()
        execute {
            box.set(Result { try body() })
            done.signal()
        }
        guard done.wait(timeoutSeconds: timeoutSeconds), let result = box.get() else {
            throw ZMQError(code: ETIMEDOUT, operation: "waiting for the \(name) loop")
        }
        return try result.get()
    }
}

private final class ResultBox<T: Sendable>: @unchecked Sendable {
    private let lock = Mutex()
    private var value: Result<T, any Error>?
    func set(_ value: Result<T, any Error>) { lock.withLock { self.value = value } }
    func get() -> Result<T, any Error>? { lock.withLock { value } }
}
