import Glibc

/// Wall-clock time as seconds since the Unix epoch.
public typealias Timestamp = Double

public func currentTimestamp() -> Timestamp {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

/// RFC 3339 in UTC with microseconds: "2026-11-26T23:16:50.123456Z".
public func rfc3339(_ timestamp: Timestamp) -> String {
    var seconds = time_t(timestamp.rounded(.down))
    var micros = Int((timestamp - Double(seconds)) * 1_000_000)
    if micros >= 1_000_000 { micros = 999_999 }
    var parts = tm()
    gmtime_r(&seconds, &parts)
    func pad(_ value: Int32, _ width: Int) -> String {
        let text = String(value)
        return String(repeating: "0", count: max(0, width - text.count)) + text
    }
    return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
        + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(micros), 6))Z"
}

/// The inverse of `rfc3339`: "2026-11-26T23:16:50.123456Z" → seconds since the epoch (nil if malformed).
public func parseRFC3339(_ text: String) -> Timestamp? {
    let fields = text.prefix(19).split(whereSeparator: { "-T:".contains($0) }).compactMap { Int32($0) }
    guard fields.count == 6 else { return nil }
    var parts = tm()
    parts.tm_year = fields[0] - 1900
    parts.tm_mon = fields[1] - 1
    parts.tm_mday = fields[2]
    parts.tm_hour = fields[3]
    parts.tm_min = fields[4]
    parts.tm_sec = fields[5]
    let whole = Double(timegm(&parts))
    guard let dot = text.firstIndex(of: "."), let zed = text.lastIndex(of: "Z"), dot < zed,
        let fraction = Double("0" + text[dot..<zed])
    else { return whole }
    return whole + fraction
}
