import ProcCore
import Testing

/// Addresses are parsed before a socket exists (issue 21): anything that is not a host, an IP literal and
/// a port in range is refused with a sentence, never passed on to libzmq.
@Suite struct AddressTests {
    func target(_ text: String) throws(Address.Problem) -> Address.Target {
        try Address.target(text, defaultPort: 5555, what: "coordinator address")
    }

    func problem(_ text: String) -> String? {
        do {
            _ = try target(text)
            return nil
        } catch {
            return error.description
        }
    }

    @Test func hostsAndPorts() throws {
        #expect(try target("127.0.0.1").endpoint == "tcp://127.0.0.1:5555")
        #expect(try target("coord.example:6000").endpoint == "tcp://coord.example:6000")
        #expect(try target("tcp://10.0.0.1:5555").endpoint == "tcp://10.0.0.1:5555")
        #expect(try target(" localhost ").endpoint == "tcp://localhost:5555")
        #expect(try target("[::1]:7000").endpoint == "tcp://[::1]:7000")
        #expect(try target("[fe80::1]").endpoint == "tcp://[fe80::1]:5555")
        #expect(try target("my_host-1.lan.").host == "my_host-1.lan.")
        #expect(try target("[::1]:7000").description == "[::1]:7000")
    }

    @Test(arguments: ["é🙂", "a b", "*", ",", "", " ", "a\nb", "-a", "a-", "a..b", "host:0", "host:65536",
                      "host:99999", "host:-1", "host:", "host:5555x", "[::1", "[nothex]:1", "[::1]x", "::1",
                      "999.1.1.1", "1.2.3", "1.2.3.4.5", "udp://a:1", String(repeating: "a", count: 64) + ".com",
                      String(repeating: "a.", count: 130) + "a"])
    func badAddressesAreRefused(_ text: String) {
        #expect(problem(text) != nil, "\(text) was accepted")
    }

    @Test func listsAreLists() {
        let list = problem("127.0.0.1:1,127.0.0.1:2")
        #expect(list?.contains("list of 2 addresses") == true, "\(list ?? "accepted")")
        #expect(problem("a,")?.contains("comma") == true)
        #expect(problem(",b")?.contains("comma") == true)
    }

    @Test func theMessagesSayWhatWasExpected() {
        #expect(problem("host:99999") == "bad port in coordinator address 'host:99999': a port is a number from 1 to 65535")
        #expect(problem("é🙂")?.contains("ASCII letters") == true)
        #expect(problem("::1")?.contains("in brackets") == true)
    }

    func bind(_ text: String) throws -> String {
        try Address.bindEndpoint(text, defaultPort: 5555, what: "--listen")
    }

    @Test func bindEndpoints() throws {
        #expect(try bind("tcp://*:5555") == "tcp://*:5555")
        #expect(try bind("tcp://127.0.0.1:*") == "tcp://127.0.0.1:*")
        #expect(try bind("tcp://0.0.0.0:0") == "tcp://0.0.0.0:0")
        #expect(try bind("5556") == "tcp://*:5556")
        #expect(try bind(":5557") == "tcp://*:5557")
        #expect(try bind("0.0.0.0:6000") == "tcp://0.0.0.0:6000")
        #expect(try bind("127.0.0.1") == "tcp://127.0.0.1:5555")
        #expect(try bind("tcp://[::1]:6000") == "tcp://[::1]:6000")
        #expect(try bind("eth0:6000") == "tcp://eth0:6000")
        #expect(try bind("inproc://proc-control") == "inproc://proc-control")
        #expect(try bind("ipc:///tmp/proc.sock") == "ipc:///tmp/proc.sock")
    }

    @Test(arguments: ["tcp://127.0.0.1:99999", "tcp://127.0.0.1:-1", "99999", "tcp://a b:1", "tcp://src;dst:1",
                      "inproc://", "ipc://", "ipc://" + String(repeating: "x", count: 200), "http://x:1",
                      "tcp://é:1", "tcp://:1", ""])
    func badBindEndpointsAreRefused(_ text: String) {
        #expect(throws: Address.Problem.self, "\(text) was accepted") { try bind(text) }
    }
}
