import Foundation
import Glibc




/// Now, in whole microseconds: the nearest double to the decimal `seconds.micros`, as a reader of the
/// six decimals would make it. A double near today's time holds steps of about 0.24 µs, so nanoseconds
/// only added digits; in microseconds a timestamp is written from its digits (`JSONWriter.double`)
/// instead of through `description`'s String, and reads back the same.
public func currentTimestamp() -> Timestamp {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Double(Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec / 1_000)) / 1e6
}

/// Seconds from `start` to `end`, in whole microseconds, as timestamps are: their difference as doubles
/// carries the two readings' rounding in its last digits ("0.006169795989990234").
public func duration(from start: Timestamp, to end: Timestamp) -> Double {
    ((end - start) * 1e6).rounded() / 1e6
}

/// RFC 3339 in UTC with microseconds: "2026-11-26T23:16:50.123456Z".
public func rfc3339(_ timestamp: Timestamp) -> String {
    // Rounded to the microsecond, not cut: a reading's double may lie just below its six decimals, and
    // cutting wrote one microsecond less than the reading's own digits.
    let total = (timestamp * 1_000_000).rounded()
    var seconds = time_t((total / 1_000_000).rounded(.down))
    let micros = Int(total - Double(seconds) * 1_000_000)
    var parts = tm()
    gmtime_r(&seconds, &parts)
    let year = Int(parts.tm_year) + 1900
    guard (0...9999).contains(year) else {
        // Outside four digits (never a clock reading): the plain way, with as many digits as it takes.
        func pad(_ value: Int, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(year, 4))-\(pad(Int(parts.tm_mon) + 1, 2))-\(pad(Int(parts.tm_mday), 2))T"
            + "\(pad(Int(parts.tm_hour), 2)):\(pad(Int(parts.tm_min), 2)):\(pad(Int(parts.tm_sec), 2)).\(pad(micros, 6))Z"
    }
    // Digits straight into the string's storage. The coordinator stamps one per batch of effects (under
    // load, one per result it receives), and padding with String(repeating:) and interpolation made seven
    // small strings each time.
    return String(unsafeUninitializedCapacity: 27) { bytes in
        var at = 0
        func digits(_ value: Int, _ width: Int) {
            var value = value
            for index in stride(from: at + width - 1, through: at, by: -1) {
                bytes[index] = UInt8(ascii: "0") + UInt8(value % 10)
                value /= 10
            }
            at += width
        }
        func mark(_ character: Unicode.Scalar) {
            bytes[at] = UInt8(ascii: character)
            at += 1
        }
        digits(year, 4); mark("-"); digits(Int(parts.tm_mon) + 1, 2); mark("-"); digits(Int(parts.tm_mday), 2)
        mark("T"); digits(Int(parts.tm_hour), 2); mark(":"); digits(Int(parts.tm_min), 2); mark(":")
        digits(Int(parts.tm_sec), 2); mark("."); digits(micros, 6); mark("Z")
        return at
    }
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
    let whole = Int64(timegm(&parts))
    guard let dot = text.firstIndex(of: "."), let zed = text.lastIndex(of: "Z"), dot < zed else { return Double(whole) }
    let digits = text[text.index(after: dot)..<zed]
    guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return Double(whole) }
    if digits.count <= 6, let micros = Int64(digits.padding(toLength: 6, withPad: "0", startingAt: 0)) {
        // As `currentTimestamp` makes a reading: the same double, not one a rounding away.
        return Double(whole * 1_000_000 + micros) / 1e6
    }
    return Double(whole) + (Double("0." + digits) ?? 0)
}
