import ProcWire

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
        out.append(.tooLong(Self.lossyPrefix(pending)))
        pending = []
        discarding = true
    }

    static func lossyPrefix(_ bytes: [UInt8]) -> String {
        String(decoding: bytes.prefix(invalidKeep), as: UTF8.self)
    }

    /// The messages of one line, read by the wire's reader (`ChannelLine`): progress (with its message) or
    /// a message alone, then a result; or a function host's end of a call (`done`, with its result or
    /// error). A line that is not such an object is `invalid`.
    static func parse(_ line: [UInt8]) -> [ChannelMessage] {
        // Blank lines (e.g. "\n\n" or a lone "\r") carry nothing; skip them rather than report them as invalid.
        if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { return [] }
        guard let parsed = try? WireCoding.decode(ChannelLine.self, from: line) else { return [.invalid(lossyPrefix(line))] }
        if parsed.done == true { return [parsed.error.map(ChannelMessage.thrown) ?? .done(parsed.result)] }
        var out: [ChannelMessage] = []
        if let progress = parsed.progress {
            out.append(.progress(progress, parsed.message))
        } else if let message = parsed.message {
            out.append(.message(message))
        }
        if let result = parsed.result { out.append(.result(result)) }
        return out.isEmpty ? [.invalid(lossyPrefix(line))] : out
    }
}
