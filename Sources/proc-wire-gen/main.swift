// Writes the wire schema's generated files: the Swift types, readers, writers and Codable conformances
// (Sources/ProcWire/Generated/) and the reference (docs/wire.md). Run from the package root:
//
//     swift run proc-wire-gen
import Foundation
import ProcWireSchema

let root = CommandLine.arguments.dropFirst().first ?? FileManager.default.currentDirectoryPath
let generator = Generator()
let directory = root + "/Sources/ProcWire/Generated"
try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
var written = 0
for (name, contents) in generator.swiftFiles() {
    let path = directory + "/" + name
    if (try? String(contentsOfFile: path, encoding: .utf8)) != contents {
        try contents.write(toFile: path, atomically: true, encoding: .utf8)
        written += 1
        print("wrote \(path)")
    }
}
let reference = root + "/docs/wire.md"
if (try? String(contentsOfFile: reference, encoding: .utf8)) != generator.reference() {
    try generator.reference().write(toFile: reference, atomically: true, encoding: .utf8)
    written += 1
    print("wrote \(reference)")
}
print(written == 0 ? "proc-wire-gen: everything up to date" : "proc-wire-gen: \(written) files written")
