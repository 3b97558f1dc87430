import ProcCore
import Testing

@Suite struct JSONValueTests {
    private func roundTrip(_ value: JSONValue) throws -> JSONValue {
        try WireCoding.decode(JSONValue.self, from: try WireCoding.encode(value))
    }

    @Test(arguments: [
        JSONValue.null, .bool(true), .bool(false), .int(0), .int(-7), .int(Int64.max), .int(Int64.min),
        .double(0.5), .double(-1.25e-3), .double(3.141592653589793), .string(""), .string("héllo \"q\" / \n"),
        .array([]), .array([.int(1), .string("two"), .null]),
    ])
    func scalarsAndArraysRoundTrip(value: JSONValue) throws {
        #expect(try roundTrip(value) == value)
    }

    @Test func nestedObjectsRoundTripAndIntsStayInts() throws {
        let value: JSONValue = .object([
            "count": .int(3),
            "ratio": .double(0.75),
            "ok": .bool(true),
            "none": .null,
            "items": .array([.object(["id": .int(1)]), .object(["id": .int(2), "tags": .array([.string("a")])])]),
            "deep": .object(["deeper": .object(["deepest": .int(-1)])]),
        ])
        let back = try roundTrip(value)
        #expect(back == value)
        #expect(back["count"] == .int(3))
        #expect(back["deep"]?["deeper"]?["deepest"] == .int(-1))
    }

    @Test func decodingDistinguishesTypes() throws {
        let value = try WireCoding.decode(
            JSONValue.self, from: Array(#"{"i": 1, "d": 1.5, "b": true, "s": "1", "n": null}"#.utf8))
        #expect(value["i"] == .int(1))
        #expect(value["d"] == .double(1.5))
        #expect(value["b"] == .bool(true))
        #expect(value["s"] == .string("1"))
        #expect(value["n"] == .null)
    }

    /// JSON has one number type: a double with no fraction comes back as an int of the same value.
    @Test func integralDoublesComeBackAsInts() throws {
        let back = try roundTrip(.double(-1.25e10))
        #expect(back == .int(-12_500_000_000))
        #expect(back.doubleValue == -1.25e10)
    }

    @Test func accessorsAndDescription() {
        let value: JSONValue = .object(["a": .array([.int(1)])])
        #expect(value.description == #"{"a":[1]}"#)
        #expect(JSONValue.int(2).doubleValue == 2)
        #expect(JSONValue.double(2.5).doubleValue == 2.5)
        #expect(JSONValue.string("x").doubleValue == nil)
        #expect(JSONValue.string("x").stringValue == "x")
        #expect(JSONValue.int(1).stringValue == nil)
        #expect(JSONValue.int(1)["a"] == nil)
        #expect(value["missing"] == nil)
    }
}
