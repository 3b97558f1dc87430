import Testing

import ProcCore

/// The prefetch an agent asks for follows its runs' lengths (design note 8): more while the last runs
/// were all short, its configured prefetch again after one long run.
@Suite struct PrefetchGaugeTests {
    @Test func shortRunsInARowRaiseItAndOneLongRunLowersIt() {
        var gauge = PrefetchGauge(base: 1, whileShort: 4)
        #expect(gauge.current == 1)
        for _ in 1..<PrefetchGauge.window { gauge.ran(seconds: 0.001) }
        #expect(gauge.current == 1, "one short of the window")
        gauge.ran(seconds: PrefetchGauge.shortRunSeconds)
        #expect(gauge.current == 4)
        for _ in 0..<100 { gauge.ran(seconds: 0.002) }
        #expect(gauge.current == 4)
        gauge.ran(seconds: 0.5)
        #expect(gauge.current == 1)
        // A whole window of short runs again before it rises.
        for _ in 1..<PrefetchGauge.window { gauge.ran(seconds: 0.001) }
        #expect(gauge.current == 1)
        gauge.ran(seconds: 0.001)
        #expect(gauge.current == 4)
    }

    /// Quick calls to warm hosts get the deepest window; a command among them, or a slower call, brings it
    /// back to the short-run window.
    @Test func quickWarmCallsInARowRaiseItFurther() {
        var gauge = PrefetchGauge(base: 1, whileShort: 4, whileQuickCalls: 64)
        for _ in 1..<PrefetchGauge.window { gauge.ran(seconds: 0.0001, warmCall: true) }
        #expect(gauge.current == 1, "one short of the window")
        gauge.ran(seconds: PrefetchGauge.quickCallSeconds, warmCall: true)
        #expect(gauge.current == 64 && gauge.callsAreQuick)
        gauge.ran(seconds: 0.0001, warmCall: false)
        #expect(gauge.current == 4 && !gauge.callsAreQuick, "a command between them")
        for _ in 0..<PrefetchGauge.window { gauge.ran(seconds: 0.0001, warmCall: true) }
        #expect(gauge.current == 64)
        gauge.ran(seconds: 0.005, warmCall: true)
        #expect(gauge.current == 4, "a call over a millisecond, still a short run")
        gauge.ran(seconds: 1, warmCall: true)
        #expect(gauge.current == 1)
        // Without a window of its own, quick calls get the short-run one.
        var plain = PrefetchGauge(base: 1, whileShort: 4)
        for _ in 0..<PrefetchGauge.window { plain.ran(seconds: 0.0001, warmCall: true) }
        #expect(plain.current == 4)
    }
}
