import Foundation
import Glibc
import ProcCore

/// What a run was, on disk while it runs (a slot file in `runs/`, see `FileSlots`: the pid, which is
/// also its process group). If the agent is killed, its runs lose their observer: their output pipes and
/// exit status die with it. A restarted agent finds these records and ends what is left of those runs (SIGKILL to the
/// group), so no unobserved copy keeps running while the coordinator runs the job again.
final class RunRecords {
    typealias Record = RunRecord

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

    private let slots: FileSlots?
    private var slotOf: [RunRef: Int] = [:]
    /// Slots of runs that ended, still holding their records until `settle`: a run started meanwhile
    /// writes its record over one (`add`), which spares the write that would have cleared it.
    private var released: [Int] = []

    init(directory: String?) throws {
        slots = try directory.map { try FileSlots(directory: $0 + "/runs") }
    }

    func add(_ record: Record) {
        guard let slots else { return }
        let ref = RunRef(jobID: record.jobID, attempt: record.attempt)
        slotOf[ref] = slots.put(WireCoding.bytes(record), over: slotOf[ref] ?? released.popLast())
    }

    /// A run ended: its record stays on disk until `settle`, unless a run added before then takes its
    /// slot. Between the two, a restarted agent would find the record of a run that is over, and end
    /// nothing: its process is gone (`endLeftovers` checks the start time, so a reused pid is safe).
    func release(_ jobID: JobID, _ attempt: Int) {
        if let slot = slotOf.removeValue(forKey: RunRef(jobID: jobID, attempt: attempt)) { released.append(slot) }
    }

    /// Clears the released slots no run took.
    func settle() {
        for slot in released { slots?.clear(slot) }
        released.removeAll()
    }

    /// Ends the leftovers of a previous agent process; returns the records it found.
    func endLeftovers() -> [Record] {
        guard let slots else { return [] }
        var found: [Record] = []
        for entry in slots.load() {
            defer {
                if let slot = entry.slot { slots.clear(slot) } else { unlink(entry.path) }
            }
            guard let record = try? WireCoding.decode(Record.self, from: entry.bytes), record.pid > 1 else { continue }
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
}
