import Glibc
import Testing
import ZeroMQ

@Suite struct SyncTests {
    @Test func semaphoreSignalledBeforeWaitReturnsTrue() {
        let semaphore = Semaphore()
        semaphore.signal()
        #expect(semaphore.wait(timeoutSeconds: 1))
        #expect(semaphore.wait(timeoutSeconds: 1))  // one-shot: it stays signalled
    }

    @Test func semaphoreTimesOutWhenNeverSignalled() {
        #expect(!Semaphore().wait(timeoutSeconds: 0.05))
    }

    @Test func semaphoreWakesAWaiterOnAnotherThread() throws {
        let running = RunningLoop()
        defer { running.shutDown() }
        let semaphore = Semaphore()
        running.loop.execute { semaphore.signal() }
        #expect(semaphore.wait(timeoutSeconds: 5))
    }

    @Test func mutexSerialisesThreads() throws {
        let counter = Shared(0)
        let loops = (0..<3).map { RunningLoop("mutex-\($0)") }
        let done = (0..<3).map { _ in Semaphore() }
        for (loop, finished) in zip(loops, done) {
            loop.loop.execute {
                for _ in 0..<10_000 { counter.update { $0 += 1 } }
                finished.signal()
            }
        }
        for finished in done { #expect(finished.wait(timeoutSeconds: 10)) }
        #expect(counter.value == 30_000)
        for loop in loops { loop.shutDown() }
    }
}
