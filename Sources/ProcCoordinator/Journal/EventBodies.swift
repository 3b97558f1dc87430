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
        stored.withUnsafeBytes { body -> JobID? in
            guard let type = value(after: typeKey, in: body, from: 0) else { return nil }
            let name = UnsafeRawBufferPointer(rebasing: body[type])
            guard name.elementsEqual(submitted) || name.elementsEqual(started),
                let job = value(after: jobKey, in: body, from: type.upperBound)
            else { return nil }
            return String(decoding: UnsafeRawBufferPointer(rebasing: body[job]), as: UTF8.self)
        }
    }

    /// Whether a stored body is a job.submitted, without decoding it: recovery skips those (they change
    /// nothing an admission does not say) at a glance.
    static func isSubmitted(_ body: UnsafeRawBufferPointer) -> Bool {
        guard let type = value(after: typeKey, in: body, from: 0) else { return false }
        return UnsafeRawBufferPointer(rebasing: body[type]).elementsEqual(submitted)
    }

    private static let submitted = Array(EventType.jobSubmitted.rawValue.utf8)
    private static let started = Array(EventType.jobStarted.rawValue.utf8)
    private static let typeKey = Array(#""type":""#.utf8)
    private static let jobKey = Array(#""job_id":""#.utf8)

    /// Where the plain string value of `"key":"…"` is, looked for from `start` on within the head of the
    /// body, where our writer puts these fields (no escapes: types and job ids have none).
    private static func value(after key: [UInt8], in bytes: UnsafeRawBufferPointer, from start: Int) -> Range<Int>? {
        let limit = min(bytes.count - key.count, start + 96)
        var at = start
        while at <= limit {
            if bytes[at] == key[0], UnsafeRawBufferPointer(rebasing: bytes[at..<(at + key.count)]).elementsEqual(key) {
                let valueStart = at + key.count
                var end = valueStart
                while end < bytes.count, bytes[end] != UInt8(ascii: "\""), bytes[end] != UInt8(ascii: "\\") { end += 1 }
                guard end < bytes.count, bytes[end] == UInt8(ascii: "\"") else { return nil }
                return valueStart..<end
            }
            at += 1
        }
        return nil
    }
}
