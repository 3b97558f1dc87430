import Foundation
import ProcCore

/// Results the coordinator has not acknowledged yet. They are kept until it does — across a
/// coordinator that is away, and (with a directory) across a restart of the agent — and sent again each
/// time the agent is welcomed, so every result reaches the coordinator; it ignores repeats.
///
/// With a directory, each result is written to a slot file in `outbox/` (`FileSlots`) before it is sent,
/// and the slot is cleared when the result is acknowledged.
final class Outbox {
    private let slots: FileSlots?
    private var pending: [RunRef: RunResult] = [:]
    private var unsent: [RunRef] = []
    /// Where each pending result is on disk: a slot, or (written by an earlier version) a file of its own.
    private var slotOf: [RunRef: Int] = [:]
    private var fileOf: [RunRef: String] = [:]

    init(directory: String?) throws {
        slots = try directory.map { try FileSlots(directory: $0 + "/outbox") }
        guard let slots else { return }
        for entry in slots.load() {
            guard let result = try? WireCoding.decode(RunResult.self, from: entry.bytes),
                  pending[result.ref] == nil
            else {
                // Cut short by a crash, or a copy.
                if let slot = entry.slot { slots.clear(slot) } else { unlink(entry.path) }
                continue
            }
            pending[result.ref] = result
            if let slot = entry.slot { slotOf[result.ref] = slot } else { fileOf[result.ref] = entry.path }
        }
        unsent = pending.values.sorted { $0.finishedAt < $1.finishedAt }.map(\.ref)
    }

    /// Runs whose results are kept here (reported in HELLO, so the coordinator waits for them).
    var refs: [RunRef] { Array(pending.keys) }
    var isEmpty: Bool { pending.isEmpty }
    var hasUnsent: Bool { !unsent.isEmpty }
    var unsentCount: Int { unsent.count }

    func add(_ result: RunResult) {
        if let slots {
            if let file = fileOf.removeValue(forKey: result.ref) { unlink(file) }
            slotOf[result.ref] = slots.put(WireCoding.bytes(result), over: slotOf[result.ref])
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
            if let slot = slotOf.removeValue(forKey: ref) { slots?.clear(slot) }
            if let file = fileOf.removeValue(forKey: ref) { unlink(file) }
        }
    }
}

extension RunResult {
    var ref: RunRef { RunRef(jobID: jobID, attempt: attempt) }
}
