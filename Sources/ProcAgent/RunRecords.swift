import Foundation
import Glibc
import ProcCore

/// What a run was, on disk while it runs (`runs/JOB-ATTEMPT.json`: the pid, which is also its process
/// group). If the agent is killed, its runs lose their observer: their output pipes and exit status die
/// with it. A restarted agent finds these records and ends what is left of those runs (SIGKILL to the
/// group), so no unobserved copy keeps running while the coordinator runs the job again.
struct RunRecords {
    struct Record: Codable {
        var jobID: JobID
        var attempt: Int
        var pid: Int32
        /// The process's start time (clock ticks since boot, /proc/PID/stat): tells it from a later
        /// process that reuses the pid.
        var startTime: UInt64?
    }

    static func startTime(of pid: Int32) -> UInt64? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        // Fields after the command: state is field 3; starttime is field 22.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 19 ? UInt64(fields[19]) : nil
    }

    private let directory: String?

    init(directory: String?) throws {
        self.directory = directory.map { $0 + "/runs" }
        if let dir = self.directory {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }
    }

    func add(_ record: Record) {
        guard let directory else { return }
        let path = directory + "/" + fileName(record.jobID, record.attempt)
        _ = FileManager.default.createFile(atPath: path + ".tmp", contents: Data(WireCoding.bytes(record)))
        _ = rename(path + ".tmp", path)
    }

    func remove(_ jobID: JobID, _ attempt: Int) {
        guard let directory else { return }
        try? FileManager.default.removeItem(atPath: directory + "/" + fileName(jobID, attempt))
    }

    /// Ends the leftovers of a previous agent process; returns the records it found.
    func endLeftovers() -> [Record] {
        guard let directory, let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else {
            return []
        }
        var found: [Record] = []
        for name in names {
            let path = directory + "/" + name
            defer { try? FileManager.default.removeItem(atPath: path) }
            guard name.hasSuffix(".json"), let data = FileManager.default.contents(atPath: path),
                let record = try? WireCoding.decode(Record.self, from: Array(data)), record.pid > 1
            else { continue }
            // Only if that process is still the job's leader: same start time, its own session.
            if let start = record.startTime, Self.startTime(of: record.pid) == start, getsid(record.pid) == record.pid {
                kill(-record.pid, SIGKILL)
            }
            found.append(record)
        }
        return found
    }

    private func fileName(_ jobID: JobID, _ attempt: Int) -> String {
        jobID.replacingOccurrences(of: "/", with: "_") + "-\(attempt).json"
    }
}
