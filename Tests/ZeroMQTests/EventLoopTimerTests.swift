import Glibc
import Testing
import ZeroMQ

@Suite struct EventLoopTimerTests {
    @Test func scheduledActionFiresOnTheLoop() throws {
        let running = RunningLoop()
        defer { running.shutDown() }
        let loop = running.loop
        let inLoop = Shared<Bool?>(nil)
        let fired = Semaphore()
        _ = try loop.sync(timeoutSeconds: 5) {
            loop.schedule(afterMilliseconds: 20) {
                inLoop.set(loop.isInLoop)
                fired.signal()
            }
        }
        #expect(fired.wait(timeoutSeconds: 5))
        #expect(inLoop.value == true)
    }

    @Test func timersFireInDeadlineOrder() throws {
        let running = RunningLoop()
        defer { running.shutDown() }
        let loop = running.loop
        let order = Shared<[Int]>([])
        let done = Semaphore()
        try loop.sync(timeoutSeconds: 5) {
            for (index, delay) in [60, 0, 30, 90].enumerated() {
                loop.schedule(afterMilliseconds: Int64(delay)) {
                    if order.update({ $0.append(index); return $0.count }) == 4 { done.signal() }
                }
            }
        }
        #expect(done.wait(timeoutSeconds: 5))
        #expect(order.value == [1, 2, 0, 3])
    }

    @Test func cancelledTimerNeverFires() throws {
        let running = RunningLoop()
        defer { running.shutDown() }
        let loop = running.loop
        let cancelledFired = Shared(false)
        let sentinel = Semaphore()
        try loop.sync(timeoutSeconds: 5) {
            let token = loop.schedule(afterMilliseconds: 10) { cancelledFired.set(true) }
            loop.schedule(afterMilliseconds: 100) { sentinel.signal() }
            loop.cancel(token)
        }
        // The sentinel's deadline is later: had the cancelled timer fired, it would have by now.
        #expect(sentinel.wait(timeoutSeconds: 5))
        #expect(!cancelledFired.value)
    }

    @Test
    func timerCancelledByAnEarlierTimerOfTheSameIterationNeverFires() throws {
        let running = RunningLoop()
        defer { running.shutDown() }
        let loop = running.loop
        let victimFired = Shared(false)
        let sentinel = Semaphore()
        try loop.sync(timeoutSeconds: 5) {
            let victim = LoopOwned<TimerToken?>(nil)
            loop.schedule(afterMilliseconds: 5) {
                if let token = victim.value { loop.cancel(token) }
            }
            victim.value = loop.schedule(afterMilliseconds: 10) { victimFired.set(true) }
            loop.schedule(afterMilliseconds: 100) { sentinel.signal() }
            usleep(30_000)  // hold the loop so both timers are due in the same pass
        }
        #expect(sentinel.wait(timeoutSeconds: 5))
        #expect(!victimFired.value)
    }

    @Test func everyRepeatsUntilCancelledFromItsAction() throws {
        let running = RunningLoop()
        defer { running.shutDown() }
        let loop = running.loop
        let count = Shared(0)
        let third = Semaphore()
        try loop.sync(timeoutSeconds: 5) {
            let timer = LoopOwned<RepeatingTimer?>(nil)
            timer.value = loop.every(milliseconds: 5) {
                if count.update({ $0 += 1; return $0 }) == 3 {
                    loop.cancel(timer.value!)
                    third.signal()
                }
            }
        }
        #expect(third.wait(timeoutSeconds: 5))
        // Many periods later, still three.
        let later = Semaphore()
        _ = try loop.sync(timeoutSeconds: 5) { loop.schedule(afterMilliseconds: 60) { later.signal() } }
        #expect(later.wait(timeoutSeconds: 5))
        #expect(count.value == 3)
    }

    @Test func everyCancelledFromOutsideStops() throws {
        let running = RunningLoop()
        defer { running.shutDown() }
        let loop = running.loop
        let count = Shared(0)
        let twice = Semaphore()
        let timer = LoopOwned<RepeatingTimer?>(nil)
        try loop.sync(timeoutSeconds: 5) {
            timer.value = loop.every(milliseconds: 5) {
                if count.update({ $0 += 1; return $0 }) >= 2 { twice.signal() }
            }
        }
        #expect(twice.wait(timeoutSeconds: 5))
        let atCancel = try loop.sync(timeoutSeconds: 5) { () -> Int in
            loop.cancel(timer.value!)
            return count.value
        }
        #expect(atCancel >= 2)
        let later = Semaphore()
        _ = try loop.sync(timeoutSeconds: 5) { loop.schedule(afterMilliseconds: 60) { later.signal() } }
        #expect(later.wait(timeoutSeconds: 5))
        #expect(count.value == atCancel)
    }
}
