import Foundation
import Glibc
import ZeroMQ

/// A small, seeded generator (SplitMix64): a failing fuzz run is replayed with the same PROC_FUZZ_SEED.
struct SeededRandom: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Builds hostile messages from valid ones: bit flips, cuts, insertions, random frames, wrong frame
/// counts, other protocols and commands, JSON values of the wrong type, huge numbers, deep nesting,
/// invalid UTF-8, long strings.
struct Fuzzer {
    var random: SeededRandom
    /// Valid messages (frames after the routing envelope).
    let templates: [[Frame]]
    /// Command names to swap in.
    let commands: [String]
    let protocols: [String]

    init(seed: UInt64, templates: [[Frame]], commands: [String], protocols: [String]) {
        random = SeededRandom(seed: seed)
        self.templates = templates
        self.commands = commands
        self.protocols = protocols
    }

    mutating func int(_ range: Range<Int>) -> Int { Int.random(in: range, using: &random) }
    mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &random) < p }

    mutating func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) } }

    /// One message: a template with one to three mutations (or, now and then, the template as it is).
    mutating func message() -> [Frame] {
        var frames = templates[int(0..<templates.count)]
        if chance(0.05) { return frames }
        for _ in 0..<int(1..<4) { mutate(&frames) }
        return frames.isEmpty ? [[]] : frames
    }

    private mutating func mutate(_ frames: inout [Frame]) {
        let index = frames.isEmpty ? 0 : int(0..<frames.count)
        switch int(0..<12) {
        case 0:  // flip bits
            guard !frames.isEmpty, !frames[index].isEmpty else { return }
            for _ in 0..<int(1..<9) {
                let at = int(0..<frames[index].count)
                frames[index][at] ^= UInt8(1 << int(0..<8))
            }
        case 1:  // cut short
            guard !frames.isEmpty else { return }
            frames[index] = Array(frames[index].prefix(int(0..<(frames[index].count + 1))))
        case 2:  // insert random bytes
            guard !frames.isEmpty else { return }
            let at = int(0..<(frames[index].count + 1))
            frames[index].insert(contentsOf: bytes(int(1..<64)), at: at)
        case 3:  // a random frame instead
            guard !frames.isEmpty else { return }
            frames[index] = bytes(int(0..<256))
        case 4:  // drop, duplicate or add frames
            switch int(0..<3) {
            case 0: if !frames.isEmpty { frames.remove(at: index) }
            case 1: if !frames.isEmpty { frames.insert(frames[index], at: index) }
            default: frames.append(bytes(int(0..<32)))
            }
        case 5:  // another protocol or version
            guard !frames.isEmpty else { return }
            frames[0] = Array(protocols[int(0..<protocols.count)].utf8)
        case 6:  // another command
            guard frames.count > 1 else { return }
            frames[1] = Array(commands[int(0..<commands.count)].utf8)
        case 7, 8, 9:  // a JSON value of the wrong type somewhere in the body
            guard let last = frames.indices.last else { return }
            frames[last] = mutateJSON(frames[last])
        case 10:  // invalid UTF-8 inside the body
            guard let last = frames.indices.last, !frames[last].isEmpty else { return }
            let at = int(0..<frames[last].count)
            frames[last].insert(contentsOf: [0xC3, 0x28, 0xFF, 0xFE][...int(0..<4)], at: at)
        default:  // a large body: long strings, deep nesting
            guard let last = frames.indices.last else { return }
            frames[last] = chance(0.5)
                ? Array("{\"jobs\":[{\"argv\":[\"\(String(repeating: "x", count: int(1..<20_000)))\"]}]}".utf8)
                : Array((String(repeating: "[", count: int(100..<20_000)) + String(repeating: "]", count: int(0..<20_000))).utf8)
        }
    }

    private mutating func mutateJSON(_ body: Frame) -> Frame {
        guard var value = try? JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed]) else {
            return body
        }
        value = replaceSomewhere(value, depth: 0)
        return (try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed])).map(Array.init) ?? body
    }

    private mutating func replaceSomewhere(_ value: Any, depth: Int) -> Any {
        if var object = value as? [String: Any], !object.isEmpty, chance(0.7) {
            let key = object.keys.sorted()[int(0..<object.count)]
            if chance(0.15) { object[key] = nil } else { object[key] = replaceSomewhere(object[key]!, depth: depth + 1) }
            if chance(0.1) { object[String(decoding: bytes(int(1..<8)).map { $0 % 26 + 97 }, as: UTF8.self)] = oddValue() }
            return object
        }
        if var array = value as? [Any], !array.isEmpty, chance(0.7) {
            let at = int(0..<array.count)
            array[at] = replaceSomewhere(array[at], depth: depth + 1)
            if chance(0.1) { array.append(contentsOf: Array(repeating: array[at], count: int(1..<50))) }
            return array
        }
        return oddValue()
    }

    private mutating func oddValue() -> Any {
        switch int(0..<14) {
        case 0: return NSNull()
        case 1: return ""
        case 2: return -1
        case 3: return 0
        case 4: return Int64.max
        case 5: return Int64.min
        case 6: return 1e308
        case 7: return -0.0
        case 8: return true
        case 9: return [Any]()
        case 10: return [String: Any]()
        case 11: return String(repeating: "é", count: int(1..<5_000))
        case 12: return "../../../../etc/passwd"
        default: return [[["deep": [[[1]]]]]]
        }
    }
}

/// The resident memory of a process, in KiB (VmRSS), or nil when it is gone.
func residentKiB(of pid: pid_t) -> Int? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
        let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
    else { return nil }
    return Int(line.split(separator: " ").dropFirst().first ?? "")
}

/// Writes raw bytes at a TCP port and closes: not ZMTP at all, or a greeting that goes wrong.
func sendRawTCP(port: Int, _ payload: [UInt8]) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { return }
    _ = payload.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    usleep(2_000)
}

/// The fuzz run's size: PROC_FUZZ_MESSAGES (default `ciDefault`), and its seed: PROC_FUZZ_SEED (default random).
func fuzzSettings(ciDefault: Int) -> (count: Int, seed: UInt64) {
    let environment = ProcessInfo.processInfo.environment
    let count = environment["PROC_FUZZ_MESSAGES"].flatMap(Int.init) ?? ciDefault
    let seed = environment["PROC_FUZZ_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 0...UInt64.max)
    return (count, seed)
}
