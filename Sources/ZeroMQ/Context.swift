import CZeroMQ

/// A libzmq context. Thread-safe; one per process is enough.
public final class ZMQContext: @unchecked Sendable {
    let handle: UnsafeMutableRawPointer
    private let lock = Mutex()
    private var terminated = false

    public init(ioThreads: Int32 = 1) {
        guard let handle = zmq_ctx_new() else { fatalError("zmq_ctx_new failed: out of memory") }
        zmq_ctx_set(handle, ZMQ_IO_THREADS, ioThreads)
        // Sockets are created and closed by the loops that own them; this only bounds the count.
        zmq_ctx_set(handle, ZMQ_MAX_SOCKETS, 65_536)
        self.handle = handle
    }

    /// Ends the context. Every socket must be closed first (with linger 0), or this blocks. Idempotent.
    public func terminate() {
        guard lock.withLock({ () -> Bool in
            defer { terminated = true }
            return !terminated
        }) else { return }
        while zmq_ctx_term(handle) != 0 && zmq_errno() == EINTR {}
    }

    /// libzmq's version as "major.minor.patch".
    public static var version: String {
        var major: Int32 = 0, minor: Int32 = 0, patch: Int32 = 0
        zmq_version(&major, &minor, &patch)
        return "\(major).\(minor).\(patch)"
    }
}
