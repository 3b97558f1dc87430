import Foundation
import ProcWire
import Testing

/// `JSONValueEncoder` and `JSONValueDecoder` give what Foundation's JSONEncoder and JSONDecoder give,
/// without the bytes in between.
@Suite struct JSONValueCodingTests {
    enum Color: String, Codable, Equatable { case red, green }
    struct Inner: Codable, Equatable {
        var name: String
        var tags: [String]
        var score: Double?
    }
    struct Everything: Codable, Equatable {
        var int: Int
        var small: Int8
        var big: UInt64
        var negative: Int64
        var double: Double
        var float: Float
        var flag: Bool
        var text: String
        var color: Color
        var missing: String?
        var present: Int?
        var inner: Inner
        var list: [Inner]
        var map: [String: Int]
        var byNumber: [Int: String]
        var nested: [[Int]]
        var any: JSONValue
        var optionals: [Int?]
    }

    let sample = Everything(
        int: 42, small: -8, big: 9_007_199_254_740_993, negative: Int64.min, double: 0.1, float: 1.5, flag: true,
        text: "é \"quoted\"\n🙂", color: .green, missing: nil, present: 7,
        inner: Inner(name: "a", tags: ["x", "y"], score: nil),
        list: [Inner(name: "b", tags: [], score: 2.5)], map: ["k": 1, "l": 2], byNumber: [3: "three"],
        nested: [[1, 2], [], [3]], any: .object(["deep": .array([.null, .bool(false)])]), optionals: [1, nil, 3])

    /// Foundation's bytes, read back as a value.
    func viaFoundation<T: Encodable>(_ value: T) throws -> JSONValue {
        try WireCoding.decode(JSONValue.self, from: Array(JSONEncoder().encode(value)))
    }

    @Test func encodingGivesWhatFoundationGives() throws {
        #expect(try JSONValueEncoder().encode(sample) == viaFoundation(sample))
        #expect(try JSONValueEncoder().encode(3) == .int(3))
        #expect(try JSONValueEncoder().encode(Optional<Int>.none) == .null)
        #expect(try JSONValueEncoder().encode(["a": [1, 2]]) == viaFoundation(["a": [1, 2]]))
    }

    @Test func decodingRoundTripsAndMatchesFoundation() throws {
        let value = try JSONValueEncoder().encode(sample)
        #expect(try JSONValueDecoder().decode(Everything.self, from: value) == sample)
        let bytes = Data(WireCoding.bytes(value))
        #expect(try JSONDecoder().decode(Everything.self, from: bytes) == sample)
    }

    @Test func errorsNameThePathAsFoundationDoes() {
        struct Point: Codable { var x: Int; var y: Int }
        struct Shape: Codable { var points: [Point] }
        let decoder = JSONValueDecoder()
        let missing = JSONValue.object(["points": .array([.object(["x": .int(1)])])])
        #expect {
            try decoder.decode(Shape.self, from: missing)
        } throws: { error in
            guard case DecodingError.keyNotFound(let key, let context) = error else { return false }
            return key.stringValue == "y" && context.codingPath.map(\.stringValue) == ["points", "0"]
        }
        let wrongType = JSONValue.object(["points": .array([.object(["x": .string("1"), "y": .int(2)])])])
        #expect {
            try decoder.decode(Shape.self, from: wrongType)
        } throws: { error in
            guard case DecodingError.typeMismatch(_, let context) = error else { return false }
            return context.codingPath.map(\.stringValue) == ["points", "0", "x"]
                && context.debugDescription.contains("found a string")
        }
        #expect(throws: DecodingError.self) { try decoder.decode(Int8.self, from: .int(300)) }
        #expect(throws: DecodingError.self) { try decoder.decode(Int.self, from: .double(1.5)) }
        #expect(throws: DecodingError.self) { try decoder.decode(Point.self, from: .array([])) }
        #expect(throws: EncodingError.self) { try JSONValueEncoder().encode(Double.nan) }
    }

    @Test func numbersConvertAsJSONAllows() throws {
        let decoder = JSONValueDecoder()
        #expect(try decoder.decode(Double.self, from: .int(3)) == 3)
        #expect(try decoder.decode(Int.self, from: .double(4)) == 4)
        #expect(try decoder.decode(UInt8.self, from: .int(255)) == 255)
        #expect(try JSONValueEncoder().encode(UInt64.max) == .double(Double(UInt64.max)))
    }
}
