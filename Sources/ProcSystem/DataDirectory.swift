import Glibc

/// A data directory held by one process for its life: `claim` creates it if needed, checks that it is a
/// writable directory, and takes an exclusive lock (flock) on `DIR/lock`, which holds the owner's PID.
/// A second process that claims the same directory is refused at once, told who holds it, and touches
/// nothing of the first. The lock goes with the process (the kernel drops it at exit, also on kill -9), and
/// the descriptor is close-on-exec, so no job inherits it.
public final class DataDirectory: @unchecked Sendable {
    public let path: String
    private var lockDescriptor: Int32

    private init(path: String, lockDescriptor: Int32) {
        self.path = path
        self.lockDescriptor = lockDescriptor
    }

    deinit { release() }

    /// Lets the directory go (the owner stopped). Idempotent.
    public func release() {
        guard lockDescriptor >= 0 else { return }
        close(lockDescriptor)
        lockDescriptor = -1
    }

    /// The file the lock is taken on, in `directory`.
    public static let lockFileName = "lock"

    /// Creates `path` (and its parents) when missing and takes it for this process. `option` names where
    /// the path came from in messages ("--data-dir").
    public static func claim(_ path: String, option: String) throws(DataDirectoryError) -> DataDirectory {
        guard !path.isEmpty else {
            throw DataDirectoryError(.unusable, "\(option) is empty: give a directory (it is created if missing)")
        }
        guard !path.utf8.contains(0) else { throw DataDirectoryError(.unusable, "\(option) contains a NUL byte") }
        try makeDirectories(path, option: option)
        guard access(path, W_OK | X_OK) == 0 else {
            throw DataDirectoryError(.unusable, "\(option) \(path): \(errorText(errno)) for this user (uid \(geteuid())); "
                + "give a directory it may write to")
        }
        let lockPath = path.hasSuffix("/") ? path + lockFileName : path + "/" + lockFileName
        let descriptor = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard descriptor >= 0 else {
            throw DataDirectoryError(.unusable, "\(option) \(path): cannot create \(lockPath): \(errorText(errno)); "
                + "give a directory on a writable file system")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            let holder = readHolder(descriptor)
            close(descriptor)
            guard code == EWOULDBLOCK else {
                throw DataDirectoryError(.unusable, "\(option) \(path): cannot lock \(lockPath): \(errorText(code))")
            }
            let who = holder.map { pid in "process \(pid)" + (processName(pid).map { " (\($0))" } ?? "") }
                ?? "another process"
            throw DataDirectoryError(.inUse(holder),
                "\(option) \(path) is in use by \(who): one coordinator or agent at a time may own a data directory. "
                    + "Stop that one, or give this one another \(option)")
        }
        let text = Array("\(getpid())\n".utf8)
        if ftruncate(descriptor, 0) != 0 || pwrite(descriptor, text, text.count, 0) != text.count {
            let code = errno
            close(descriptor)
            throw DataDirectoryError(.unusable, "\(option) \(path): cannot write \(lockPath): \(errorText(code))")
        }
        return DataDirectory(path: path, lockDescriptor: descriptor)
    }

    /// `mkdir -p`, with each failure said for the component it happened at; `option` names the path's
    /// source in messages.
    public static func makeDirectories(_ path: String, option: String) throws(DataDirectoryError) {
        guard !path.isEmpty else { throw DataDirectoryError(.unusable, "\(option) is empty: give a directory") }
        var prefix = path.hasPrefix("/") ? "/" : ""
        let parts = path.split(separator: "/")
        for (index, part) in parts.enumerated() {
            prefix += (prefix.isEmpty || prefix.hasSuffix("/") ? "" : "/") + part
            var info = stat()
            if stat(prefix, &info) == 0 {
                guard info.st_mode & S_IFMT == S_IFDIR else {
                    let which = index == parts.count - 1 ? "" : " (a parent of \(path))"
                    throw DataDirectoryError(.unusable,
                        "\(option) \(path): \(prefix)\(which) exists and is not a directory; give a directory")
                }
                continue
            }
            guard mkdir(prefix, 0o755) == 0 || errno == EEXIST else {
                throw DataDirectoryError(.unusable, "\(option) \(path): cannot create \(prefix): \(errorText(errno))")
            }
        }
    }

    private static func readHolder(_ descriptor: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = pread(descriptor, &buffer, buffer.count, 0)
        guard count > 0 else { return nil }
        let digits = buffer.prefix(count).prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
        return Int32(String(decoding: digits, as: UTF8.self))
    }

    /// The program a process runs (its argv[0], without the directory), if it can be read.
    private static func processName(_ pid: Int32) -> String? {
        guard let bytes = try? readFileBytes("/proc/\(pid)/cmdline", limit: 1 << 20) else { return nil }
        let program = String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        let name = program.split(separator: "/").last.map(String.init) ?? program
        return name.isEmpty ? nil : name
    }
}

/// Why a data directory cannot be used; `description` says what to do.
public struct DataDirectoryError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// Another process holds it (its PID, when it could be read).
        case inUse(Int32?)
        /// Not a directory, not writable, or could not be created.
        case unusable
    }
    public let kind: Kind
    public let description: String
    init(_ kind: Kind, _ description: String) {
        self.kind = kind
        self.description = description
    }
}

/// strerror's text for an errno value.
public func errorText(_ code: Int32) -> String {
    String(cString: strerror(code))
}
