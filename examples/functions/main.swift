// proc-example-functions: a function host with the functions the tests, the benchmark and the README use.
//
//   proc-agent join 127.0.0.1 --functions .build/release/proc-example-functions
//   proc submit --function square --args '{"x": 3}' && proc wait -    # {"square": 9}
import Foundation
import ProcFunctions

/// `{"x": n}` → `{"square": n*n}`.
struct Square: ProcFunction {
    struct Input: Codable, Sendable { var x: Int }
    struct Output: Codable, Sendable, Equatable { var square: Int }
    static let name = "square"
    func run(_ input: Input, context: FunctionContext) async throws -> Output {
        let (square, overflow) = input.x.multipliedReportingOverflow(by: input.x)
        guard !overflow else { throw ExampleError.tooLarge(input.x) }
        return Output(square: square)
    }
}

/// `{"i": n}` → `{"i": n, "sq": n*n}`: the benchmark's W4 call.
struct Pair: ProcFunction {
    struct Input: Codable, Sendable { var i: Int }
    struct Output: Codable, Sendable, Equatable { var i: Int; var sq: Int }
    static let name = "pair"
    func run(_ input: Input, context: FunctionContext) async throws -> Output {
        Output(i: input.i, sq: input.i &* input.i)
    }
}

enum ExampleError: Error, CustomStringConvertible {
    case tooLarge(Int)
    case asked(String)
    var description: String {
        switch self {
        case .tooLarge(let x): "\(x) squared does not fit in 64 bits"
        case .asked(let message): message
        }
    }
}

/// Always throws `ExampleError` with the message asked for: `{"message": "…"}`.
struct Fail: ProcFunction {
    struct Input: Codable, Sendable { var message: String? }
    static let name = "fail"
    func run(_ input: Input, context: FunctionContext) async throws -> [String: Int] {
        throw ExampleError.asked(input.message ?? "failed as asked")
    }
}

/// Crashes its host: a trap (`{"how": "trap"}`, the default), `{"how": "exit", "code": 3}`, or
/// `{"how": "segv"}`. `{"every": 10, "i": n}` crashes only when n is a multiple of 10, else returns n.
struct Crash: ProcFunction {
    struct Input: Codable, Sendable { var how: String?; var code: Int32?; var every: Int?; var i: Int? }
    static let name = "crash"
    func run(_ input: Input, context: FunctionContext) async throws -> Int {
        if let every = input.every, let i = input.i, every > 0, i % every != 0 { return i }
        switch input.how ?? "trap" {
        case "exit": exit(input.code ?? 3)
        case "segv": raise(SIGSEGV)
        default: break
        }
        fatalError("crashed as asked")
    }
}

/// Sleeps `{"seconds": s}` in steps of 10 ms, giving up when cancelled; returns the seconds slept.
struct Sleep: ProcFunction {
    struct Input: Codable, Sendable { var seconds: Double }
    static let name = "sleep"
    func run(_ input: Input, context: FunctionContext) async throws -> Double {
        let start = Date()
        context.progress(0, message: "sleeping \(input.seconds) s")
        while Date().timeIntervalSince(start) < input.seconds {
            try context.checkCancellation()
            try await Task.sleep(nanoseconds: 10_000_000)
        }
        return Date().timeIntervalSince(start)
    }
}

/// Reports progress in `{"steps": n}` steps (with a message each), then returns the steps.
struct Progress: ProcFunction {
    struct Input: Codable, Sendable { var steps: Int; var pauseMilliseconds: Int? }
    static let name = "progress"
    func run(_ input: Input, context: FunctionContext) async throws -> Int {
        for step in 1...max(1, input.steps) {
            context.progress(Double(step) / Double(max(1, input.steps)), message: "step \(step) of \(input.steps)")
            if let pause = input.pauseMilliseconds, pause > 0 { try await Task.sleep(nanoseconds: UInt64(pause) * 1_000_000) }
        }
        context.logger.info("done with \(input.steps) steps")
        return input.steps
    }
}

/// Prints to stdout and stderr, then returns what it printed: `{"text": "…"}`.
struct Echo: ProcFunction {
    struct Input: Codable, Sendable { var text: String }
    static let name = "echo"
    func run(_ input: Input, context: FunctionContext) async throws -> String {
        print(input.text)
        FileHandle.standardError.write(Data("stderr: \(input.text)\n".utf8))
        return input.text
    }
}

/// The host's pid and how many calls it served: shows warm reuse and recycling.
struct Whoami: ProcFunction {
    struct Input: Codable, Sendable {}
    struct Output: Codable, Sendable, Equatable { var pid: Int32; var calls: Int }
    static let name = "whoami"
    private let counter = Counter()
    func run(_ input: Input, context: FunctionContext) async throws -> Output {
        Output(pid: getpid(), calls: counter.next())
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func next() -> Int {
        lock.lock()
        defer { lock.unlock() }
        value += 1
        return value
    }
}

@main
struct ExampleFunctions {
    static func main() async {
        await ProcFunctionHost.main(functions: [
            Square.self, Pair.self, Fail.self, Crash.self, Sleep.self, Progress.self, Echo.self, Whoami.self,
        ])
    }
}
