import Glibc
import Testing
import ZeroMQ

@Suite struct SocketTests {
    @Test func dealerRouterRoundTripKeepsEmptyAndBinaryFrames() throws {
        let context = ZMQContext()
        defer { context.terminate() }
        let router = try ZMQSocket(context: context, type: .router)
        defer { router.close() }
        let dealer = try ZMQSocket(context: context, type: .dealer)
        defer { dealer.close() }
        #expect(dealer.setOption(ZMQ_ROUTING_ID, bytes("dealer-1")))
        try router.bind("inproc://round-trip")
        try dealer.connect("inproc://round-trip")

        let binary: Frame = [0, 1, 2, 0x7F, 0x80, 0xFE, 0xFF, 0]
        #expect(try send(dealer, [[], binary, bytes("hello")]))
        let request = try #require(try receive(router))
        #expect(request == [bytes("dealer-1"), [], binary, bytes("hello")])

        #expect(try router.send([request[0], [], [0xFF, 0x00], []]))
        let reply = try #require(try receive(dealer))
        #expect(reply == [[], [0xFF, 0x00], []])
    }

    @Test func nothingWaitingReturnsNil() throws {
        let context = ZMQContext()
        defer { context.terminate() }
        let router = try ZMQSocket(context: context, type: .router)
        defer { router.close() }
        try router.bind("inproc://idle")
        #expect(try router.receive() == nil)
        #expect(try router.receive(timeoutMilliseconds: 20) == nil)
    }

    @Test func sendWithoutAPeerReturnsFalse() throws {
        let context = ZMQContext()
        defer { context.terminate() }
        let dealer = try ZMQSocket(context: context, type: .dealer)
        defer { dealer.close() }
        #expect(try dealer.send([bytes("nobody")]) == false)

        let router = try ZMQSocket(context: context, type: .router)
        defer { router.close() }
        #expect(router.setOption(ZMQ_ROUTER_MANDATORY, 1))
        try router.bind("inproc://mandatory")
        #expect(try router.send([bytes("unknown-peer"), bytes("x")]) == false)
    }

    @Test func wildcardTCPBindResolvesARealPort() throws {
        let context = ZMQContext()
        defer { context.terminate() }
        let router = try ZMQSocket(context: context, type: .router)
        defer { router.close() }
        try router.bind("tcp://127.0.0.1:*")
        let endpoint = router.lastEndpoint
        #expect(endpoint.hasPrefix("tcp://127.0.0.1:"))
        let bound = try #require(port(of: endpoint))
        #expect(bound > 0 && bound < 65_536)

        // And it is reachable there.
        let dealer = try ZMQSocket(context: context, type: .dealer)
        defer { dealer.close() }
        try dealer.connect(endpoint)
        #expect(try send(dealer, [bytes("ping")]))
        let message = try #require(try receive(router))
        #expect(message.count == 2)
        #expect(message.last == bytes("ping"))
    }

    @Test func bindingATakenPortThrowsAddressInUse() throws {
        let context = ZMQContext()
        defer { context.terminate() }
        let first = try ZMQSocket(context: context, type: .router)
        defer { first.close() }
        try first.bind("tcp://127.0.0.1:*")
        let endpoint = first.lastEndpoint
        let second = try ZMQSocket(context: context, type: .router)
        defer { second.close() }
        let error = try #require(throws: ZMQError.self) { try second.bind(endpoint) }
        #expect(error.isAddressInUse)
        #expect(error.code == EADDRINUSE)
        #expect(error.description.contains(endpoint))
    }

    @Test func badEndpointThrows() throws {
        let context = ZMQContext()
        defer { context.terminate() }
        let socket = try ZMQSocket(context: context, type: .dealer)
        defer { socket.close() }
        let error = try #require(throws: ZMQError.self) { try socket.connect("nonsense://here") }
        #expect(!error.isAddressInUse)
        #expect(error.operation.contains("connect"))
    }

    @Test func optionsAndVersion() throws {
        let context = ZMQContext()
        defer { context.terminate() }
        let socket = try ZMQSocket(context: context, type: .pub)
        defer { socket.close() }
        #expect(socket.type == .pub)
        #expect(socket.intOption(ZMQ_LINGER) == 0)  // set by init: never block at exit
        #expect(socket.setOption(ZMQ_SNDHWM, 123))
        #expect(socket.intOption(ZMQ_SNDHWM) == 123)
        #expect(ZMQContext.version.split(separator: ".").count == 3)
    }

    @Test func closeTwiceIsHarmless() throws {
        let context = ZMQContext()
        defer { context.terminate() }
        let socket = try ZMQSocket(context: context, type: .dealer)
        socket.close()
        socket.close()
        #expect(socket.type == .dealer)
    }
}
