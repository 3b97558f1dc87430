import ProcWire
import Testing

/// A marked host's stdout or stderr, split into its calls' output at the marks (calls written ahead run
/// back to back and share the pipes).
@Suite struct OutputMarkTests {
    /// Feeds `chunks` as reads, then starts `calls - 1` next calls: what each call got.
    func split(_ chunks: [[UInt8]], calls: Int, limit: Int = 1 << 20) -> [String] {
        var stream = MarkedStream(limit: limit)
        var outputs = [[UInt8]()]
        for chunk in chunks {
            chunk.withUnsafeBytes { bytes in stream.feed(bytes) { outputs[outputs.count - 1] += $0 } }
        }
        for _ in 1..<calls {
            stream.flush { outputs[outputs.count - 1] += $0 }
            outputs.append([])
            stream.nextCall { outputs[outputs.count - 1] += $0 }
        }
        stream.flush { outputs[outputs.count - 1] += $0 }
        return outputs.map { String(decoding: $0, as: UTF8.self) }
    }

    let mark = OutputMark.bytes

    @Test func outputBeforeAMarkIsTheCurrentCallsAndAfterItTheNexts() {
        let all = Array("one\n".utf8) + mark + Array("two\n".utf8) + mark + Array("three".utf8)
        #expect(split([all], calls: 3) == ["one\n", "two\n", "three"])
    }

    @Test func aMarkSplitAcrossReadsIsFound() {
        let all = Array("first".utf8) + mark + Array("second".utf8)
        for cut in 1..<all.count {
            #expect(split([Array(all[..<cut]), Array(all[cut...])], calls: 2) == ["first", "second"], "cut at \(cut)")
        }
    }

    @Test func aMarkInByteSizedReadsIsFound() {
        let all = Array("a".utf8) + mark + Array("b".utf8) + mark
        #expect(split(all.map { [$0] }, calls: 3) == ["a", "b", ""])
    }

    @Test func whatOnlyLooksLikeAMarksStartIsOutput() {
        let almost = Array(mark.dropLast()) + Array("x\n".utf8)
        #expect(split([almost], calls: 1) == [String(decoding: almost, as: UTF8.self)])
        let endsLikeOne = Array("tail".utf8) + mark.prefix(3)
        #expect(split([endsLikeOne], calls: 1) == ["tail" + String(decoding: mark.prefix(3), as: UTF8.self)],
                "held back as a possible mark, then the call's once the call is over")
    }

    @Test func withoutAMarkEverythingIsTheCurrentCalls() {
        #expect(split([Array("crashed before its mark".utf8)], calls: 2) == ["crashed before its mark", ""])
    }

    @Test func laterCallsOutputIsBounded() {
        let later = [UInt8](repeating: UInt8(ascii: "z"), count: 5_000)
        let outputs = split([Array("now".utf8) + mark + later], calls: 2, limit: 1_000)
        #expect(outputs[0] == "now")
        #expect(outputs[1] == String(repeating: "z", count: 1_000), "the front of what waited is dropped")
    }
}
