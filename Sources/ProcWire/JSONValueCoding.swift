/// Codable values to and from `JSONValue`, without going through bytes: a function's arguments and its
/// output travel as `JSONValue` inside proc's messages, and Foundation's JSONEncoder and JSONDecoder (bytes,
/// then a second parse) were a tenth of a function call's cost in the client and in the host. Types are
/// encoded as their Codable conformance says (no date or data strategies: a `Date` is its Double, `Data`
/// an array of bytes); errors are `EncodingError` and `DecodingError` with the coding path, as Foundation's.
public struct JSONValueEncoder: Sendable {
    public init() {}

    public func encode<T: Encodable>(_ value: T) throws -> JSONValue {
        if let json = value as? JSONValue { return json }
        let node = EncodedNode()
        try ValueEncoder(node: node, codingPath: []).encode(value)
        return node.resolved
    }
}

public struct JSONValueDecoder: Sendable {
    public init() {}

    public func decode<T: Decodable>(_ type: T.Type, from value: JSONValue) throws -> T {
        try ValueDecoder(value: value, codingPath: []).decode(type)
    }
}

// MARK: encoding

/// What one value encoded to, filled in by the containers that write it.
private final class EncodedNode {
    var value: JSONValue = .null
    var object: [String: EncodedNode]?
    var array: [EncodedNode]?

    var resolved: JSONValue {
        if let object { return .object(object.mapValues(\.resolved)) }
        if let array { return .array(array.map(\.resolved)) }
        return value
    }
}

private struct IndexKey: CodingKey {
    let intValue: Int?
    let stringValue: String
    init(_ index: Int) {
        intValue = index
        stringValue = String(index)
    }
    init?(stringValue: String) { return nil }
    init?(intValue: Int) { self.init(intValue) }
}

private struct ValueEncoder: Encoder {
    let node: EncodedNode
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if node.object == nil { node.object = [:] }
        return KeyedEncodingContainer(KeyedEncoder<Key>(node: node, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if node.array == nil { node.array = [] }
        return UnkeyedEncoder(node: node, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { SingleEncoder(node: node, codingPath: codingPath) }

    /// A value into this node: the plain ones directly, the rest through their conformance.
    func encode<T: Encodable>(_ value: T) throws {
        switch value {
        case let value as String: node.value = .string(value)
        case let value as Int: node.value = .int(Int64(value))
        case let value as Bool: node.value = .bool(value)
        case let value as Double: node.value = try Self.number(value, codingPath)
        case let value as JSONValue: node.value = value
        default: try value.encode(to: self)
        }
    }

    static func number(_ value: Double, _ codingPath: [any CodingKey]) throws -> JSONValue {
        guard value.isFinite else {
            throw EncodingError.invalidValue(value, .init(codingPath: codingPath,
                                                          debugDescription: "\(value) is not a JSON number"))
        }
        return .double(value)
    }

    static func integer<T: BinaryInteger>(_ value: T, _ codingPath: [any CodingKey]) throws -> JSONValue {
        guard let exact = Int64(exactly: value) else {
            // Beyond Int64: written as a number all the same, as JSON allows.
            return .double(Double(value))
        }
        return .int(exact)
    }
}

private struct KeyedEncoder<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let node: EncodedNode
    let codingPath: [any CodingKey]

    private func child(_ key: Key) -> ValueEncoder {
        let child = EncodedNode()
        node.object![key.stringValue] = child
        return ValueEncoder(node: child, codingPath: codingPath + [key])
    }

    mutating func encodeNil(forKey key: Key) throws { node.object![key.stringValue] = EncodedNode() }
    mutating func encode(_ value: Bool, forKey key: Key) throws { child(key).node.value = .bool(value) }
    mutating func encode(_ value: String, forKey key: Key) throws { child(key).node.value = .string(value) }
    mutating func encode(_ value: Double, forKey key: Key) throws {
        child(key).node.value = try ValueEncoder.number(value, codingPath + [key])
    }
    mutating func encode(_ value: Float, forKey key: Key) throws {
        child(key).node.value = try ValueEncoder.number(Double(value), codingPath + [key])
    }
    mutating func encode(_ value: Int, forKey key: Key) throws { child(key).node.value = .int(Int64(value)) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { child(key).node.value = .int(Int64(value)) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { child(key).node.value = .int(Int64(value)) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { child(key).node.value = .int(Int64(value)) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { child(key).node.value = .int(value) }
    mutating func encode(_ value: UInt, forKey key: Key) throws {
        child(key).node.value = try ValueEncoder.integer(value, codingPath + [key])
    }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { child(key).node.value = .int(Int64(value)) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { child(key).node.value = .int(Int64(value)) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { child(key).node.value = .int(Int64(value)) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws {
        child(key).node.value = try ValueEncoder.integer(value, codingPath + [key])
    }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws { try child(key).encode(value) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key)
        -> KeyedEncodingContainer<NestedKey>
    {
        child(key).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        child(key).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder {
        let child = EncodedNode()
        node.object!["super"] = child
        return ValueEncoder(node: child, codingPath: codingPath)
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder { child(key) }
}

private struct UnkeyedEncoder: UnkeyedEncodingContainer {
    let node: EncodedNode
    let codingPath: [any CodingKey]
    var count: Int { node.array!.count }

    private func next() -> ValueEncoder {
        let child = EncodedNode()
        let key = IndexKey(node.array!.count)
        node.array!.append(child)
        return ValueEncoder(node: child, codingPath: codingPath + [key])
    }

    mutating func encodeNil() throws { _ = next() }
    mutating func encode(_ value: Bool) throws { next().node.value = .bool(value) }
    mutating func encode(_ value: String) throws { next().node.value = .string(value) }
    mutating func encode(_ value: Int) throws { next().node.value = .int(Int64(value)) }
    mutating func encode(_ value: Int64) throws { next().node.value = .int(value) }
    mutating func encode(_ value: Double) throws {
        let child = next()
        child.node.value = try ValueEncoder.number(value, child.codingPath)
    }
    mutating func encode<T: Encodable>(_ value: T) throws { try next().encode(value) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        next().container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer { next().unkeyedContainer() }
    mutating func superEncoder() -> any Encoder { next() }
}

private struct SingleEncoder: SingleValueEncodingContainer {
    let node: EncodedNode
    let codingPath: [any CodingKey]

    mutating func encodeNil() throws { node.value = .null }
    mutating func encode(_ value: Bool) throws { node.value = .bool(value) }
    mutating func encode(_ value: String) throws { node.value = .string(value) }
    mutating func encode(_ value: Double) throws { node.value = try ValueEncoder.number(value, codingPath) }
    mutating func encode(_ value: Float) throws { node.value = try ValueEncoder.number(Double(value), codingPath) }
    mutating func encode(_ value: Int) throws { node.value = .int(Int64(value)) }
    mutating func encode(_ value: Int8) throws { node.value = .int(Int64(value)) }
    mutating func encode(_ value: Int16) throws { node.value = .int(Int64(value)) }
    mutating func encode(_ value: Int32) throws { node.value = .int(Int64(value)) }
    mutating func encode(_ value: Int64) throws { node.value = .int(value) }
    mutating func encode(_ value: UInt) throws { node.value = try ValueEncoder.integer(value, codingPath) }
    mutating func encode(_ value: UInt8) throws { node.value = .int(Int64(value)) }
    mutating func encode(_ value: UInt16) throws { node.value = .int(Int64(value)) }
    mutating func encode(_ value: UInt32) throws { node.value = .int(Int64(value)) }
    mutating func encode(_ value: UInt64) throws { node.value = try ValueEncoder.integer(value, codingPath) }
    mutating func encode<T: Encodable>(_ value: T) throws {
        try ValueEncoder(node: node, codingPath: codingPath).encode(value)
    }
}

// MARK: decoding

private func describe(_ value: JSONValue) -> String {
    switch value {
    case .null: "null"
    case .bool: "a boolean"
    case .int, .double: "a number"
    case .string: "a string"
    case .array: "an array"
    case .object: "an object"
    }
}

private func mismatch(_ type: Any.Type, _ value: JSONValue, _ codingPath: [any CodingKey]) -> DecodingError {
    .typeMismatch(type, .init(codingPath: codingPath,
                              debugDescription: "Expected to decode \(type) but found \(describe(value)) instead."))
}

private struct ValueDecoder: Decoder {
    let value: JSONValue
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let object) = value else { throw mismatch([String: Any].self, value, codingPath) }
        return KeyedDecodingContainer(KeyedDecoder<Key>(object: object, codingPath: codingPath))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let array) = value else { throw mismatch([Any].self, value, codingPath) }
        return UnkeyedDecoder(array: array, codingPath: codingPath)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        SingleDecoder(value: value, codingPath: codingPath)
    }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        switch type {
        case is String.Type: return try Plain.string(value, codingPath) as! T
        case is Int.Type: return try Plain.integer(Int.self, value, codingPath) as! T
        case is Bool.Type: return try Plain.bool(value, codingPath) as! T
        case is Double.Type: return try Plain.double(value, codingPath) as! T
        case is JSONValue.Type: return value as! T
        default: return try T(from: self)
        }
    }
}

/// The plain values, read with the errors Foundation's decoder gives.
private enum Plain {
    static func string(_ value: JSONValue, _ codingPath: [any CodingKey]) throws -> String {
        guard case .string(let text) = value else { throw mismatch(String.self, value, codingPath) }
        return text
    }

    static func bool(_ value: JSONValue, _ codingPath: [any CodingKey]) throws -> Bool {
        guard case .bool(let flag) = value else { throw mismatch(Bool.self, value, codingPath) }
        return flag
    }

    static func double(_ value: JSONValue, _ codingPath: [any CodingKey]) throws -> Double {
        switch value {
        case .int(let number): return Double(number)
        case .double(let number): return number
        default: throw mismatch(Double.self, value, codingPath)
        }
    }

    static func integer<T: FixedWidthInteger>(_ type: T.Type, _ value: JSONValue, _ codingPath: [any CodingKey]) throws -> T {
        let exact: T? = switch value {
        case .int(let number): T(exactly: number)
        case .double(let number): T(exactly: number)
        default: throw mismatch(type, value, codingPath)
        }
        guard let exact else {
            throw DecodingError.dataCorrupted(.init(
                codingPath: codingPath, debugDescription: "Number \(value) does not fit in \(type)."))
        }
        return exact
    }
}

private struct KeyedDecoder<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let object: [String: JSONValue]
    let codingPath: [any CodingKey]

    var allKeys: [Key] { object.keys.compactMap(Key.init(stringValue:)) }
    func contains(_ key: Key) -> Bool { object[key.stringValue] != nil }

    private func value(_ key: Key) throws -> JSONValue {
        guard let value = object[key.stringValue] else {
            throw DecodingError.keyNotFound(key, .init(
                codingPath: codingPath, debugDescription: "No value associated with key \(key.stringValue)."))
        }
        return value
    }

    private func child(_ key: Key) throws -> ValueDecoder {
        ValueDecoder(value: try value(key), codingPath: codingPath + [key])
    }

    func decodeNil(forKey key: Key) throws -> Bool { try value(key) == .null }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try Plain.bool(value(key), codingPath + [key]) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try Plain.string(value(key), codingPath + [key]) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try Plain.double(value(key), codingPath + [key]) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { Float(try Plain.double(value(key), codingPath + [key])) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try Plain.integer(type, value(key), codingPath + [key]) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try Plain.integer(type, value(key), codingPath + [key]) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try Plain.integer(type, value(key), codingPath + [key]) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try Plain.integer(type, value(key), codingPath + [key]) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try Plain.integer(type, value(key), codingPath + [key]) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try Plain.integer(type, value(key), codingPath + [key]) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try Plain.integer(type, value(key), codingPath + [key]) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try Plain.integer(type, value(key), codingPath + [key]) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try Plain.integer(type, value(key), codingPath + [key]) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try Plain.integer(type, value(key), codingPath + [key]) }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try child(key).decode(type) }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws
        -> KeyedDecodingContainer<NestedKey>
    {
        try child(key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try child(key).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder {
        ValueDecoder(value: object["super"] ?? .null, codingPath: codingPath)
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        ValueDecoder(value: object[key.stringValue] ?? .null, codingPath: codingPath + [key])
    }
}

private struct UnkeyedDecoder: UnkeyedDecodingContainer {
    let array: [JSONValue]
    let codingPath: [any CodingKey]
    private(set) var currentIndex = 0

    init(array: [JSONValue], codingPath: [any CodingKey]) {
        self.array = array
        self.codingPath = codingPath
    }

    var count: Int? { array.count }
    var isAtEnd: Bool { currentIndex >= array.count }

    private mutating func next(_ type: Any.Type) throws -> ValueDecoder {
        let key = IndexKey(currentIndex)
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(type, .init(codingPath: codingPath + [key],
                                                          debugDescription: "Unkeyed container is at end."))
        }
        defer { currentIndex += 1 }
        return ValueDecoder(value: array[currentIndex], codingPath: codingPath + [key])
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, array[currentIndex] == .null else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try next(type).decode(type) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws
        -> KeyedDecodingContainer<NestedKey>
    {
        try next([String: Any].self).container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try next([Any].self).unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder { try next(Any.self) }
}

private struct SingleDecoder: SingleValueDecodingContainer {
    let value: JSONValue
    let codingPath: [any CodingKey]

    func decodeNil() -> Bool { value == .null }
    func decode(_ type: Bool.Type) throws -> Bool { try Plain.bool(value, codingPath) }
    func decode(_ type: String.Type) throws -> String { try Plain.string(value, codingPath) }
    func decode(_ type: Double.Type) throws -> Double { try Plain.double(value, codingPath) }
    func decode(_ type: Float.Type) throws -> Float { Float(try Plain.double(value, codingPath)) }
    func decode(_ type: Int.Type) throws -> Int { try Plain.integer(type, value, codingPath) }
    func decode(_ type: Int8.Type) throws -> Int8 { try Plain.integer(type, value, codingPath) }
    func decode(_ type: Int16.Type) throws -> Int16 { try Plain.integer(type, value, codingPath) }
    func decode(_ type: Int32.Type) throws -> Int32 { try Plain.integer(type, value, codingPath) }
    func decode(_ type: Int64.Type) throws -> Int64 { try Plain.integer(type, value, codingPath) }
    func decode(_ type: UInt.Type) throws -> UInt { try Plain.integer(type, value, codingPath) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try Plain.integer(type, value, codingPath) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try Plain.integer(type, value, codingPath) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try Plain.integer(type, value, codingPath) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try Plain.integer(type, value, codingPath) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try ValueDecoder(value: value, codingPath: codingPath).decode(type)
    }
}
