import Foundation
import ProcWireSchema
import Testing

/// The generated files are what the schema makes now: a change to `Messages.swift` without running
/// `swift run proc-wire-gen` fails here, naming the file.
@Suite struct GeneratedCodeTests {
    static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    @Test func theGeneratedFilesAreCurrent() throws {
        let generator = Generator()
        for (name, contents) in generator.swiftFiles() {
            let path = Self.root + "/Sources/ProcWire/Generated/" + name
            let committed = try String(contentsOfFile: path, encoding: .utf8)
            #expect(committed == contents, "\(path) is stale: run `swift run proc-wire-gen`")
        }
        let reference = try String(contentsOfFile: Self.root + "/docs/wire.md", encoding: .utf8)
        #expect(reference == generator.reference(), "docs/wire.md is stale: run `swift run proc-wire-gen`")
    }

    @Test func everyReferencedTypeIsDeclared() {
        var declared = Set<String>()
        for group in procWireSchema.groups { for type in group.types { declared.insert(type.nameForTests) } }
        for command in procWireSchema.commands {
            for name in [command.body, command.reply].compactMap({ $0 }) {
                #expect(declared.contains(name), "\(command.name) names \(name), which is not declared")
            }
        }
    }
}

extension TypeDecl {
    var nameForTests: String {
        switch self {
        case .message(let message): message.name
        case .enumeration(let enumeration): enumeration.name
        }
    }
}
