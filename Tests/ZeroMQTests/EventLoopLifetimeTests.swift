import Testing
import ZeroMQ

/// A stopped and joined loop is freed (its deinit closes the wake eventfd).
@Suite struct EventLoopLifetimeTests {
    @Test func stoppedLoopIsReleased() throws {
        let context = ZMQContext()
        defer { context.terminate() }
        weak var released: EventLoop?
        do {
            let loop = EventLoop(name: "lifetime", context: context)
            released = loop
            loop.start()
            _ = try loop.sync(timeoutSeconds: 5) { loop.schedule(afterMilliseconds: 1) {} }
            loop.stop()
            #expect(loop.join(timeoutSeconds: 10))
        }
        #expect(released == nil)
    }

    @Test
    func stoppedLoopWithARepeatingTimerIsReleased() throws {
        let context = ZMQContext()
        defer { context.terminate() }
        weak var released: EventLoop?
        do {
            let loop = EventLoop(name: "lifetime", context: context)
            released = loop
            loop.start()
            _ = try loop.sync(timeoutSeconds: 5) { _ = loop.every(milliseconds: 10) {} }
            loop.stop()
            #expect(loop.join(timeoutSeconds: 10))
        }
        #expect(released == nil)
    }
}
