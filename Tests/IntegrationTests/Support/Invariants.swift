import Foundation
import ProcCore
import Testing

/// What a fault scenario did, printed by each test (the issue asks for the figures).
struct FaultFigures: CustomStringConvertible {
    var jobs = 0
    var faults = 0
    var completed = 0
    var retries = 0
    var lateResults = 0
    var lost = 0
    var events = 0

    var description: String {
        "jobs \(jobs), faults injected \(faults), completed \(completed), retries \(retries), "
            + "late duplicates \(lateResults), lost \(lost), events \(events)"
    }
}

/// The invariants of issue 3 over the journal's event history (the same events the feed published):
/// every accepted job has exactly one final state; no duplicate final events; no gap in `seq`; a result
/// for every completed job; nothing ends `error`/`lost`; no attempt started twice.
func checkInvariants(_ history: [Event], jobs ids: [String], faults: Int, expectResults: Bool = true,
                     sourceLocation: SourceLocation = #_sourceLocation) -> FaultFigures {
    var figures = FaultFigures(jobs: ids.count, faults: faults, events: history.count)
    #expect(history.map(\.seq) == (0..<history.count).map { UInt64($0 + 1) },
            "seq has no gap", sourceLocation: sourceLocation)
    let wanted = Set(ids)
    var submitted: [String: Int] = [:]
    var finals: [String: [Event]] = [:]
    var starts: [String: Int] = [:]
    for event in history {
        guard let id = event.jobID, wanted.contains(id) else { continue }
        switch event.type {
        case .jobSubmitted: submitted[id, default: 0] += 1
        case .jobStarted: starts["\(id) attempt \(event.attempt ?? 0)", default: 0] += 1
        case .jobCompleted, .jobFailed, .jobCancelled: finals[id, default: []].append(event)
        case .jobRetrying: figures.retries += 1
        case .jobLateResult: figures.lateResults += 1
        default: break
        }
    }
    for id in ids {
        #expect(submitted[id] == 1, "\(id) submitted once", sourceLocation: sourceLocation)
        let ends = finals[id] ?? []
        #expect(ends.count == 1, "\(id) has exactly one final state, saw \(ends.map(\.type.rawValue))",
                sourceLocation: sourceLocation)
        guard let end = ends.first else { continue }
        if end.type == .jobCompleted {
            figures.completed += 1
            if expectResults { #expect(end.result != nil, "\(id) completed with its result", sourceLocation: sourceLocation) }
        }
        if end.type == .jobFailed && end.reason == FailureReason.lost.rawValue { figures.lost += 1 }
    }
    #expect(figures.lost == 0, "nothing lost", sourceLocation: sourceLocation)
    let twice = starts.filter { $0.value > 1 }.keys.sorted()
    #expect(twice.isEmpty, "started more than once: \(twice.prefix(5))", sourceLocation: sourceLocation)
    return figures
}

/// A batch whose job N sleeps a little and reports N as its result on fd 3.
func faultBatch(count: Int, sleep: String = "0.2") -> String {
    (1...count).map { "[\"sh\", \"-c\", \"sleep \(sleep); echo '{\\\"result\\\": \($0)}' >&3\"]" }
        .joined(separator: "\n")
}
