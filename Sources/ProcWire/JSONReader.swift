/// Reads JSON straight from bytes into the wire's types: a pull parser, one pass, no intermediate tree.
/// The generated readers (`Generated/`) drive it field by field; the fd 3 channel is read with it too.
///
/// Strict about shape: a wrong type, a null where a value is needed, a fraction where an integer is
/// needed, invalid UTF-8 or nesting past 512 levels throw a `WireError` that says what was expected and
/// what was found; the generated code adds the field's path. Unknown keys are skipped, or with `strict`
/// (user input: batch lines) refused with the nearest known key.
public struct JSONReader {
    private let bytes: UnsafeBufferPointer<UInt8>
    @usableFromInline var index = 0
    /// Nesting of `json()`: bounded, so hostile input ("[[[[…") cannot exhaust the stack.
    private var depth = 0
    static let maxDepth = 512
    /// Unknown keys are errors instead of being skipped.
    public let strict: Bool

    public init(_ bytes: UnsafeBufferPointer<UInt8>, strict: Bool = false) {
        self.bytes = bytes
        self.strict = strict
    }

    /// Decodes `bytes` with `body`, which must consume the whole document. Inlinable so that callers in
    /// other modules get it specialized (unspecialized, generic lookups cost as much as the parse).
    @inlinable
    public static func read<T>(
        _ bytes: [UInt8], strict: Bool = false, _ body: (inout JSONReader) throws(WireError) -> T
    ) throws(WireError) -> T {
        try bytes.withUnsafeBufferPointer { (buffer) throws(WireError) -> T in
            var reader = JSONReader(buffer, strict: strict)
            let value = try body(&reader)
            try reader.end()
            return value
        }
    }

    /// `read` for bytes in place (a line of a journal chunk): no copy first.
    @inlinable
    public static func read<T>(
        _ bytes: UnsafeRawBufferPointer, strict: Bool = false, _ body: (inout JSONReader) throws(WireError) -> T
    ) throws(WireError) -> T {
        var reader = JSONReader(bytes.assumingMemoryBound(to: UInt8.self), strict: strict)
        let value = try body(&reader)
        try reader.end()
        return value
    }

    /// Only whitespace may follow the document.
    @usableFromInline mutating func end() throws(WireError) {
        skipWhitespace()
        guard index == bytes.count else { throw WireError("unexpected \(found()) after the end of the JSON value") }
    }

    @usableFromInline mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    private mutating func peek() throws(WireError) -> UInt8 {
        skipWhitespace()
        guard index < bytes.count else { throw WireError("unexpected end of the message") }
        return bytes[index]
    }

    /// What the next value is, in words ("a string", "the end of the message").
    private func found() -> String {
        var at = index
        while at < bytes.count, [0x20, 0x0A, 0x0D, 0x09].contains(bytes[at]) { at += 1 }
        guard at < bytes.count else { return "the end of the message" }
        switch bytes[at] {
        case UInt8(ascii: "\""): return "a string"
        case UInt8(ascii: "{"): return "an object"
        case UInt8(ascii: "["): return "an array"
        case UInt8(ascii: "t"), UInt8(ascii: "f"): return "a boolean"
        case UInt8(ascii: "n"): return "null"
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return "a number"
        default: return "'\(Unicode.Scalar(bytes[at]).escaped(asASCII: true))' (not JSON)"
        }
    }

    private func expected(_ what: String) -> WireError { WireError("expected \(what), found \(found())") }

    private mutating func expect(_ byte: UInt8, _ what: String) throws(WireError) {
        guard try peek() == byte else { throw expected(what) }
        index += 1
    }

    private mutating func literal(_ text: StaticString) throws(WireError) {
        let count = text.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw WireError("unexpected end of the message") }
        for offset in 0..<count where bytes[index + offset] != text.utf8Start[offset] {
            throw WireError("not valid JSON at byte \(index)")
        }
        index += count
    }

    public mutating func peekIsArray() throws(WireError) -> Bool {
        try peek() == UInt8(ascii: "[")
    }

    /// True (and consumed) when the next value is `null`.
    public mutating func readNull() throws(WireError) -> Bool {
        guard try peek() == UInt8(ascii: "n") else { return false }
        try literal("null")
        return true
    }

    // MARK: objects and arrays

    /// Calls `body` with each key of an object, as the bytes between its quotes (`JSONKey`), matched
    /// against field names without a String made of it; `body` must read (or `skip`) the value.
    public mutating func fields(_ body: (inout JSONReader, JSONKey) throws(WireError) -> Void) throws(WireError) {
        try expect(UInt8(ascii: "{"), "an object")
        if try peek() == UInt8(ascii: "}") {
            index += 1
            return
        }
        while true {
            let key = try key()
            try expect(UInt8(ascii: ":"), "':' after a key")
            try body(&self, key)
            switch try peek() {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"):
                index += 1
                return
            default: throw expected("',' or '}' after a member")
            }
        }
    }

    /// A key of printable ASCII without escapes as its bytes; any other as a String (`string`, which
    /// also refuses invalid UTF-8).
    private mutating func key() throws(WireError) -> JSONKey {
        try expect(UInt8(ascii: "\""), "a key (a string)")
        let start = index
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                index += 1
                return JSONKey(ascii: UnsafeBufferPointer(rebasing: bytes[start..<index - 1]))
            }
            guard byte >= 0x20, byte < 0x80, byte != UInt8(ascii: "\\") else { break }
            index += 1
        }
        index = start - 1
        return JSONKey(decoded: try string())
    }

    /// A key no field of the message has: skipped (a newer peer's field), or refused when `strict`.
    public mutating func unknown(_ key: JSONKey, known: [String]) throws(WireError) {
        guard strict else { return try skip() }
        let name = key.string
        throw WireError("unknown key '\(name)'\(didYouMean(name, in: known)) (keys: \(known.joined(separator: ", ")))")
    }

    /// Calls `body` for each element of an array; `body` must read the element. An error names the element.
    public mutating func array(_ body: (inout JSONReader) throws(WireError) -> Void) throws(WireError) {
        try expect(UInt8(ascii: "["), "an array")
        if try peek() == UInt8(ascii: "]") {
            index += 1
            return
        }
        var position = 0
        while true {
            do throws(WireError) { try body(&self) } catch { throw error.at(index: position) }
            position += 1
            switch try peek() {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"):
                index += 1
                return
            default: throw expected("',' or ']' after an element")
            }
        }
    }

    /// An array whose elements `element` reads.
    public mutating func elements<T>(_ element: (inout JSONReader) throws(WireError) -> T) throws(WireError) -> [T] {
        var values: [T] = []
        try array { (reader) throws(WireError) in values.append(try element(&reader)) }
        return values
    }

    /// An object whose values `value` reads, as a dictionary. An error names the key.
    public mutating func map<T>(_ value: (inout JSONReader) throws(WireError) -> T) throws(WireError) -> [String: T] {
        var values: [String: T] = [:]
        try fields { (reader, key) throws(WireError) in
            let name = key.string
            do throws(WireError) { values[name] = try value(&reader) } catch { throw error.at(name) }
        }
        return values
    }

    public mutating func strings() throws(WireError) -> [String] {
        try elements { (reader) throws(WireError) in try reader.string() }
    }

    public mutating func stringMap() throws(WireError) -> [String: String] {
        try map { (reader) throws(WireError) in try reader.string() }
    }

    // MARK: scalars

    public mutating func string() throws(WireError) -> String {
        try expect(UInt8(ascii: "\""), "a string")
        let start = index
        // The common case: no escapes.
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
                index += 1
                // `String(decoding:)` repairs invalid UTF-8 (its byte count then changes): refuse it instead.
                guard text.utf8.count == index - 1 - start else { throw WireError("invalid UTF-8 in a string") }
                return text
            }
            if byte == UInt8(ascii: "\\") || byte < 0x20 { break }
            index += 1
        }
        index = start
        var utf8: [UInt8] = []
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                let text = String(decoding: utf8, as: UTF8.self)
                guard text.utf8.count == utf8.count else { throw WireError("invalid UTF-8 in a string") }
                return text
            case UInt8(ascii: "\\"):
                guard index < bytes.count else { throw WireError("unexpected end of the message in a string") }
                let escaped = bytes[index]
                index += 1
                switch escaped {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(escaped)
                case UInt8(ascii: "n"): utf8.append(0x0A)
                case UInt8(ascii: "r"): utf8.append(0x0D)
                case UInt8(ascii: "t"): utf8.append(0x09)
                case UInt8(ascii: "b"): utf8.append(0x08)
                case UInt8(ascii: "f"): utf8.append(0x0C)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800..<0xDC00).contains(scalar) {
                        // A surrogate pair: the low half must follow.
                        guard index + 2 <= bytes.count, bytes[index] == UInt8(ascii: "\\"),
                            bytes[index + 1] == UInt8(ascii: "u")
                        else { throw WireError("a lone surrogate in a string") }
                        index += 2
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw WireError("a lone surrogate in a string") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let unicode = Unicode.Scalar(scalar) else { throw WireError("a lone surrogate in a string") }
                    utf8.append(contentsOf: String(Character(unicode)).utf8)
                default: throw WireError("an invalid escape in a string")
                }
            default:
                guard byte >= 0x20 else { throw WireError("a control character in a string (escape it)") }
                utf8.append(byte)
            }
        }
        throw WireError("unexpected end of the message in a string")
    }

    private mutating func hex4() throws(WireError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw WireError("unexpected end of the message in a string") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            index += 1
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw WireError("an invalid \\u escape in a string")
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }

    /// The text of a number (JSON's grammar: `-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?`), and whether
    /// it is an integer (no fraction, no exponent).
    private mutating func numberText(_ what: String) throws(WireError) -> (String, Bool) {
        let first = try peek()
        guard first == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else {
            throw expected(what)
        }
        let start = index
        func digits() throws(WireError) {
            let first = index
            while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") { index += 1 }
            guard index > first else { throw WireError("not valid JSON: a number without digits at byte \(first)") }
        }
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count else { throw WireError("unexpected end of the message in a number") }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
            if index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
                throw WireError("a number with a leading zero is not JSON")
            }
        } else {
            try digits()
        }
        var integer = true
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            integer = false
            index += 1
            try digits()
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            integer = false
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            try digits()
        }
        return (String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self), integer)
    }

    public mutating func int64() throws(WireError) -> Int64 {
        _ = try peek()
        // Fast: a short plain integer.
        var value: Int64 = 0
        var negative = false
        var position = index
        if position < bytes.count, bytes[position] == UInt8(ascii: "-") {
            negative = true
            position += 1
        }
        let digitsStart = position
        while position < bytes.count, position - digitsStart < 18,
            case let byte = bytes[position], byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9")
        {
            value = value * 10 + Int64(byte - UInt8(ascii: "0"))
            position += 1
        }
        let digits = position - digitsStart
        let next = position < bytes.count ? bytes[position] : 0x20
        let ends = !(next >= UInt8(ascii: "0") && next <= UInt8(ascii: "9")) && next != UInt8(ascii: ".")
            && next != UInt8(ascii: "e") && next != UInt8(ascii: "E")
        // JSON has no leading zeros ("01").
        if digits > 0, ends, !(digits > 1 && bytes[digitsStart] == UInt8(ascii: "0")) {
            index = position
            return negative ? -value : value
        }
        let (text, integer) = try numberText("an integer")
        guard integer else { throw WireError("expected an integer, found \(text)") }
        guard let parsed = Int64(text) else { throw WireError("\(text) is out of range for an integer") }
        return parsed
    }

    public mutating func int() throws(WireError) -> Int {
        Int(try int64())
    }

    public mutating func int32() throws(WireError) -> Int32 {
        let value = try int64()
        guard let exact = Int32(exactly: value) else { throw WireError("\(value) is out of range (32 bits)") }
        return exact
    }

    public mutating func uint64() throws(WireError) -> UInt64 {
        guard try peek() != UInt8(ascii: "-") else { throw WireError("expected an integer of 0 or more, found a negative number") }
        let (text, integer) = try numberText("an integer")
        guard integer else { throw WireError("expected an integer, found \(text)") }
        guard let value = UInt64(text) else { throw WireError("\(text) is out of range for an integer") }
        return value
    }

    public mutating func double() throws(WireError) -> Double {
        let (text, _) = try numberText("a number")
        guard let value = Double(text), value.isFinite else { throw WireError("\(text) is out of range for a number") }
        return value
    }

    public mutating func bool() throws(WireError) -> Bool {
        switch try peek() {
        case UInt8(ascii: "t"):
            try literal("true")
            return true
        case UInt8(ascii: "f"):
            try literal("false")
            return false
        default: throw expected("true or false")
        }
    }

    /// Any value.
    public mutating func json() throws(WireError) -> JSONValue {
        switch try peek() {
        case UInt8(ascii: "n"):
            try literal("null")
            return .null
        case UInt8(ascii: "t"), UInt8(ascii: "f"): return .bool(try bool())
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "["):
            guard depth < Self.maxDepth else { throw WireError("nested more than \(Self.maxDepth) levels deep") }
            depth += 1
            defer { depth -= 1 }
            return .array(try elements { (reader) throws(WireError) in try reader.json() })
        case UInt8(ascii: "{"):
            guard depth < Self.maxDepth else { throw WireError("nested more than \(Self.maxDepth) levels deep") }
            depth += 1
            defer { depth -= 1 }
            var members: [String: JSONValue] = [:]
            try fields { (reader, key) throws(WireError) in
                let name = key.string
                do throws(WireError) { members[name] = try reader.json() } catch { throw error.at(name) }
            }
            return .object(members)
        default:
            let (text, integer) = try numberText("a JSON value")
            if integer, let value = Int64(text) { return .int(value) }
            guard let value = Double(text), value.isFinite else { throw WireError("\(text) is out of range for a number") }
            // As JSONDecoder reads `JSONValue`: a number that is an exact Int64 ("1.0", "1e3") is an int.
            if let exact = Int64(exactly: value) { return .int(exact) }
            return .double(value)
        }
    }

    /// Skips a value of any kind (a key this version does not know).
    public mutating func skip() throws(WireError) {
        _ = try json()
    }

    /// A string that must be one of `T`'s raw values (a status, a reason, an event type).
    public mutating func rawValue<T: RawRepresentable & CaseIterable>(_ type: T.Type = T.self) throws(WireError) -> T
    where T.RawValue == String {
        let text = try string()
        guard let value = T(rawValue: text) else {
            let known = T.allCases.map(\.rawValue)
            throw WireError("'\(text)' is not one of \(known.joined(separator: ", "))\(didYouMean(text, in: known))")
        }
        return value
    }
}

/// A type read by `JSONReader` (every generated message).
public protocol WireReadable {
    init(reader: inout JSONReader) throws(WireError)
}

/// An object's key while `JSONReader.fields` reads its value: its bytes in the document (valid only
/// then), or, for a key with escapes or beyond ASCII, the String they decode to. Matched by
/// `case "name":` (`~=`), byte for byte.
public struct JSONKey {
    private let ascii: UnsafeBufferPointer<UInt8>?
    private let decoded: String?

    init(ascii: UnsafeBufferPointer<UInt8>) {
        self.ascii = ascii
        decoded = nil
    }

    init(decoded: String) {
        ascii = nil
        self.decoded = decoded
    }

    public var string: String { decoded ?? String(decoding: ascii!, as: UTF8.self) }

    public func matches(_ name: String) -> Bool {
        guard let ascii else { return decoded == name }
        var name = name
        return name.withUTF8 { $0.elementsEqual(ascii) }
    }

    public static func ~= (name: StaticString, key: JSONKey) -> Bool {
        // A one-character literal may be held as a scalar, without bytes to point at.
        guard let ascii = key.ascii, name.hasPointerRepresentation else { return key.string == name.description }
        return name.utf8CodeUnitCount == ascii.count
            && UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount).elementsEqual(ascii)
    }
}
