import CSpawn
import Glibc
import ProcWire

/// Keeps the last `limit` bytes of a stream plus the total byte count.
struct OutputTail {
    let limit: Int
    private(set) var bytes: [UInt8] = []
    private(set) var total = 0
    var truncated: Bool { total > bytes.count }

    init(limit: Int) { self.limit = max(0, limit) }

    mutating func append(_ chunk: UnsafeRawBufferPointer) {
        total += chunk.count
        if chunk.count >= limit {
            bytes = Array(chunk.suffix(limit))
        } else {
            let excess = bytes.count + chunk.count - limit
            if excess > 0 { bytes.removeFirst(excess) }
            bytes.append(contentsOf: chunk)
        }
    }

    /// Lossy UTF-8. When the front was cut off it may start inside a multi-byte character: skip those
    /// continuation bytes instead of showing a replacement character.
    var text: String {
        var start = 0
        if truncated { while start < min(3, bytes.count), bytes[start] & 0xC0 == 0x80 { start += 1 } }
        return String(decoding: bytes[start...], as: UTF8.self)
    }
}

/// One job running as a local subprocess, in its own session / process group (pgid == pid), with
/// stdin = /dev/null, stdout and stderr captured into bounded tails, and a line-oriented JSON channel on fd 3.
///
/// Not thread-safe: drive it from one thread (the agent's event loop). Typical loop: poll(2) `pollDescriptors`,
/// call `handleReadable` for each ready fd, and `reapIfExited` when the pidfd is ready (or periodically).
public final class JobProcess {
    public let pid: pid_t
    public private(set) var stdoutTruncated = false
    public private(set) var stderrTruncated = false

    private static let chunkSize = 64 * 1024
    /// Per-call read budget per fd, so one chatty job cannot starve the loop (poll is level-triggered, the rest
    /// is read on the next round).
    private static let readBudget = 16 * chunkSize

    private enum Stream: Int { case stdout = 0, stderr = 1, channel = 2 }
    private var fds: [Int32]  // parent read ends, indexed by Stream; -1 once closed
    /// The child's pidfd, readable once it has exited; -1 once it is reaped.
    public private(set) var pidfd: Int32
    private var tails: [OutputTail]
    private var splitter = ChannelLineSplitter()
    private var status: ExitStatus?
    private var drained: [ChannelMessage] = []
    /// Where the child reports a step that failed after the spawn returned (`cspawn_spawn_early`); read once
    /// it is reaped. Freed by deinit only then: until then the child may still write to it.
    private let report: UnsafeMutablePointer<cspawn_report>
    private let spec: SpawnSpec
    /// The child could not run the program after all (a working directory or an execve that failed in the
    /// child): known once it is reaped, and then the exit status (127) means nothing.
    public private(set) var spawnFailure: SpawnFailure?

    /// Every child's stdin: /dev/null, opened once for the process (close-on-exec; each child gets it
    /// through dup2). Opening and closing it for each spawn was about 2% of a single-host coordinator's samples.
    /// (If that first open failed, each spawn opens its own, as before.)
    private static let sharedDevNull: Int32 = open("/dev/null", O_RDONLY | O_CLOEXEC)

    /// A function host that marks the end of each call's output (`OutputMark`): stdout and stderr are
    /// split at the marks, so that the output of a call written ahead is not taken for the current one's.
    /// Set before the first call.
    public var splitsAtMarks = false {
        didSet { marks = splitsAtMarks ? [MarkedStream(), MarkedStream()] : [] }
    }
    private var marks: [MarkedStream] = []

    /// The write end of the child's stdin when it was started with `input` (a function host reads its
    /// calls there; non-blocking); -1 otherwise, or once closed.
    public private(set) var inputFD: Int32 = -1

    /// `input`: the child's stdin is a pipe from us (`writeInput`), not /dev/null.
    public init(spec: SpawnSpec, outputLimit: Int = 64 * 1024, input: Bool = false) throws(SpawnFailure) {
        guard let program = spec.argv.first else { throw SpawnFailure(errno: EINVAL, message: "Empty argv") }
        tails = [OutputTail(limit: outputLimit), OutputTail(limit: outputLimit)]
        self.spec = spec
        let report = UnsafeMutablePointer<cspawn_report>.allocate(capacity: 1)
        report.initialize(to: cspawn_report(step: 0, err: 0))
        self.report = report
        // Every throw below leaves no child behind (or one already reaped): the report can go.
        var spawned = false
        defer { if !spawned { report.deallocate() } }

        // All fds are O_CLOEXEC so that other spawns (e.g. from other threads) never inherit them; the child
        // gets its ends through dup2 onto fds 0..3, which clears close-on-exec there.
        // read, write of stdout, stderr, fd 3; with `input` also read (the child's stdin), write (ours).
        let ends = try Self.pipes(input ? 4 : 3)
        func closeAll() { for fd in ends { close(fd) } }
        let ownDevNull = Self.sharedDevNull >= 0 || input ? -1 : open("/dev/null", O_RDONLY | O_CLOEXEC)
        let devNull = input ? ends[6] : Self.sharedDevNull >= 0 ? Self.sharedDevNull : ownDevNull
        guard devNull >= 0 else {
            let e = errno
            closeAll()
            throw SpawnFailure(errno: e, message: "/dev/null: \(Self.osMessage(e))")
        }

        var childPid: pid_t = 0
        var clonedPidfd: Int32 = -1
        let argvList = CStringList(spec.argv)
        let envpList = CStringList(spec.environment)
        defer {
            argvList.deallocate()
            envpList.deallocate()
        }
        let (argv, envp) = (argvList.pointers, envpList.pointers)
        var step: Int32 = CSPAWN_STEP_UNKNOWN
        let (stdout, stderr, channel) = (ends[1], ends[3], ends[5])
        let rc = spec.workingDirectory.withOptionalCString { cwd in
            Self.withCredentials(of: spec.user) { user in
                // Without a user to switch to, the spawn returns once the child exists, not once it has
                // exec'd (the loop goes on meanwhile); a later failure comes through `report`.
                user == nil
                    ? cspawn_spawn_early(&childPid, &clonedPidfd, program, argv, envp, cwd, devNull, stdout, stderr,
                                         channel, &step, report)
                    : cspawn_spawn_as(&childPid, program, argv, envp, cwd, devNull, stdout, stderr, channel,
                                      user, &step)
            }
        }
        if ownDevNull >= 0 { close(ownDevNull) }
        for w in [ends[1], ends[3], ends[5]] { close(w) }
        if input { close(ends[6]) }
        let reads = [ends[0], ends[2], ends[4]]
        guard rc == 0 else {
            for r in reads { close(r) }
            if input { close(ends[7]) }
            throw SpawnFailure(errno: rc, message: Self.failureMessage(rc, step: step, program: program, spec: spec))
        }

        let pfd: Int32
        do { pfd = try Self.pidfd(of: childPid, cloned: clonedPidfd) } catch {
            for r in reads { close(r) }
            if input { close(ends[7]) }
            throw error
        }
        // A new pipe's read end has no status flag set: no need to read them first.
        for r in reads { _ = fcntl(r, F_SETFL, O_NONBLOCK) }
        if input {
            _ = fcntl(ends[7], F_SETFL, O_NONBLOCK)
            inputFD = ends[7]
        }
        pid = childPid
        pidfd = pfd
        fds = reads
        spawned = true
    }

    /// `count` close-on-exec pipes, their ends in pairs (read, write); none left open when one fails.
    private static func pipes(_ count: Int) throws(SpawnFailure) -> [Int32] {
        var ends: [Int32] = []
        for _ in 0..<count {
            var p: [Int32] = [-1, -1]
            guard cspawn_pipe_cloexec(&p) == 0 else {
                let e = errno
                for fd in ends { close(fd) }
                throw SpawnFailure(errno: e, message: "pipe2: \(osMessage(e))")
            }
            ends += p
        }
        return ends
    }

    /// The child's pidfd (the one its clone made, or a new one). Without it the caller could not learn of
    /// the exit: the spawn is undone (the child killed and reaped) rather than limp on.
    private static func pidfd(of child: pid_t, cloned: Int32) throws(SpawnFailure) -> Int32 {
        let pfd = cloned >= 0 ? cloned : cspawn_pidfd_open(child)
        guard pfd < 0 else { return pfd }
        let e = errno
        kill(child, SIGKILL)  // it may not have its own process group yet
        kill(-child, SIGKILL)
        var st: Int32 = 0
        while waitpid(child, &st, 0) < 0 && errno == EINTR {}
        throw SpawnFailure(errno: e, message: "pidfd_open: \(osMessage(e))")
    }

    deinit {
        // An unreaped child is not killed here; once nobody tracks it, the agent's `reapOrphans` collects it.
        // It may still write its report then, so that stays (16 bytes).
        closeFDs()
        if status != nil { report.deallocate() }
    }

    /// Open pipe read ends plus the pidfd (until the child is reaped): the fds to poll for POLLIN. The pidfd
    /// comes last, so a loop that registers them in this order sees a pipe's hang-up before the exit when both
    /// come at once, and the reap has no pipe left to drain.
    public var pollDescriptors: [Int32] {
        fds.filter { $0 >= 0 } + (pidfd >= 0 ? [pidfd] : [])
    }

    /// Whether `fd` is one of this process's pipes or its pidfd, still open.
    public func isOpen(_ fd: Int32) -> Bool { fd >= 0 && (fd == pidfd || fds.contains(fd)) }

    public var stdoutTail: String { tails[Stream.stdout.rawValue].text }
    public var stderrTail: String { tails[Stream.stderr.rawValue].text }
    /// Total bytes read so far, including those dropped from the tail.
    public var stdoutByteCount: Int { tails[Stream.stdout.rawValue].total }
    public var stderrByteCount: Int { tails[Stream.stderr.rawValue].total }

    /// Reads what is available on `fd` (up to a per-call budget). Output goes to the tails, channel lines come
    /// back as messages. EOF closes the fd. The pidfd (or an unknown fd) yields []: call `reapIfExited` then.
    /// `hungUp`: poll said the pipe has nothing left and no writer (POLLHUP without POLLIN), so it is closed
    /// without a read, which would return 0. A /bin/true job's three pipes end this way: three reads fewer.
    public func handleReadable(_ fd: Int32, hungUp: Bool = false) -> [ChannelMessage] {
        guard fd >= 0, let index = fds.firstIndex(of: fd), let stream = Stream(rawValue: index) else { return [] }
        var out: [ChannelMessage] = []
        if hungUp {
            ended(stream, into: &out)
        } else {
            drain(stream, into: &out)
        }
        return out
    }

    /// Writes what it can of `bytes` to the child's stdin without blocking: the count written (maybe 0, the
    /// pipe being full), or nil when the child's stdin is closed (it exited, or closed it). SIGPIPE must be
    /// blocked or ignored in the calling thread (`Agent` blocks it in its loop thread).
    public func writeInput(_ bytes: UnsafeRawBufferPointer) -> Int? {
        guard inputFD >= 0 else { return nil }
        while true {
            let n = write(inputFD, bytes.baseAddress, bytes.count)
            if n >= 0 { return n }
            if errno == EINTR { continue }
            if errno == EAGAIN { return 0 }
            return nil
        }
    }

    /// Closes the child's stdin: a function host ends when it reads its end.
    public func closeInput() {
        if inputFD >= 0 { close(inputFD) }
        inputFD = -1
    }

    /// Reads what stdout and stderr hold now (a function host's call is over: what it printed is its
    /// output, up to its marks when it writes them); channel lines are not touched.
    public func drainOutput() {
        var none: [ChannelMessage] = []
        for stream in [Stream.stdout, .stderr] {
            let index = stream.rawValue
            // A marked stream is read to its mark (the host wrote it before its answer), past the budget.
            while fds[index] >= 0, drain(stream, into: &none), !marks.isEmpty, !marks[index].sealed {}
            if !marks.isEmpty { marks[index].flush { tails[index].append($0) } }
        }
        noteTruncation()
    }

    /// Starts the output tails anew (a function host's next call): with marks, what was read past the last
    /// call's mark is the new call's.
    public func resetOutput() {
        tails = tails.map { OutputTail(limit: $0.limit) }
        for index in marks.indices { marks[index].nextCall { tails[index].append($0) } }
        noteTruncation()
    }

    private func noteTruncation() {
        stdoutTruncated = tails[Stream.stdout.rawValue].truncated
        stderrTruncated = tails[Stream.stderr.rawValue].truncated
    }

    /// Channel messages read by the final drain in `reapIfExited` (including a last line without newline).
    /// Call after `reapIfExited` returned a status; each message is returned once.
    public func takeDrainedMessages() -> [ChannelMessage] {
        defer { drained = [] }
        return drained
    }

    /// Non-blocking waitpid for this child. On exit: drains the pipes once more without waiting for EOF (a
    /// background grandchild may keep them open forever), closes all fds and returns the status. Once exited it
    /// keeps returning the same status.
    public func reapIfExited() -> ExitStatus? {
        if let status { return status }
        var raw: Int32 = 0
        let r = waitpid(pid, &raw, WNOHANG)
        if r == 0 || (r < 0 && errno != ECHILD) { return nil }  // still running, or EINTR: try again later
        let s: ExitStatus
        if r < 0 {
            s = .exited(-1)
        } else if cspawn_wifsignaled(raw) != 0 {
            s = .signaled(cspawn_wtermsig(raw))
        } else {
            s = .exited(cspawn_wexitstatus(raw))
        }
        status = s
        if r == pid, report.pointee.err != 0 {
            let (e, step) = (report.pointee.err, report.pointee.step)
            spawnFailure = SpawnFailure(
                errno: e, message: Self.failureMessage(e, step: step, program: spec.argv[0], spec: spec))
        }
        for stream in [Stream.stdout, .stderr, .channel] where fds[stream.rawValue] >= 0 {
            drain(stream, into: &drained)
        }
        splitter.finish(into: &drained)
        closeFDs()
        return s
    }

    /// kill(-pid, signal): the whole process group, including background grandchildren. Still meaningful
    /// after the leader was reaped: the group lives on while any member does. A group that is gone is not
    /// an error.
    public func signalGroup(_ signal: Int32) {
        // Just after the spawn the child may not have made its process group yet (setsid, before its
        // execve): then the signal goes to it alone, blocked until it has reset its handlers.
        if kill(-pid, signal) != 0 && errno == ESRCH && status == nil { _ = kill(pid, signal) }
    }

    /// Reads what `stream` holds, up to the budget: true when the budget ran out (more may wait).
    @discardableResult
    private func drain(_ stream: Stream, into out: inout [ChannelMessage]) -> Bool {
        let fd = fds[stream.rawValue]
        let index = stream.rawValue
        let more = withUnsafeTemporaryAllocation(byteCount: Self.chunkSize, alignment: 1) { buffer -> Bool in
            var budget = Self.readBudget
            while budget > 0 {
                let n = read(fd, buffer.baseAddress, buffer.count)
                if n < 0 {
                    if errno == EINTR { continue }
                    if errno == EAGAIN { return false }
                }
                if n <= 0 {  // EOF, or a hard error (treated alike: nothing more will come)
                    ended(stream, into: &out)
                    return false
                }
                let chunk = UnsafeRawBufferPointer(rebasing: buffer[..<n])
                budget -= n
                switch stream {
                case .stdout, .stderr:
                    if marks.isEmpty {
                        tails[index].append(chunk)
                    } else {
                        marks[index].feed(chunk) { tails[index].append($0) }
                    }
                case .channel: splitter.feed(chunk, into: &out)
                }
            }
            return true
        }
        noteTruncation()
        return more
    }

    /// A pipe at its end: closed; a last channel line without newline, or bytes held back as a possible
    /// mark's start, are the current call's.
    private func ended(_ stream: Stream, into out: inout [ChannelMessage]) {
        let index = stream.rawValue
        close(fds[index])
        fds[index] = -1
        if stream == .channel {
            splitter.finish(into: &out)
        } else if !marks.isEmpty {
            marks[index].flush { tails[index].append($0) }
        }
    }

    private func closeFDs() {
        closeInput()
        for fd in fds where fd >= 0 { close(fd) }
        fds = [-1, -1, -1]
        if pidfd >= 0 { close(pidfd) }
        pidfd = -1
    }

    static func osMessage(_ e: Int32) -> String { String(cString: strerror(e)) }

    /// The user's ids for `cspawn_spawn_as`, or nil for the vfork path (no user, or nothing to change).
    private static func withCredentials<R>(of user: RunAsUser?, _ body: (UnsafePointer<cspawn_user>?) -> R) -> R {
        guard let user, user.needsSwitch else { return body(nil) }
        return user.groups.withUnsafeBufferPointer { groups in
            var credentials = cspawn_user(
                uid: user.uid, gid: user.gid, groups: groups.baseAddress, ngroups: groups.count)
            return body(&credentials)
        }
    }

    /// The child says which step failed. Where it cannot (the PATH lookup, step unknown) and a working
    /// directory is set, a missing or non-directory cwd is the likelier culprit for ENOENT/ENOTDIR/EACCES,
    /// so check it and name it.
    private static func failureMessage(_ e: Int32, step: Int32, program: String, spec: SpawnSpec) -> String {
        switch step {
        case CSPAWN_STEP_EXEC: return "\(osMessage(e)): '\(program)'"
        case CSPAWN_STEP_CHDIR: return "\(osMessage(e)): working directory '\(spec.workingDirectory ?? "")'"
        case CSPAWN_STEP_SETGROUPS, CSPAWN_STEP_SETGID, CSPAWN_STEP_SETUID:
            let call = step == CSPAWN_STEP_SETGROUPS ? "setgroups" : step == CSPAWN_STEP_SETGID ? "setgid" : "setuid"
            return "\(osMessage(e)): cannot run as user '\(spec.user?.name ?? "")' (\(call))"
        case CSPAWN_STEP_PREPARE, CSPAWN_STEP_SETSID, CSPAWN_STEP_SIGNALS, CSPAWN_STEP_FDS:
            let what = [CSPAWN_STEP_PREPARE: "preparing the spawn (pipe, fork)", CSPAWN_STEP_SETSID: "setsid",
                        CSPAWN_STEP_SIGNALS: "signal mask"][step] ?? "file descriptors"
            return "\(osMessage(e)): \(what) ('\(program)')"
        default: break
        }
        if let cwd = spec.workingDirectory, e == ENOENT || e == ENOTDIR || e == EACCES {
            var st = stat()
            let cwdError: Int32? = stat(cwd, &st) != 0 ? errno
                : (st.st_mode & S_IFMT) != S_IFDIR ? ENOTDIR
                : access(cwd, X_OK) != 0 ? errno : nil
            if let cwdError { return "\(osMessage(cwdError)): working directory '\(cwd)'" }
        }
        return "\(osMessage(e)): '\(program)'"
    }
}

/// Reaps exited children that are orphans of our jobs: processes re-parented to us (a child subreaper)
/// that still belong to the session of a job we started (`sessions`: each job runs in its own session,
/// whose id is the job's pid). Children in `tracked` are left to their owner (`reapIfExited`).
///
/// It never reaps anybody else's child, so a process that has children of its own (an app using the
/// library, a test runner) keeps its `waitpid`s. Our children are listed from /proc (every thread's
/// `children` file), so a foreign zombie does not hide ours. Returns how many were reaped.
public func reapOrphans(excluding tracked: Set<pid_t>, sessions: Set<pid_t>) -> Int {
    guard !sessions.isEmpty else { return 0 }
    var reaped = 0
    // A job's own process is in `sessions` by its pid even if it died before its setsid.
    for pid in childProcesses() where !tracked.contains(pid)
        && (sessions.contains(pid) || sessions.contains(getsid(pid))) {
        var raw: Int32 = 0
        if waitpid(pid, &raw, WNOHANG) == pid { reaped += 1 }  // 0 while it still runs
    }
    return reaped
}

/// The pids of this process's children, from /proc/self/task/*/children.
func childProcesses() -> [pid_t] {
    guard let tasks = opendir("/proc/self/task") else { return [] }
    defer { closedir(tasks) }
    var children: [pid_t] = []
    var buffer = [UInt8](repeating: 0, count: 64 * 1024)
    while let entry = readdir(tasks) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        guard let tid = Int(name) else { continue }
        let fd = open("/proc/self/task/\(tid)/children", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { continue }
        defer { close(fd) }
        var text: [UInt8] = []
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            text += buffer.prefix(count)
        }
        children += text.split(separator: UInt8(ascii: " ")).compactMap { pid_t(String(decoding: $0, as: UTF8.self)) }
    }
    return children
}

/// C strings for execve's argv or envp, in two allocations: the bytes, and the NULL-terminated pointers into
/// them. (A strdup and, for the environment, a string interpolation for each entry were about 2% of the
/// single-host loop on W1.) Freed by `deallocate`.
struct CStringList {
    let pointers: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
    private let bytes: UnsafeMutablePointer<CChar>

    /// Each string as it is.
    init(_ strings: [String]) {
        self.init { visit in for string in strings { visit(string, nil) } }
    }

    /// "name=value" for each entry.
    init(_ environment: [String: String]) {
        self.init { visit in for (name, value) in environment { visit(name, value) } }
    }

    /// `entries` calls its argument for each string: a part, and a second one to join with "=" (or nil). It is
    /// called twice, to measure and then to copy, and must visit the same strings both times.
    private init(_ entries: ((String, String?) -> Void) -> Void) {
        var count = 0
        var total = 0
        entries { first, second in
            count += 1
            total += first.utf8.count + 1 + (second.map { $0.utf8.count + 1 } ?? 0)
        }
        let bytes = UnsafeMutablePointer<CChar>.allocate(capacity: max(total, 1))
        let pointers = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: count + 1)
        var offset = 0
        var index = 0
        func put(_ string: String) {
            let copied = string.utf8.withContiguousStorageIfAvailable { utf8 -> Bool in
                if let base = utf8.baseAddress { UnsafeMutableRawPointer(bytes + offset).copyMemory(from: base, byteCount: utf8.count) }
                return true
            }
            if copied == nil {
                var at = offset
                for byte in string.utf8 { bytes[at] = CChar(bitPattern: byte); at += 1 }
            }
            offset += string.utf8.count
        }
        entries { first, second in
            pointers[index] = bytes + offset
            index += 1
            put(first)
            if let second {
                bytes[offset] = CChar(UInt8(ascii: "="))
                offset += 1
                put(second)
            }
            bytes[offset] = 0
            offset += 1
        }
        pointers[index] = nil
        self.bytes = bytes
        self.pointers = pointers
    }

    func deallocate() {
        bytes.deallocate()
        pointers.deallocate()
    }
}

extension Optional where Wrapped == String {
    fileprivate func withOptionalCString<R>(_ body: (UnsafePointer<CChar>?) -> R) -> R {
        switch self {
        case .some(let s): return s.withCString { body($0) }
        case .none: return body(nil)
        }
    }
}
