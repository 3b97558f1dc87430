import Testing
import ZeroMQ

@Suite struct EventLoopSocketTests {
    /// A ROUTER owned by the loop, closed by an onStop hook.
    private func loopRouter(_ running: RunningLoop, endpoint: String) throws -> LoopOwned<ZMQSocket?> {
        let loop = running.loop
        let box = LoopOwned<ZMQSocket?>(nil)
        try loop.sync(timeoutSeconds: 5) {
            let router = try ZMQSocket(context: loop.context, type: .router)
            try router.bind(endpoint)
            box.value = router
            loop.onStop {
                box.value?.close()
                box.value = nil
            }
        }
        return box
    }

    @Test func handlerIsCalledForArrivingMessagesUntilUnregistered() throws {
        let running = RunningLoop()
        defer { running.shutDown() }
        let loop = running.loop
        let routerBox = try loopRouter(running, endpoint: "inproc://loop-router")
        let bodies = Shared<[String]>([])
        let calls = Shared(0)
        let gotTwo = Semaphore()
        let token = try loop.sync(timeoutSeconds: 5) {
            loop.register(routerBox.value!) {
                precondition(loop.isInLoop)
                calls.update { $0 += 1 }
                while let message = try? routerBox.value!.receive() {
                    if bodies.update({ $0.append(text(message.last!)); return $0.count }) == 2 { gotTwo.signal() }
                }
            }
        }

        let dealer = try ZMQSocket(context: running.context, type: .dealer)
        defer { dealer.close() }
        try dealer.connect("inproc://loop-router")
        #expect(try send(dealer, [bytes("one")]))
        #expect(try send(dealer, [bytes("two")]))
        #expect(gotTwo.wait(timeoutSeconds: 5))
        #expect(bodies.value == ["one", "two"])

        // Unregistered: the next message stays in the socket for whoever reads it.
        try loop.sync(timeoutSeconds: 5) { loop.unregister(token) }
        let callsBefore = calls.value
        #expect(try send(dealer, [bytes("three")]))
        let unread = try loop.sync(timeoutSeconds: 10) { () throws -> String? in
            guard let socket = routerBox.value, let message = try receive(socket) else { return nil }
            return text(message.last!)
        }
        #expect(unread == "three")
        #expect(calls.value == callsBefore)
        #expect(bodies.value == ["one", "two"])
    }

    /// The loop learns of a socket's messages from its ZMQ_FD, which libzmq signals once for messages that
    /// arrive together and which the loop's own question (ZMQ_EVENTS) resets. A handler that leaves
    /// messages unread (the coordinator reads a bounded number per pass, none while its output is full)
    /// must still be called again for them, with no new message to signal them.
    @Test func aHandlerThatLeavesMessagesUnreadIsCalledAgainForThem() throws {
        let running = RunningLoop()
        defer { running.shutDown() }
        let loop = running.loop
        let routerBox = try loopRouter(running, endpoint: "inproc://slow-reader")
        let bodies = Shared<[String]>([])
        let calls = Shared(0)
        let gotAll = Semaphore()
        _ = try loop.sync(timeoutSeconds: 5) {
            loop.register(routerBox.value!) {
                // The first call reads nothing (as under backpressure), each later one a single message.
                guard calls.update({ $0 += 1; return $0 }) > 1, let message = try? routerBox.value!.receive()
                else { return }
                if bodies.update({ $0.append(text(message.last!)); return $0.count }) == 4 { gotAll.signal() }
            }
        }
        let dealer = try ZMQSocket(context: running.context, type: .dealer)
        defer { dealer.close() }
        try dealer.connect("inproc://slow-reader")
        for body in ["a", "b", "c", "d"] { #expect(try send(dealer, [bytes(body)])) }
        #expect(gotAll.wait(timeoutSeconds: 5))
        #expect(bodies.value == ["a", "b", "c", "d"])
    }

    @Test func handlerCanReplyAndUnregisterItself() throws {
        let running = RunningLoop()
        defer { running.shutDown() }
        let loop = running.loop
        let routerBox = try loopRouter(running, endpoint: "inproc://echo")
        let calls = Shared(0)
        try loop.sync(timeoutSeconds: 5) {
            let token = LoopOwned<EventLoop.RegistrationToken?>(nil)
            token.value = loop.register(routerBox.value!) {
                calls.update { $0 += 1 }
                guard let router = routerBox.value, let message = try? router.receive() else { return }
                _ = try? router.send([message[0], bytes("echo:" + text(message.last!))])
                loop.unregister(token.value!)
            }
        }

        let dealer = try ZMQSocket(context: running.context, type: .dealer)
        defer { dealer.close() }
        try dealer.connect("inproc://echo")
        #expect(try send(dealer, [bytes("hi")]))
        #expect(try receive(dealer) == [bytes("echo:hi")])
        #expect(try send(dealer, [bytes("again")]))
        // No handler any more: no echo (the wait is bounded).
        #expect(try dealer.receive(timeoutMilliseconds: 200) == nil)
        #expect(calls.value == 1)
        try loop.sync(timeoutSeconds: 5) { routerBox.value?.close() }
    }

    @Test func loopOverTCPWithAWildcardPort() throws {
        let running = RunningLoop()
        defer { running.shutDown() }
        let loop = running.loop
        let routerBox = try loopRouter(running, endpoint: "tcp://127.0.0.1:*")
        let endpoint = try loop.sync(timeoutSeconds: 5) { routerBox.value!.lastEndpoint }
        #expect(port(of: endpoint) ?? 0 > 0)
        _ = try loop.sync(timeoutSeconds: 5) {
            loop.register(routerBox.value!) {
                while let message = try? routerBox.value!.receive() {
                    _ = try? routerBox.value!.send([message[0], bytes("pong")])
                }
            }
        }
        let dealer = try ZMQSocket(context: running.context, type: .dealer)
        defer { dealer.close() }
        try dealer.connect(endpoint)
        #expect(try send(dealer, [bytes("ping")]))
        #expect(try receive(dealer) == [bytes("pong")])
    }
}
