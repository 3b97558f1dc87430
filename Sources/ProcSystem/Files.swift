import Glibc

/// A file that could not be read, in words that name it and say why (not Foundation's error dumps).
public struct FileProblem: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The whole of a (small) text file: a config file, a certificate, a /proc entry. A directory, a missing
/// file or one that cannot be read is refused with the reason; so is one over `limit` bytes or not UTF-8.
public func readFile(_ path: String, limit: Int = 16 << 20) throws(FileProblem) -> String {
    let bytes = try readFileBytes(path, limit: limit)
    guard let text = String(validating: bytes, as: UTF8.self) else {
        throw FileProblem("\(path) is not UTF-8 text")
    }
    return text
}

/// `readFile`'s bytes, not checked to be text.
public func readFileBytes(_ path: String, limit: Int = 16 << 20) throws(FileProblem) -> [UInt8] {
    guard !path.isEmpty else { throw FileProblem("the file name is empty") }
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { throw FileProblem("cannot open \(path): \(errorText(errno))") }
    defer { close(descriptor) }
    var info = stat()
    guard fstat(descriptor, &info) == 0 else { throw FileProblem("cannot read \(path): \(errorText(errno))") }
    if info.st_mode & S_IFMT == S_IFDIR { throw FileProblem("\(path) is a directory, not a file") }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 64 << 10)
    while true {
        let count = read(descriptor, &chunk, chunk.count)
        if count == 0 { break }
        if count < 0 {
            if errno == EINTR { continue }
            throw FileProblem("cannot read \(path): \(errorText(errno))")
        }
        bytes += chunk.prefix(count)
        if bytes.count > limit { throw FileProblem("\(path) is too large (over \(limit >> 20) MiB)") }
    }
    return bytes
}
