import ProcWire
import Testing

/// The one range check every number from outside goes through (issue 21).
@Suite struct BoundsTests {
    let seconds = Bound(0.0...86_400, unit: "seconds")
    let positive = Bound(0.01...3_600, unit: "seconds")
    let count = Bound(1...10_000)

    @Test(arguments: [Double.nan, -Double.nan, .infinity, -.infinity, .signalingNaN])
    func notANumberIsRefused(_ value: Double) {
        #expect(throws: BoundProblem.self) { try seconds.check(value, "--grace") }
        #expect(throws: BoundProblem.self) { try seconds.milliseconds(value, "--grace") }
    }

    @Test(arguments: [1e30, 86_400.001, .greatestFiniteMagnitude, -1, -1e-300, -.greatestFiniteMagnitude])
    func outOfRangeIsRefused(_ value: Double) {
        #expect(throws: BoundProblem.self) { try seconds.check(value, "--grace") }
    }

    @Test func theMessageNamesTheValueAndWhatIsAllowed() throws {
        let nan = #expect(throws: BoundProblem.self) { try seconds.check(.nan, "--kill-grace") }
        #expect(nan?.description == "--kill-grace must be a finite number, between 0 and 86400 seconds; got nan")
        let huge = #expect(throws: BoundProblem.self) { try positive.check(1e30, "--request-timeout") }
        #expect(huge?.description == "--request-timeout must be between 0.01 and 3600 seconds; got 1e+30")
        let negative = #expect(throws: BoundProblem.self) { try count.check(-1, "--slots") }
        #expect(negative?.description == "--slots must be between 1 and 10000; got -1")
        let unbounded = #expect(throws: BoundProblem.self) { try Bound(1...Int.max).check(0, "--count") }
        #expect(unbounded?.description == "--count must be at least 1; got 0")
    }

    @Test func zeroOfEitherSignIsZero() throws {
        #expect(try seconds.check(0, "x") == 0)
        let negativeZero = try seconds.check(-0.0, "x")
        #expect(negativeZero == 0 && negativeZero.sign == .plus)
        #expect(throws: BoundProblem.self) { try positive.check(-0.0, "x") }
    }

    @Test func valuesInRangePassAndConvertExactly() throws {
        #expect(try seconds.check(86_400, "x") == 86_400)
        #expect(try seconds.milliseconds(0.0015, "x") == 2)
        #expect(try seconds.milliseconds(86_400, "x") == 86_400_000)
        #expect(try count.check(10_000, "x") == 10_000)
    }

    @Test func widerIntegersNeverTrap() throws {
        #expect(throws: BoundProblem.self) { try count.check(converting: Int64.max, "slots") }
        #expect(throws: BoundProblem.self) { try Bound<Int32>(0...10).check(converting: UInt64.max, "x") }
        #expect(throws: BoundProblem.self) { try Bound<Int32>(0...10).check(converting: Int64.min, "x") }
        #expect(try Bound<Int32>(0...10).check(converting: UInt64(7), "x") == 7)
    }

    @Test func theProjectsBoundsRefuseWhatTheIssueFound() {
        // `proc-agent join --slots 9223372036854775807` overflowed the scheduler's arithmetic.
        #expect(throws: BoundProblem.self) { try Bounds.slots.check(Int.max, "--slots") }
        #expect(throws: BoundProblem.self) { try Bounds.jobTimeout.check(.infinity, "--timeout") }
        #expect(throws: BoundProblem.self) { try Bounds.requestTimeout.check(0, "--request-timeout") }
        #expect(throws: BoundProblem.self) { try Bounds.statusLimit.check(-1, "--limit") }
        #expect(throws: BoundProblem.self) { try Bounds.graceSeconds.milliseconds(1e30, "--kill-grace") }
    }
}

@Suite struct SuggestionTests {
    @Test func aTypoFindsTheKeyMeant() {
        #expect(nearestWord(to: "timout", in: JobSpec.wireKeys) == "timeout")
        #expect(nearestWord(to: "tiemout", in: JobSpec.wireKeys) == "timeout")
        #expect(nearestWord(to: "lables", in: JobSpec.wireKeys) == "labels")
        #expect(nearestWord(to: "ARGV", in: JobSpec.wireKeys) == "argv")
        #expect(didYouMean("priorty", in: JobSpec.wireKeys) == "; did you mean 'priority'?")
    }

    @Test func somethingFarFindsNothing() {
        #expect(nearestWord(to: "zzzzzz", in: JobSpec.wireKeys) == nil)
        #expect(nearestWord(to: "x", in: JobSpec.wireKeys) == nil)
        #expect(didYouMean("colour", in: ["name"]) == "")
    }
}
