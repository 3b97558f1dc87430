/// Splits the fd-3 byte stream into lines and turns each line into `ChannelMessage`s.
struct ChannelLineSplitter {
    static let maxLine = 1 << 20
    static let invalidKeep = 1024

    private var pending: [UInt8] = []
    /// Set after an over-long line was reported; bytes are dropped until the next newline (resynchronisation).
    private var discarding = false

    mutating func feed(_ chunk: UnsafeRawBufferPointer, into out: inout [ChannelMessage]) {
        var start = 0
        while start < chunk.count {
            guard let nl = chunk[start...].firstIndex(of: 0x0A) else {
                append(UnsafeRawBufferPointer(rebasing: chunk[start...]), into: &out)
                return
            }
            append(UnsafeRawBufferPointer(rebasing: chunk[start..<nl]), into: &out)
            if !discarding { out += Self.parse(pending) }
            discarding = false
            pending.removeAll(keepingCapacity: pending.capacity <= 4096)
            start = nl + 1
        }
    }

    /// EOF or exit: a final line without a trailing newline still counts.
    mutating func finish(into out: inout [ChannelMessage]) {
        if !discarding && !pending.isEmpty { out += Self.parse(pending) }
        pending = []
        discarding = false
    }

    private mutating func append(_ bytes: UnsafeRawBufferPointer, into out: inout [ChannelMessage]) {
        if discarding { return }
        if pending.count + bytes.count <= Self.maxLine {
            pending.append(contentsOf: bytes)
            return
        }
        pending.append(contentsOf: bytes.prefix(max(0, Self.invalidKeep - pending.count)))
        out.append(.invalid(Self.lossyPrefix(pending)))
        pending = []
        discarding = true
    }

    static func lossyPrefix(_ bytes: [UInt8]) -> String {
        String(decoding: bytes.prefix(invalidKeep), as: UTF8.self)
    }

    static func parse(_ line: [UInt8]) -> [ChannelMessage] {
        // Blank lines (e.g. "\n\n" or a lone "\r") carry nothing; skip them rather than report them as invalid.
        if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { return [] }
        return ChannelJSON.messages(line) ?? [.invalid(lossyPrefix(line))]
    }
}

/// A minimal validating JSON scanner (RFC 8259 grammar) for one channel line. Hand-rolled rather than
/// JSONSerialization so the "result" value is passed on byte-for-byte as the job wrote it (no number
/// reformatting, key reordering or NSNumber/Bool confusion) and ProcAgent does not need Foundation.
struct ChannelJSON {
    private enum Kind { case string, number, other }
    private static let maxDepth = 256

    private let b: [UInt8]
    private var i = 0
    private var depth = 0

    private init(_ bytes: [UInt8]) { b = bytes }

    /// The messages carried by a line that is a JSON object, or nil if it is not one or has no known key.
    /// Order: progress (if a "progress" key exists, with "message" folded in) or message, then result.
    static func messages(_ line: [UInt8]) -> [ChannelMessage]? {
        var s = ChannelJSON(line)
        var progress: Double?, hasProgress = false, message: String?, result: Range<Int>?
        s.space()
        guard s.eat("{") else { return nil }
        s.space()
        if !s.eat("}") {
            repeat {
                s.space()
                guard let key = s.string(decode: true) else { return nil }
                s.space()
                guard s.eat(":") else { return nil }
                s.space()
                let start = s.i
                guard let kind = s.value() else { return nil }
                let range = start..<s.i
                switch key {  // duplicate keys: the last one wins, like most parsers
                case "progress":
                    hasProgress = true
                    progress = kind == .number ? Double(String(decoding: line[range], as: UTF8.self)) : nil
                case "message":
                    var m = ChannelJSON(Array(line[range]))
                    message = kind == .string ? m.string(decode: true) : nil
                case "result":
                    result = range
                default:
                    break
                }
                s.space()
            } while s.eat(",")
            guard s.eat("}") else { return nil }
        }
        s.space()
        guard s.i == line.count else { return nil }

        var out: [ChannelMessage] = []
        if hasProgress {
            out.append(.progress(progress, message))
        } else if let message {
            out.append(.message(message))
        }
        if let result { out.append(.result(String(decoding: line[result], as: UTF8.self))) }
        return out.isEmpty ? nil : out
    }

    private var peek: UInt8? { i < b.count ? b[i] : nil }

    private mutating func eat(_ c: Unicode.Scalar) -> Bool {
        guard peek == UInt8(ascii: c) else { return false }
        i += 1
        return true
    }

    private mutating func space() {
        while let c = peek, c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D { i += 1 }
    }

    private mutating func literal(_ word: StaticString) -> Bool {
        let w = UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)
        guard b.count - i >= w.count, b[i..<i + w.count].elementsEqual(w) else { return false }
        i += w.count
        return true
    }

    private mutating func value() -> Kind? {
        guard let c = peek else { return nil }
        switch Unicode.Scalar(c) {
        case "\"": return string(decode: false) != nil ? .string : nil
        case "t": return literal("true") ? .other : nil
        case "f": return literal("false") ? .other : nil
        case "n": return literal("null") ? .other : nil
        case "{", "[":
            let isObject = c == UInt8(ascii: "{")
            depth += 1
            defer { depth -= 1 }
            guard depth <= Self.maxDepth else { return nil }  // bounded recursion on hostile input
            i += 1
            space()
            if eat(isObject ? "}" : "]") { return .other }
            repeat {
                space()
                if isObject {
                    guard string(decode: false) != nil else { return nil }
                    space()
                    guard eat(":") else { return nil }
                    space()
                }
                guard value() != nil else { return nil }
                space()
            } while eat(",")
            return eat(isObject ? "}" : "]") ? .other : nil
        default:
            return number() ? .number : nil
        }
    }

    private mutating func digits() -> Bool {
        let start = i
        while let c = peek, c >= 0x30 && c <= 0x39 { i += 1 }
        return i > start
    }

    private mutating func number() -> Bool {
        _ = eat("-")
        if !eat("0") {
            guard let c = peek, c >= 0x31 && c <= 0x39 else { return false }
            _ = digits()
        }
        if eat("."), !digits() { return false }
        if eat("e") || eat("E") {
            _ = eat("+") || eat("-")
            guard digits() else { return false }
        }
        return true
    }

    private mutating func hex4() -> UInt32? {
        guard b.count - i >= 4 else { return nil }
        var v: UInt32 = 0
        for _ in 0..<4 {
            guard let d = Int(String(Unicode.Scalar(b[i])), radix: 16) else { return nil }
            v = v << 4 | UInt32(d)
            i += 1
        }
        return v
    }

    /// Scans a string literal; with `decode`, returns its value (lone surrogates become U+FFFD).
    private mutating func string(decode: Bool) -> String? {
        guard eat("\"") else { return nil }
        var out: [UInt8] = []
        while let c = peek {
            i += 1
            switch c {
            case 0x22:
                return decode ? String(decoding: out, as: UTF8.self) : ""
            case 0x00..<0x20:
                return nil
            case 0x5C:
                guard let e = peek else { return nil }
                i += 1
                switch Unicode.Scalar(e) {
                case "\"", "\\", "/": out.append(e)
                case "b": out.append(0x08)
                case "f": out.append(0x0C)
                case "n": out.append(0x0A)
                case "r": out.append(0x0D)
                case "t": out.append(0x09)
                case "u":
                    guard var u = hex4() else { return nil }
                    if (0xD800..<0xDC00).contains(u), b.count - i >= 6, b[i] == 0x5C, b[i + 1] == UInt8(ascii: "u") {
                        let saved = i
                        i += 2
                        if let lo = hex4(), (0xDC00..<0xE000).contains(lo) {
                            u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00)
                        } else {
                            i = saved  // not a low surrogate: scan that escape on its own
                        }
                    }
                    if decode { UTF8.encode(Unicode.Scalar(u) ?? "\u{FFFD}") { out.append($0) } }
                default:
                    return nil
                }
            default:
                if decode { out.append(c) }
            }
        }
        return nil
    }
}
