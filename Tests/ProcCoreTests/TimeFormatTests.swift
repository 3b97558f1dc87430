import Glibc
import ProcCore
import Testing

@Suite struct TimeFormatTests {
    private func matchesFormat(_ text: String) -> Bool {
        text.wholeMatch(of: #/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z/#) != nil
    }

    /// The whole second of "YYYY-MM-DDTHH:MM:SS…".
    private func epochSeconds(_ text: String) -> Int? {
        parseRFC3339(String(text.prefix(19))).map { Int($0) }
    }

    @Test func parsingGivesBackTheMicroseconds() {
        #expect(parseRFC3339(rfc3339(1_700_000_000.25)) == 1_700_000_000.25)
        #expect(parseRFC3339("2023-11-14T22:13:20.000123Z").map { ($0 - 1_700_000_000) * 1e6 }.map { $0.rounded() } == 123)
        #expect(parseRFC3339("not a time") == nil)
    }

    @Test func epochIsFormattedExactly() {
        #expect(rfc3339(0) == "1970-01-01T00:00:00.000000Z")
        #expect(rfc3339(1_700_000_000.25) == "2023-11-14T22:13:20.250000Z")
    }

    @Test(arguments: [0.0, 1.5, 86_399.999999, 951_782_400.000123, 1_700_000_000.5, 4_102_444_800.75])
    func formatMatchesAndRoundTripsTheSecond(timestamp: Double) throws {
        let text = rfc3339(timestamp)
        #expect(matchesFormat(text), "\(text)")
        #expect(epochSeconds(text) == Int(timestamp.rounded(.down)))
    }

    @Test func currentTimeFormats() throws {
        let now = currentTimestamp()
        #expect(now > 1_600_000_000)
        let text = rfc3339(now)
        #expect(matchesFormat(text), "\(text)")
        let seconds = try #require(epochSeconds(text))
        #expect(seconds == Int(now.rounded(.down)))
    }

    /// The time of an event and the timestamps of its job's record say the same microsecond.
    @Test func aReadingsMicrosecondsAreItsOwn() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let micros = Int64.random(in: 1_700_000_000_000_000...1_900_000_000_000_000, using: &generator)
            let text = rfc3339(Double(micros) / 1e6)
            #expect(text.dropLast().suffix(6) == "\(1_000_000 + micros % 1_000_000)".suffix(6), "\(micros): \(text)")
            #expect(epochSeconds(text) == Int(micros / 1_000_000))
        }
    }

    @Test func microsecondsNeverOverflowIntoASeventhDigit() {
        let text = rfc3339(1_700_000_000.9999999)
        #expect(matchesFormat(text), "\(text)")
    }
}
