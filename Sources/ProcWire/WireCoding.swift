import Foundation

/// JSON on the wire, in one place: the generated readers and writers for every message, JSONEncoder for
/// anything else a program wants to print.
public enum WireCoding {
    /// A message read from its bytes; the error names the field that failed.
    @inlinable
    public static func decode<T: WireReadable>(_ type: T.Type, from bytes: [UInt8], strict: Bool = false) throws(WireError) -> T {
        try JSONReader.read(bytes, strict: strict) { (reader) throws(WireError) in try T(reader: &reader) }
    }

    /// `decode` for bytes in place.
    @inlinable
    public static func decode<T: WireReadable>(_ type: T.Type, from bytes: UnsafeRawBufferPointer) throws(WireError) -> T {
        try JSONReader.read(bytes) { (reader) throws(WireError) in try T(reader: &reader) }
    }

    /// A message's bytes, as the generated writer makes them.
    @inlinable
    public static func bytes<T: WireWritable>(_ value: T) -> [UInt8] { value.jsonBytes }

    /// Any Encodable value through JSONEncoder (slashes not escaped, as the writers do).
    public static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return Array(try encoder.encode(value))
    }
}

/// A coding key for messages without fields (`Empty`).
public struct WireCodingKey: CodingKey {
    public var stringValue: String
    public var intValue: Int? { nil }
    public init(stringValue: String) { self.stringValue = stringValue }
    public init?(intValue: Int) { nil }
}
