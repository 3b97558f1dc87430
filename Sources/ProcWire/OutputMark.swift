/// The line a function host writes to its stdout and to its stderr when a call ends, after what the call
/// printed and before its `done` line (docs/contracts.md, "The function host protocol"). Calls written ahead
/// run back to back, and their output shares the two pipes: the marks say where one call's ends.
public enum OutputMark {
    /// ASCII record separators around a name, then a newline: no text a program prints by chance.
    public static let bytes: [UInt8] = Array("\u{1E}proc:call-end\u{1E}\n".utf8)
}

/// One of a marked host's output streams, split at its marks: the bytes before the current call's mark are
/// that call's; those after it (later calls' output, and their marks) wait until the next call begins.
/// A mark split between two reads is found all the same. Without a mark (a host that died in its call,
/// or one that does not mark), everything is the current call's.
public struct MarkedStream: Sendable {
    /// The current call's mark was read: what comes now is a later call's.
    public private(set) var sealed = false
    /// Read past the current call's mark.
    private var later: [UInt8] = []
    /// The end of the last read, which may be the start of a mark.
    private var partial: [UInt8] = []
    /// At most this much of later calls' output is kept (its front is dropped beyond it).
    private let limit: Int

    public init(limit: Int = 1 << 20) { self.limit = max(OutputMark.bytes.count, limit) }

    /// Bytes read from the stream: `current` gets what belongs to the current call.
    public mutating func feed(_ chunk: UnsafeRawBufferPointer, current: (UnsafeRawBufferPointer) -> Void) {
        if sealed { return keepLater(chunk) }
        if partial.isEmpty { return split(chunk, current: current) }
        let joined = partial + chunk
        partial = []
        joined.withUnsafeBytes { split($0, current: current) }
    }

    /// The next call begins: what was read past the mark is its output (up to its own mark, if read).
    public mutating func nextCall(current: (UnsafeRawBufferPointer) -> Void) {
        sealed = false
        let pending = later
        later = []
        pending.withUnsafeBytes { split($0, current: current) }
    }

    /// The call is over without more to read (the stream ended, or the call's end is decided): bytes held
    /// back as a possible mark's start are the current call's after all.
    public mutating func flush(current: (UnsafeRawBufferPointer) -> Void) {
        guard !sealed, !partial.isEmpty else { return }
        let held = partial
        partial = []
        held.withUnsafeBytes { current($0) }
    }

    private mutating func split(_ bytes: UnsafeRawBufferPointer, current: (UnsafeRawBufferPointer) -> Void) {
        let mark = OutputMark.bytes
        var index = 0
        while let start = bytes[index...].firstIndex(of: mark[0]) {
            let available = bytes.count - start
            let compared = min(available, mark.count)
            if zip(bytes[start..<(start + compared)], mark).allSatisfy({ $0 == $1 }) {
                if available < mark.count {  // the start of a mark at the end: wait for the rest
                    if start > 0 { current(UnsafeRawBufferPointer(rebasing: bytes[..<start])) }
                    partial = Array(bytes[start...])
                    return
                }
                if start > 0 { current(UnsafeRawBufferPointer(rebasing: bytes[..<start])) }
                sealed = true
                keepLater(UnsafeRawBufferPointer(rebasing: bytes[(start + mark.count)...]))
                return
            }
            index = start + 1
        }
        if !bytes.isEmpty { current(bytes) }
    }

    private mutating func keepLater(_ bytes: UnsafeRawBufferPointer) {
        later.append(contentsOf: bytes)
        if later.count > limit { later.removeFirst(later.count - limit) }
    }
}
