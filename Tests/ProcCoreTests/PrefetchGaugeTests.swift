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
}
