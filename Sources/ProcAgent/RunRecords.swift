import Foundation
import Glibc
import ProcCore

/// What a run was, on disk while it runs (`runs/JOB-ATTEMPT.json`: the pid, which is also its process
/// group). If the agent is killed, its runs lose their observer: their output pipes and exit status die
/// with it. A restarted agent finds these records and ends what is left of those runs (SIGKILL to the
/// group), so no unobserved copy keeps running while the coordinator runs the job again.
struct RunRecords {
    struct Record: Codable, JSONWritable {
        var jobID: JobID
        var attempt: Int
        var pid: Int32
        /// The process's start time (clock ticks since boot, /proc/PID/stat): tells it from a later
        /// process that reuses the pid.
        var startTime: UInt64?

        func write(to writer: inout JSONWriter) {
            writer.beginObject()
            writer.key("jobID"); writer.string(jobID)
            writer.key("attempt"); writer.int(attempt)
            writer.key("pid"); writer.int(pid)
            writer.field("startTime", startTime)
            writer.endObject()
        }
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
        replaceFile(directory + "/" + fileName(record.jobID, record.attempt), with: WireCoding.bytes(record))
    }

    func remove(_ jobID: JobID, _ attempt: Int) {
        guard let directory else { return }
        unlink(directory + "/" + fileName(jobID, attempt))
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

/// Writes `bytes` to `path` through a temporary file and a rename, so a reader sees the old file or the
/// new one, never half of it. No fsync: these files must outlive the agent *process* (a crash, kill -9,
/// an upgrade), which the page cache does; a host that loses power loses its running jobs anyway, and
/// the coordinator runs them again. FileManager.createFile fsyncs every file: two per job, which made a
/// separate agent 4× slower than single-host mode on W1.
func replaceFile(_ path: String, with bytes: [UInt8]) {
    let temporary = path + ".tmp"
    let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { return }
    var written = 0
    while written < bytes.count {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, bytes.count - written) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { break }
        written += n
    }
    close(fd)
    if written == bytes.count { rename(temporary, path) } else { unlink(temporary) }
}
