/// Writes JSON straight into a byte buffer: what the generated writers (`Generated/`) call. Foundation's
/// `JSONEncoder` goes through Codable's keyed containers, boxes and generic metadata for every field; per
/// job that came to about a quarter of the coordinator's CPU.
///
/// The output is the JSON `JSONEncoder` writes for the same value (same keys, absent optionals left out,
/// slashes not escaped, integral numbers as integers), so either side may decode it with `JSONDecoder`;
/// a test checks each type against Codable.
public struct JSONWriter {
    public private(set) var bytes: [UInt8] = []
    /// No member written yet in the current object or array (or a key was just written).
    private var first = true

    public init(capacity: Int = 256) {
        bytes.reserveCapacity(capacity)
    }

    private mutating func separator() {
        if !first { bytes.append(UInt8(ascii: ",")) }
        first = false
    }

    public mutating func beginObject() {
        separator()
        bytes.append(UInt8(ascii: "{"))
        first = true
    }

    public mutating func endObject() {
        bytes.append(UInt8(ascii: "}"))
        first = false
    }

    public mutating func beginArray() {
        separator()
        bytes.append(UInt8(ascii: "["))
        first = true
    }

    public mutating func endArray() {
        bytes.append(UInt8(ascii: "]"))
        first = false
    }

    /// A key of the current object (ours are plain ASCII, never escaped).
    public mutating func key(_ key: StaticString) {
        separator()
        bytes.append(UInt8(ascii: "\""))
        raw(key)
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
        first = true
    }

    public mutating func string(_ value: String) {
        separator()
        bytes.append(UInt8(ascii: "\""))
        var value = value
        value.withUTF8 { utf8 in
            var start = 0
            for index in 0..<utf8.count {
                let byte = utf8[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<index]))
                start = index + 1
                bytes.append(UInt8(ascii: "\\"))
                switch byte {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): bytes.append(byte)
                case 0x0A: bytes.append(UInt8(ascii: "n"))
                case 0x0D: bytes.append(UInt8(ascii: "r"))
                case 0x09: bytes.append(UInt8(ascii: "t"))
                case 0x08: bytes.append(UInt8(ascii: "b"))
                case 0x0C: bytes.append(UInt8(ascii: "f"))
                default:
                    let hex: [UInt8] = Array("0123456789abcdef".utf8)
                    bytes.append(contentsOf: [UInt8(ascii: "u"), 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
                }
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start...]))
        }
        bytes.append(UInt8(ascii: "\""))
    }

    public mutating func int<T: BinaryInteger>(_ value: T) {
        separator()
        if let value = Int64(exactly: value) {
            if value < 0 { bytes.append(UInt8(ascii: "-")) }
            digits(value.magnitude)
        } else {
            bytes.append(contentsOf: String(value).utf8)
        }
    }

    /// Integral values as integers ("3", as `JSONEncoder` writes them); NaN and infinities, which JSON
    /// cannot carry, as null.
    public mutating func double(_ value: Double) {
        guard value.isFinite else { return null() }
        if value.rounded() == value && abs(value) < 9.0e15 {
            int(Int64(value))
        } else if let micros = Self.exactMicroseconds(value) {
            // Timestamps and durations: written without `description`'s String, which is on the heap
            // once longer than 15 bytes (five of them a job).
            separator()
            if micros < 0 { bytes.append(UInt8(ascii: "-")) }
            digits(micros.magnitude / 1_000_000)
            bytes.append(UInt8(ascii: "."))
            var fraction = micros.magnitude % 1_000_000
            var width = 6
            while width > 1, fraction % 10 == 0 {
                fraction /= 10
                width -= 1
            }
            digits(fraction, width: width)
        } else {
            separator()
            bytes.append(contentsOf: value.description.utf8)
        }
    }

    /// `value` as a whole number of microseconds, when that is exact and its six decimals are the
    /// shortest that read back as `value`, which is what `description` writes: the decimal n / 10⁶ reads
    /// back as the double nearest to it, which is `Double(n) / 1e6` (IEEE division rounds correctly), and
    /// below 2³³ doubles are closer together than 10⁻⁶, so no shorter decimal reads back as `value`. From
    /// 10⁻⁴ up, where `description` writes no exponent. Not for integral values.
    static func exactMicroseconds(_ value: Double) -> Int64? {
        let magnitude = abs(value)
        guard magnitude >= 1e-4, magnitude < 8_589_934_592 else { return nil }
        let micros = (value * 1e6).rounded()
        guard micros / 1e6 == value else { return nil }
        return Int64(micros)
    }

    /// The decimal digits of `value`, at least `width` of them (zeros in front).
    private mutating func digits(_ value: UInt64, width: Int = 1) {
        var buffer: (UInt64, UInt64, UInt64) = (0, 0, 0)  // room for 24 digits; UInt64 has at most 20
        withUnsafeMutableBytes(of: &buffer) { raw in
            var index = raw.count
            var rest = value
            repeat {
                index -= 1
                raw[index] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
            } while rest > 0 || raw.count - index < width
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[index...]))
        }
    }

    public mutating func bool(_ value: Bool) {
        separator()
        raw(value ? "true" : "false")
    }

    public mutating func null() {
        separator()
        raw("null")
    }

    /// A literal's bytes as they are (no allocation, unlike `Array("true".utf8)`).
    private mutating func raw(_ literal: StaticString) {
        literal.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// A key that is not a literal (a map's own keys), escaped like any string.
    public mutating func memberKey(_ text: String) {
        string(text)
        bytes.append(UInt8(ascii: ":"))
        first = true
    }

    public mutating func strings(_ values: [String]) {
        beginArray()
        for value in values { string(value) }
        endArray()
    }

    /// A string map, keys sorted (so the same map always writes the same bytes).
    public mutating func stringMap(_ values: [String: String]) {
        beginObject()
        for key in values.keys.sorted() {
            memberKey(key)
            string(values[key]!)
        }
        endObject()
    }

    public mutating func json(_ value: JSONValue) {
        switch value {
        case .null: null()
        case .bool(let value): bool(value)
        case .int(let value): int(value)
        case .double(let value): double(value)
        case .string(let value): string(value)
        case .array(let values):
            beginArray()
            for value in values { json(value) }
            endArray()
        case .object(let members):
            beginObject()
            for key in members.keys.sorted() {
                memberKey(key)
                json(members[key]!)
            }
            endObject()
        }
    }
}

/// A type written by `JSONWriter` (every generated message): the same JSON as its `Encodable` form.
public protocol WireWritable {
    func write(to writer: inout JSONWriter)
}

extension WireWritable {
    @inlinable
    public var jsonBytes: [UInt8] {
        var writer = JSONWriter()
        write(to: &writer)
        return writer.bytes
    }
}
