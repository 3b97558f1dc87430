import Foundation
import ProcCore

/// Results the coordinator has not acknowledged yet. They are kept until it does — across a
/// coordinator that is away, and (with a directory) across a restart of the agent — and sent again each
/// time the agent is welcomed, so every result reaches the coordinator; it ignores repeats.
///
/// With a directory, each result is a file `outbox/JOB-ATTEMPT.json`, written before it is sent and
/// removed when acknowledged.
final class Outbox {
    private let directory: String?
    private var pending: [RunRef: RunResult] = [:]
    private var unsent: [RunRef] = []

    init(directory: String?) throws {
        self.directory = directory.map { $0 + "/outbox" }
        guard let dir = self.directory else { return }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for name in try FileManager.default.contentsOfDirectory(atPath: dir) where name.hasSuffix(".json") {
            guard let data = FileManager.default.contents(atPath: dir + "/" + name),
                let result = try? WireCoding.decode(RunResult.self, from: Array(data))
            else {
                try? FileManager.default.removeItem(atPath: dir + "/" + name)  // cut short by a crash
                continue
            }
            pending[result.ref] = result
        }
        unsent = pending.values.sorted { $0.finishedAt < $1.finishedAt }.map(\.ref)
    }

    /// Runs whose results are kept here (reported in HELLO, so the coordinator waits for them).
    var refs: [RunRef] { Array(pending.keys) }
    var isEmpty: Bool { pending.isEmpty }
    var hasUnsent: Bool { !unsent.isEmpty }

    func add(_ result: RunResult) {
        if let directory {
            writeFile(directory + "/" + fileName(result.ref), WireCoding.bytes(result))
        }
        if pending.updateValue(result, forKey: result.ref) == nil { unsent.append(result.ref) }
    }

    /// The results not sent since the last `resendAll`, in the order they finished.
    func takeUnsent() -> [RunResult] {
        defer { unsent.removeAll() }
        return unsent.compactMap { pending[$0] }
    }

    /// After a (re)connect: everything not acknowledged goes out again.
    func resendAll() {
        unsent = pending.values.sorted { $0.finishedAt < $1.finishedAt }.map(\.ref)
    }

    func acknowledge(_ refs: [RunRef]) {
        for ref in refs where pending.removeValue(forKey: ref) != nil {
            if let directory { unlink(directory + "/" + fileName(ref)) }
        }
    }

    /// Job ids hold no "/" (`Agent.isUsableJobID`).
    private func fileName(_ ref: RunRef) -> String {
        ref.jobID + "-" + String(ref.attempt) + ".json"
    }
}

extension RunResult {
    var ref: RunRef { RunRef(jobID: jobID, attempt: attempt) }
}
