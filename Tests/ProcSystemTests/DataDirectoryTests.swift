import Foundation
import Glibc
import ProcSystem
import Testing

/// A data directory is owned by one process at a time (issue 21). flock locks belong to open file
/// descriptions, so a second claim in the same process conflicts just as one from another process does.
@Suite struct DataDirectoryTests {
    func temporary() throws -> String {
        let path = NSTemporaryDirectory() + "proc-dd-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func aSecondClaimIsRefusedAndNamesTheHolder() throws {
        let path = try temporary()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let first = try DataDirectory.claim(path, option: "--data-dir")
        let refused = #expect(throws: DataDirectoryError.self) { try DataDirectory.claim(path, option: "--data-dir") }
        #expect(refused?.kind == .inUse(getpid()))
        #expect(refused?.description.contains("in use by process \(getpid())") == true, "\(refused?.description ?? "")")
        // The first holder's lock file is untouched by the refusal.
        #expect(try String(contentsOfFile: path + "/lock", encoding: .utf8) == "\(getpid())\n")
        first.release()
        let again = try DataDirectory.claim(path, option: "--data-dir")
        again.release()
    }

    @Test func missingDirectoriesAreCreated() throws {
        let root = try temporary()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let directory = try DataDirectory.claim(root + "/a/b/c", option: "--data-dir")
        defer { directory.release() }
        var isDirectory: ObjCBool = false
        #expect(FileManager.default.fileExists(atPath: root + "/a/b/c", isDirectory: &isDirectory) && isDirectory.boolValue)
    }

    @Test func unusablePathsAreSaidInWords() throws {
        let root = try temporary()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try #require(FileManager.default.createFile(atPath: root + "/file", contents: Data("x".utf8)))
        let cases: [(String, String)] = [
            ("", "is empty"),
            ("/dev/null", "exists and is not a directory"),
            (root + "/file", "exists and is not a directory"),
            (root + "/file/below", "(a parent of"),
        ]
        for (path, words) in cases {
            let error = #expect(throws: DataDirectoryError.self) { try DataDirectory.claim(path, option: "--data-dir") }
            #expect(error?.kind == .unusable)
            #expect(error?.description.contains(words) == true, "\(path): \(error?.description ?? "")")
            #expect(error?.description.contains("NSCocoaErrorDomain") == false)
        }
    }

    @Test func filesAreReadWithTheirProblemsInWords() throws {
        let root = try temporary()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let directory = #expect(throws: FileProblem.self) { try readFile(root) }
        #expect(directory?.description == "\(root) is a directory, not a file")
        let missing = #expect(throws: FileProblem.self) { try readFile(root + "/none") }
        #expect(missing?.description == "cannot open \(root)/none: No such file or directory")
        try #require(FileManager.default.createFile(atPath: root + "/bytes", contents: Data([0xff, 0xfe])))
        #expect(throws: FileProblem.self) { try readFile(root + "/bytes") }
        try #require(FileManager.default.createFile(atPath: root + "/text", contents: Data("héllo".utf8)))
        #expect(try readFile(root + "/text") == "héllo")
    }
}
