import ProcCore

/// An event's body as stored and as published. job.submitted and job.started carry the job's command;
/// the journal stores the command once, in the job's admission, so it stores these bodies without it and
/// puts it back (last, before the closing brace) in what is published and replayed: the two are the same
/// bytes either way.
enum EventBodies {
    /// The body to store, and the body to publish, of an event numbered and stamped.
    static func encode(_ event: Event) -> (stored: [UInt8], published: [UInt8]?) {
        guard let command = event.command else { return (event.jsonBytes, nil) }
        var stored = event
        stored.command = nil
        let body = stored.jsonBytes
        return (body, withCommand(body, command))
    }

    /// `stored` with `"command":[…]` before its closing brace.
    static func withCommand(_ stored: [UInt8], _ command: [String]) -> [UInt8] {
        var writer = JSONWriter(capacity: 16 * command.count + 16)
        writer.strings(command)
        var body = stored
        body.removeLast()  // "}"
        body.reserveCapacity(body.count + writer.bytes.count + 12)
        body.append(contentsOf: #","command":"#.utf8)
        body.append(contentsOf: writer.bytes)
        body.append(UInt8(ascii: "}"))
        return body
    }

    /// The job a stored body's command must be put back for: a job.submitted or job.started, as our writer
    /// lays it out (`{"seq":…,"time":"…","type":"…","job_id":"…",`). Nil for anything else.
    static func commandJob(_ stored: [UInt8]) -> JobID? {
        guard let type = field("type", in: stored, from: 0),
            type.value == Self.submitted || type.value == Self.started,
            let job = field("job_id", in: stored, from: type.end)
        else { return nil }
        return String(decoding: job.value, as: UTF8.self)
    }

    /// The type of a stored body, without decoding it: recovery skips job.submitted (it changes nothing
    /// an admission does not say) at a glance.
    static func isSubmitted(_ body: UnsafeRawBufferPointer) -> Bool {
        guard let type = field("type", in: body, from: 0) else { return false }
        return type.value.elementsEqual(submitted)
    }

    private static let submitted = Array(EventType.jobSubmitted.rawValue.utf8)
    private static let started = Array(EventType.jobStarted.rawValue.utf8)

    /// The plain string value of `"key":"…"` from `start` on (no escapes: types and job ids have none).
    private static func field<Bytes: RandomAccessCollection>(
        _ key: StaticString, in bytes: Bytes, from start: Int
    ) -> (value: [UInt8], end: Int)? where Bytes.Element == UInt8, Bytes.Index == Int {
        let pattern = Array("\"\(key)\":\"".utf8)
        guard bytes.count >= pattern.count else { return nil }
        var at = bytes.startIndex + start
        let last = bytes.endIndex - pattern.count
        // Within the head of the body only: these fields are among the first.
        let limit = min(last, bytes.startIndex + start + 96)
        while at <= limit {
            if bytes[at] == pattern[0], bytes[at..<(at + pattern.count)].elementsEqual(pattern) {
                let valueStart = at + pattern.count
                var end = valueStart
                while end < bytes.endIndex, bytes[end] != UInt8(ascii: "\"") {
                    if bytes[end] == UInt8(ascii: "\\") { return nil }
                    end += 1
                }
                guard end < bytes.endIndex else { return nil }
                return (Array(bytes[valueStart..<end]), end - bytes.startIndex)
            }
            at += 1
        }
        return nil
    }
}
