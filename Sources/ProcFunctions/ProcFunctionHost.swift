import Dispatch
import Foundation
import Glibc
import Logging
import ProcWire

/// A function host: the user's own executable, which offers proc functions to an agent
/// (`proc-agent join HOST --functions PATH`). Its `main` is a few lines:
///
///     @main struct Functions {
///         static func main() async { await ProcFunctionHost.main(functions: [Square.self, Resize.self]) }
///     }
///
/// The agent runs `PATH --proc-describe` once (what it offers, on stdout), then keeps `PATH --proc-serve`
/// processes warm, one per busy slot, each serving one call at a time: a call is a line on stdin, its
/// progress and its answer are lines on fd 3 (docs/contracts.md, "The function host protocol"). Run by
/// hand, it says what it offers and how to use it.
public enum ProcFunctionHost {
    /// The host protocol's version.
    public static let protocolVersion = 1

    /// Serves as its arguments ask (`--proc-describe`, `--proc-serve`), else prints what it offers; then
    /// exits.
    public static func main(functions: [any ProcFunction.Type], arguments: [String] = CommandLine.arguments) async -> Never {
        if await serveIfAsked(functions: functions, arguments: arguments) { exit(0) }
        let program = arguments.first.map { ($0 as NSString).lastPathComponent } ?? "host"
        let usage = """
            \(program) is a proc function host; it offers: \(functions.map { $0.name }.sorted().joined(separator: ", "))
            Run its functions on a cluster with:
              proc-agent join COORDINATOR --functions \(arguments.first ?? program)
              proc submit --function NAME --args '{...}'

            """
        let asked = arguments.dropFirst()
        if asked.isEmpty || asked.contains("--help") || asked.contains("-h") {
            print(usage, terminator: "")
            exit(0)
        }
        FileHandle.standardError.write(Data("error: unknown arguments \(asked.joined(separator: " "))\n\(usage)".utf8))
        exit(64)
    }

    /// For a program that is its own function host (it runs a standalone cluster with
    /// `functionHosts: [ProcFunctionHost.thisExecutable]`): call this first in `main`. When the program
    /// was started as a host (`--proc-describe`, `--proc-serve`) it serves and returns true (then exit);
    /// else it returns false at once.
    public static func serveIfAsked(
        functions: [any ProcFunction.Type], arguments: [String] = CommandLine.arguments
    ) async -> Bool {
        switch arguments.dropFirst().first {
        case "--proc-describe":
            describe(functions)
            return true
        case "--proc-serve":
            await serve(functions)
            return true
        default:
            return false
        }
    }

    /// This executable's path, to name it as a function host.
    public static var thisExecutable: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    // MARK: describe

    private static func describe(_ functions: [any ProcFunction.Type]) {
        var seen = Set<String>()
        for function in functions {
            if let problem = JobSpec.functionNameProblem(function.name) {
                fail("\(function): \(problem)")
            }
            if !seen.insert(function.name).inserted { fail("two functions are named '\(function.name)'") }
        }
        let description = HostDescription(protocolVersion: protocolVersion, functions: functions.map { $0.name },
                                          build: buildIdentity(), outputMarks: true)
        var line = WireCoding.bytes(description)
        line.append(UInt8(ascii: "\n"))
        writeAll(1, line)
    }

    private static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("error: \(message)\n".utf8))
        exit(64)
    }

    /// The executable file's size and modification time (nanoseconds): they change when it is rebuilt or
    /// replaced, and cost one stat, where a hash of a debug build's bytes took seconds.
    static func buildIdentity() -> String? {
        var info = stat()
        guard stat("/proc/self/exe", &info) == 0 else { return nil }
        let nanoseconds = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
        return "\(info.st_size)-\(nanoseconds)"
    }

    // MARK: serve

    /// Reads calls from stdin until its end, one at a time. The loop and the calls run in one task off
    /// the main thread: a call that does not suspend runs where the loop does, with no thread hop (a task
    /// per call, and the main actor, cost two wake-ups of another thread per call).
    private static func serve(_ functions: [any ProcFunction.Type]) async {
        guard fcntl(3, F_GETFD) >= 0 else {
            fail("fd 3 is not open: --proc-serve is for proc-agent, which gives it the channel on fd 3")
        }
        let channel = HostChannel(fd: 3)
        let instances = Dictionary(functions.map { ($0.name, AnyFunction($0)) }, uniquingKeysWith: { first, _ in first })
        let calls = CallState()
        // The agent asks for the marks when it can split at them (an older agent would show them as output).
        let marks = getenv("PROC_OUTPUT_MARKS").map { String(cString: $0) == "1" } ?? false
        let loop = Task.detached {
            var reader = LineReader(fd: 0)
            while let line = reader.next() {
                if line.allSatisfy({ $0 == 0x20 || $0 == 0x0D }) { continue }
                calls.started()
                let answer = await answer(line, instances: instances, channel: channel)
                // What the call printed is in its pipes, then the mark that ends it there, before its answer.
                fflush(nil)
                if marks {
                    writeAll(1, OutputMark.bytes)
                    writeAll(2, OutputMark.bytes)
                }
                channel.writeLine(answer)
                if calls.finish() { exit(0) }
            }
        }
        // SIGTERM (a cancel, a timeout, the agent stopping): the call in progress is cancelled (its task
        // is the loop's); the host ends once it is over (the agent SIGKILLs it after the grace otherwise).
        signal(SIGTERM, SIG_IGN)
        let terms = DispatchSource.makeSignalSource(signal: SIGTERM, queue: .global())
        terms.setEventHandler {
            if calls.terminate() { exit(0) }
            loop.cancel()
        }
        terms.resume()
        await loop.value
    }

    /// The last line of a call: `{"done":true,"result":…}` or `{"done":true,"error":{…}}`.
    private static func answer(_ line: [UInt8], instances: [String: AnyFunction], channel: HostChannel) async -> [UInt8] {
        let call: FunctionCall
        do {
            call = try WireCoding.decode(FunctionCall.self, from: line)
        } catch {
            return thrown("ProtocolError", "a call line that is not a FunctionCall: \(error)")
        }
        guard let function = instances[call.function] else {
            return thrown("UnknownFunction", "this host offers no function '\(call.function)' (it offers "
                          + instances.keys.sorted().joined(separator: ", ") + ")")
        }
        var logger = function.logger
        logger[metadataKey: "job.id"] = .string(call.jobID)
        let context = FunctionContext(jobID: call.jobID, attempt: call.attempt, queue: call.queue, logger: logger,
                                      channel: channel)
        let outcome: Result<[UInt8], any Error>
        do {
            outcome = .success(try await function.call(call.args ?? .object([:]), context))
        } catch {
            outcome = .failure(error)
        }
        switch outcome {
        case .success(let encoded):
            guard encoded.count <= maxResultBytes else {
                return thrown("ResultTooLarge", "the result is \(encoded.count) bytes of JSON, over "
                              + "\(maxResultBytes): return less (write a large result to a file and return its path)")
            }
            var out = Array(#"{"done":true,"result":"#.utf8)
            out.reserveCapacity(encoded.count + 24)
            out.append(contentsOf: encoded)
            out.append(UInt8(ascii: "}"))
            return out
        case .failure(let error):
            return thrown(error)
        }
    }

    /// What the agent takes in one answer line, less room for the line's own keys.
    static let maxResultBytes = (1 << 20) - 64

    static func thrown(_ error: any Error) -> [UInt8] {
        if let decoding = error as? DecodingError { return thrown("DecodingError", describe(decoding)) }
        if let encoding = error as? EncodingError { return thrown("EncodingError", "the result cannot be encoded: \(encoding)") }
        return thrown(String(describing: type(of: error)), String(describing: error))
    }

    static func thrown(_ type: String, _ message: String) -> [UInt8] {
        var writer = JSONWriter(capacity: 64 + message.utf8.count)
        writer.beginObject()
        writer.key("done")
        writer.bool(true)
        writer.key("error")
        ThrownError(type: type, message: message).write(to: &writer)
        writer.endObject()
        return writer.bytes
    }

    /// "args.x: expected Int, found a string", in words a user can act on.
    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            (["args"] + context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue })
                .joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "the arguments do not decode: \(path(context)): missing key '\(key.stringValue)'"
        case .typeMismatch(let type, let context):
            return "the arguments do not decode: \(path(context)): expected \(type): \(context.debugDescription)"
        case .valueNotFound(let type, let context):
            return "the arguments do not decode: \(path(context)): expected \(type), found null"
        case .dataCorrupted(let context):
            return "the arguments do not decode: \(path(context)): \(context.debugDescription)"
        @unknown default:
            return "the arguments do not decode: \(error)"
        }
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { exit(0) }  // the agent is gone
                offset += n
            }
        }
    }
}

/// A registered function with its types erased: JSON in, JSON bytes out. One instance per host process.
struct AnyFunction: Sendable {
    let call: @Sendable (JSONValue, FunctionContext) async throws -> [UInt8]
    /// Its calls' logger (to stderr), made once; each call adds its job id.
    let logger: Logger

    init<F: ProcFunction>(_ type: F.Type) {
        logger = Logger(label: "proc.function.\(F.name)", factory: { StreamLogHandler.standardError(label: $0) })
        let instance = F()
        call = { args, context in
            let input = try JSONValueDecoder().decode(F.Input.self, from: args)
            let output = try await instance.run(input, context: context)
            return WireCoding.bytes(try JSONValueEncoder().encode(output))
        }
    }
}

/// fd 3: lines from any thread (a call may report progress from child tasks), each written whole.
final class HostChannel: @unchecked Sendable {
    private let fd: Int32
    private let lock = NSLock()
    init(fd: Int32) { self.fd = fd }

    func writeLine(_ bytes: [UInt8]) {
        var line = bytes
        line.append(UInt8(ascii: "\n"))
        lock.lock()
        defer { lock.unlock() }
        ProcFunctionHost.writeAll(fd, line)
    }
}

/// Whether a call is in progress, and whether a SIGTERM came: then the host ends once it is over.
final class CallState: @unchecked Sendable {
    private let lock = NSLock()
    private var calling = false
    private var terminating = false

    func started() {
        lock.lock()
        defer { lock.unlock() }
        calling = true
    }

    /// A SIGTERM: returns true when no call is in progress (end now); else the caller cancels the call.
    func terminate() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        terminating = true
        return !calling
    }

    /// The call is over; returns true when the host should end.
    func finish() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        calling = false
        return terminating
    }
}

/// Lines from a descriptor, read in chunks into one buffer that grows for a long line (a call line may
/// hold up to 1 MiB of arguments).
struct LineReader {
    let fd: Int32
    private var buffer = [UInt8](repeating: 0, count: 1 << 16)
    /// The bytes read and not yet returned: `buffer[start..<end]`.
    private var start = 0
    private var end = 0
    private var atEnd = false

    init(fd: Int32) { self.fd = fd }

    /// The next line without its newline; nil at the end of input.
    mutating func next() -> [UInt8]? {
        var scanned = start
        while true {
            if let newline = buffer[scanned..<end].firstIndex(of: UInt8(ascii: "\n")) {
                let line = Array(buffer[start..<newline])
                start = newline + 1
                return line
            }
            scanned = end
            if atEnd {
                guard start < end else { return nil }
                defer { start = end }
                return Array(buffer[start..<end])
            }
            if start > 0 {
                // Room at the front: move what is left of the line there.
                buffer.withUnsafeMutableBytes { bytes in
                    _ = memmove(bytes.baseAddress!, bytes.baseAddress! + start, end - start)
                }
                (scanned, end, start) = (scanned - start, end - start, 0)
            }
            if end == buffer.count { buffer += [UInt8](repeating: 0, count: buffer.count) }
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress! + end, $0.count - end) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { atEnd = true } else { end += n }
        }
    }
}
