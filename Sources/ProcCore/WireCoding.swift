import Foundation

/// JSON on the wire: one encoder and decoder configuration for every message and event.
public enum WireCoding {
    public static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return Array(try encoder.encode(value))
    }

    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        // A generic caller (the client's `request`) still gets the reader for the types that have one.
        if let readable = type as? any JSONReadable.Type,
           let value = try? JSONReader.read(bytes, { try readable.init(reader: &$0) }) as? T {
            return value
        }
        return try JSONDecoder().decode(type, from: Data(bytes))
    }

    /// The hot path's types: read by hand (`JSONReader`) first; anything that reader does not take is
    /// decoded again by `JSONDecoder`, which decides (and words the error).
    @inlinable
    public static func decode<T: JSONReadable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        if let value = try? JSONReader.read(bytes, { try T(reader: &$0) }) { return value }
        return try JSONDecoder().decode(type, from: Data(bytes))
    }

    /// Encodes a value that cannot fail to encode (our own message types).
    public static func bytes<T: Encodable>(_ value: T) -> [UInt8] {
        do { return try encode(value) } catch { preconditionFailure("cannot encode \(T.self): \(error)") }
    }

    /// The hot path's types: the same JSON, written by hand (`JSONWriter`).
    @inlinable
    public static func bytes<T: JSONWritable>(_ value: T) -> [UInt8] { value.jsonBytes }
}
