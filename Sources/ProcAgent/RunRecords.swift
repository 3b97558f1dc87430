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
        /// When the process started, in clock ticks since boot (the unit of /proc/PID/stat's starttime):
        /// tells it from a later process that reuses the pid. Taken from CLOCK_BOOTTIME at the spawn, not
        /// read from /proc, which cost more than the rest of a launch; so it is compared with a tolerance.
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

    /// Clock ticks per second (the unit of /proc/PID/stat's times).
    static let hertz = UInt64(max(1, sysconf(Int32(_SC_CLK_TCK))))

    /// Now, in clock ticks since boot (within a tick of what /proc/PID/stat says of a process spawned now).
    static func bootTicks() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_BOOTTIME, &now)
        return UInt64(now.tv_sec) * hertz + UInt64(now.tv_nsec) * hertz / 1_000_000_000
    }

    /// A recorded start and the process's real one agree: the same process (a reused pid would have
    /// started later, by at least the time the pids took to wrap around).
    static func sameStart(_ recorded: UInt64, _ actual: UInt64) -> Bool {
        return (recorded > actual ? recorded - actual : actual - recorded) <= hertz
    }

    static func startTime(of pid: Int32) -> UInt64? {
        // Read with plain read(2): Foundation maps the file, which cost more than the rest of a launch.
        var buffer = [UInt8](repeating: 0, count: 1024)
        let fd = open("/proc/\(pid)/stat", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
        guard count > 0, let close = buffer[..<count].lastIndex(of: UInt8(ascii: ")")) else { return nil }
        // Fields after the command: state is field 3; starttime is field 22.
        let fields = buffer[(close + 1)..<count].split(separator: UInt8(ascii: " "))
        guard fields.count > 19 else { return nil }
        return UInt64(String(decoding: fields[19], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
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
        writeFile(directory + "/" + fileName(record.jobID, record.attempt), WireCoding.bytes(record))
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
            if let start = record.startTime, let actual = Self.startTime(of: record.pid), Self.sameStart(start, actual),
                getsid(record.pid) == record.pid
            {
                kill(-record.pid, SIGKILL)
            }
            found.append(record)
        }
        return found
    }

    /// Job ids hold no "/" (`Agent.isUsableJobID`).
    private func fileName(_ jobID: JobID, _ attempt: Int) -> String {
        jobID + "-" + String(attempt) + ".json"
    }
}

/// Writes `bytes` to `path` (created or truncated): one open, one write, one close. No fsync: these
/// files must outlive the agent *process* (a crash, kill -9, an upgrade), which the page cache does; a
/// host that loses power loses its running jobs anyway, and the coordinator runs them again.
/// FileManager.createFile fsyncs every file: two per job, which made a separate agent 4× slower than
/// single-host mode on W1. No temporary file and rename either: a process killed mid-way leaves an
/// empty or cut file, which readers treat as absent, the same outcome as being killed a moment before
/// the open. (A write of a few hundred bytes to a regular file is not cut by the death of its process.)
func writeFile(_ path: String, _ bytes: [UInt8]) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { return }
    var written = 0
    while written < bytes.count {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, bytes.count - written) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { break }
        written += n
    }
    close(fd)
    if written < bytes.count { unlink(path) }
}
