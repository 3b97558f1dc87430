import Foundation
import Glibc

/// A directory of small JSON files that are written over in place, never created and removed per use:
/// `slot-N.json`. A free slot holds only spaces, which no reader takes for JSON; a shorter record is
/// padded with spaces (valid JSON whitespace) over the end of a longer one.
///
/// Why: the agent keeps a run record and an outbox entry per job. Creating and unlinking a file is an
/// inode allocated and freed (ext4_create, evict: 20% of a separate agent's samples on W1), and
/// truncating one costs more still; writing over 200 bytes of an existing file costs a third as much
///.
///
/// No fsync: these files must outlive the agent *process* (a crash, kill -9, an upgrade), which the page
/// cache does; a host that loses power loses its running jobs anyway, and the coordinator runs them
/// again. (FileManager.createFile fsyncs every file: two per job, which once made a separate agent 4×
/// slower than single-host mode on W1.) A write of a few hundred bytes to a regular file is not cut by
/// the death of its process; a file that does not parse is treated as absent.
final class FileSlots {
    let directory: String
    /// The bytes each slot file holds (what a clear or a shorter write must cover).
    private var sizes: [Int] = []
    private var free: Set<Int> = []
    /// Open descriptors of the first `maxOpen` slots (an open costs as much as the write): the slots
    /// in use at once are the runs in flight and the results not yet acknowledged.
    private var descriptors: [Int: Int32] = [:]
    private static let maxOpen = 64

    /// What the directory held when opened, until `load` takes it.
    private var found: [(slot: Int?, path: String, bytes: [UInt8])] = []

    /// Opens the directory (creating it if need be) and reads what it holds, so that every slot's size
    /// is known before anything is written over it.
    init(directory: String) throws {
        self.directory = directory
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for name in try FileManager.default.contentsOfDirectory(atPath: directory) where name.hasSuffix(".json") {
            let path = directory + "/" + name
            let bytes = FileManager.default.contents(atPath: path).map { Array($0) } ?? []
            if name.hasPrefix("slot-"), let slot = Int(name.dropFirst(5).dropLast(5)), slot >= 0, slot < 1 << 20 {
                while sizes.count <= slot {
                    free.insert(sizes.count)
                    sizes.append(0)
                }
                sizes[slot] = bytes.count
                if bytes.contains(where: { $0 != UInt8(ascii: " ") }) {
                    free.remove(slot)
                    found.append((slot, path, bytes))
                }
            } else {
                found.append((nil, path, bytes))
            }
        }
    }

    deinit {
        for fd in descriptors.values { close(fd) }
    }

    /// The entries found on disk (once): slot files that hold more than spaces, and files of other
    /// names (one per entry, as an earlier version wrote them) with a nil slot. The caller keeps what it
    /// can read, `clear`s the slots it cannot and unlinks the other files.
    func load() -> [(slot: Int?, path: String, bytes: [UInt8])] {
        defer { found = [] }
        return found
    }

    /// Writes `bytes` into a free slot (or over `slot`, which holds an earlier version of the same
    /// entry) and returns the slot. Nil when the write failed (the entry is then only in memory).
    func put(_ bytes: [UInt8], over slot: Int? = nil) -> Int? {
        let slot = slot ?? takeFree()
        let written = write(slot, bytes)
        if !written { release(slot) }
        return written ? slot : nil
    }

    /// Frees a slot: its file is overwritten with spaces.
    func clear(_ slot: Int) {
        guard slot < sizes.count, !free.contains(slot) else { return }
        _ = write(slot, [])
        release(slot)
    }

    private func takeFree() -> Int {
        if let slot = free.min() {
            free.remove(slot)
            return slot
        }
        sizes.append(0)
        return sizes.count - 1
    }

    private func release(_ slot: Int) { free.insert(slot) }

    private func path(_ slot: Int) -> String { directory + "/slot-" + String(slot) + ".json" }

    /// One pwrite at offset 0 (with an open and a close past the first `maxOpen` slots): `bytes`, then
    /// spaces to the file's old size.
    private func write(_ slot: Int, _ bytes: [UInt8]) -> Bool {
        var data = bytes
        if data.count < sizes[slot] { data += [UInt8](repeating: UInt8(ascii: " "), count: sizes[slot] - data.count) }
        guard !data.isEmpty else { return true }
        var fd = descriptors[slot] ?? -1
        if fd < 0 {
            fd = open(path(slot), O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
            guard fd >= 0 else { return false }
            if slot < Self.maxOpen { descriptors[slot] = fd }
        }
        defer { if slot >= Self.maxOpen { close(fd) } }
        var done = 0
        while done < data.count {
            let n = data.withUnsafeBytes { pwrite(fd, $0.baseAddress! + done, data.count - done, off_t(done)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            done += n
        }
        sizes[slot] = max(sizes[slot], done)
        if done < data.count {
            // A short write (the disk is full): blank what reached the file, so it does not read as an
            // older entry.
            _ = [UInt8](repeating: UInt8(ascii: " "), count: done).withUnsafeBytes { pwrite(fd, $0.baseAddress!, done, 0) }
            return false
        }
        return true
    }
}
