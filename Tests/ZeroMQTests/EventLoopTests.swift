import Glibc
import Testing
import ZeroMQ

@Suite struct EventLoopTests {
    private struct Boom: Error, Equatable { var code: Int }

    @Test func executeRunsOnTheLoopThread() {
        let running = RunningLoop()
        defer { running.shutDown() }
        let loop = running.loop
        let inLoop = Shared<Bool?>(nil)
        let done = Semaphore()
        loop.execute {
            inLoop.set(loop.isInLoop)
            done.signal()
        }
        #expect(done.wait(timeoutSeconds: 5))
        #expect(inLoop.value == true)
        #expect(!loop.isInLoop)
    }

    /// Children spawned on the loop signal its thread when they exit. With SIGCHLD blocked there (threads
    /// inherit the mask of the one that started them, and Swift's pool threads block it), the kernel woke
    /// another thread for each exit. The loop unblocks it for itself.
    @Test func theLoopThreadDoesNotBlockSIGCHLD() {
        var blockChild = sigset_t(), saved = sigset_t()
        sigemptyset(&blockChild)
        sigaddset(&blockChild, SIGCHLD)
        pthread_sigmask(SIG_BLOCK, &blockChild, &saved)
        let running = RunningLoop()
        pthread_sigmask(SIG_SETMASK, &saved, nil)
        defer { running.shutDown() }
        let blocked = Shared<Int32?>(nil)
        let done = Semaphore()
        running.loop.execute {
            var current = sigset_t()
            pthread_sigmask(SIG_BLOCK, nil, &current)
            blocked.set(sigismember(&current, SIGCHLD))
            done.signal()
        }
        #expect(done.wait(timeoutSeconds: 5))
        #expect(blocked.value == 0, "SIGCHLD is blocked on the loop thread")
    }

    @Test func executeKeepsOrder() {
        let running = RunningLoop()
        defer { running.shutDown() }
        let order = Shared<[Int]>([])
        let done = Semaphore()
        for index in 0..<100 {
            running.loop.execute {
                order.update { $0.append(index) }
                if index == 99 { done.signal() }
            }
        }
        #expect(done.wait(timeoutSeconds: 5))
        #expect(order.value == Array(0..<100))
    }

    @Test func syncReturnsTheValue() throws {
        let running = RunningLoop()
        defer { running.shutDown() }
        let loop = running.loop
        #expect(try loop.sync(timeoutSeconds: 5) { 21 * 2 } == 42)
        #expect(try loop.sync(timeoutSeconds: 5) { loop.isInLoop })
        // Nested: already on the loop, runs inline.
        #expect(try loop.sync(timeoutSeconds: 5) { try loop.sync(timeoutSeconds: 5) { "inner" } } == "inner")
    }

    @Test func syncRethrows() throws {
        let running = RunningLoop()
        defer { running.shutDown() }
        #expect(throws: Boom(code: 7)) {
            try running.loop.sync(timeoutSeconds: 5) { () throws -> Int in throw Boom(code: 7) }
        }
        // The loop is still fine afterwards.
        #expect(try running.loop.sync(timeoutSeconds: 5) { 1 } == 1)
    }

    @Test func stopRunsStopHooksAndDrainsQueuedWork() throws {
        let context = ZMQContext()
        defer { context.terminate() }
        let loop = EventLoop(name: "stopping", context: context)
        #expect(loop.join(timeoutSeconds: 1))  // never started: nothing to wait for
        loop.start()
        let stopHookInLoop = Shared<Bool?>(nil)
        try loop.sync(timeoutSeconds: 5) { loop.onStop { stopHookInLoop.set(loop.isInLoop) } }
        let queued = Shared(false)
        loop.execute { queued.set(true) }
        loop.stop()
        #expect(loop.join(timeoutSeconds: 10))
        #expect(queued.value)
        #expect(stopHookInLoop.value == true)
        #expect(loop.join(timeoutSeconds: 1))  // joining again is harmless
    }

    @Test func onIterationRunsOnTheLoop() throws {
        let running = RunningLoop()
        defer { running.shutDown() }
        let loop = running.loop
        let iterations = Shared(0)
        let ran = Semaphore()
        try loop.sync(timeoutSeconds: 5) {
            loop.onIteration {
                precondition(loop.isInLoop)
                if iterations.update({ $0 += 1; return $0 }) >= 2 { ran.signal() }
            }
        }
        loop.execute {}  // wake it; it also iterates on its own
        #expect(ran.wait(timeoutSeconds: 5))
        #expect(iterations.value >= 2)
    }

    @Test func fdHandlerIsCalledWhenReadable() throws {
        let running = RunningLoop()
        defer { running.shutDown() }
        let loop = running.loop
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let (readEnd, writeEnd) = (fds[0], fds[1])
        defer {
            close(readEnd)
            close(writeEnd)
        }
        let got = Shared<[UInt8]>([])
        let done = Semaphore()
        let token = try loop.sync(timeoutSeconds: 5) {
            loop.register(fd: readEnd) {
                var byte: UInt8 = 0
                if read(readEnd, &byte, 1) == 1 { got.update { $0.append(byte) } }
                done.signal()
            }
        }
        var byte: UInt8 = 0x2A
        #expect(write(writeEnd, &byte, 1) == 1)
        #expect(done.wait(timeoutSeconds: 5))
        #expect(got.value == [0x2A])
        try loop.sync(timeoutSeconds: 5) { loop.unregister(token) }
    }
}
