import ProcWire
/// What to run: argv[0] is the program (looked up in `environment["PATH"]` if it has no '/'), the environment is
/// exactly `environment` (nothing is inherited from the agent), `workingDirectory` nil means the agent's cwd.
/// `user` nil means the agent's own user; otherwise the program, its PATH lookup and the working directory are
/// reached with that user's rights (HOME, USER, LOGNAME are up to `environment`).
public struct SpawnSpec: Sendable {
    public var argv: [String]
    public var environment: [String: String]
    public var workingDirectory: String?
    public var user: RunAsUser?

    public init(argv: [String], environment: [String: String] = [:], workingDirectory: String? = nil,
                user: RunAsUser? = nil) {
        self.argv = argv
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.user = user
    }
}

/// A job that could not be started, e.g. `No such file or directory: 'nosuchcmd'`.
public struct SpawnFailure: Error, Sendable, CustomStringConvertible {
    public let errno: Int32
    public let message: String

    public init(errno: Int32, message: String) {
        self.errno = errno
        self.message = message
    }

    public var description: String { message }
}

public enum ExitStatus: Sendable, Equatable {
    /// Normal exit with this code. `.exited(-1)` means the status is unknown: the child was reaped by someone
    /// else (waitpid gave ECHILD), which only happens if another part of the process reaps tracked pids.
    case exited(Int32)
    case signaled(Int32)
}

/// What one line of the fd-3 channel says (`ChannelLine`, read by the wire's reader).
public enum ChannelMessage: Sendable, Equatable {
    /// `{"progress": 0.4, "message": "…"}` (the message may be missing).
    case progress(Double, String?)
    /// `{"result": <any JSON>}`.
    case result(JSONValue)
    /// `{"message": "…"}` without a "progress" key.
    case message(String)
    /// A line that is not a JSON object with a known key: its first 1 KiB.
    case invalid(String)
    /// A line longer than the line limit (1 MiB): its first 1 KiB.
    case tooLong(String)
    /// A function host: `{"done": true, "result": …}`, the call returned this (nil: null or none).
    case done(JSONValue?)
    /// A function host: `{"done": true, "error": {"type": …, "message": …}}`, the call threw.
    case thrown(ThrownError)
}
