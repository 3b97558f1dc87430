import Glibc

/// The user jobs run as (`proc-agent join --run-as USER`), resolved once, when the agent starts, from the
/// user database. Changing to another user needs root; an agent that is not root can only name itself.
public struct RunAsUser: Sendable, Equatable {
    public var name: String
    public var uid: uid_t
    public var gid: gid_t
    /// The supplementary groups (getgrouplist: the primary group and every group that lists `name`).
    public var groups: [gid_t]
    public var home: String

    public init(name: String, uid: uid_t, gid: gid_t, groups: [gid_t], home: String) {
        self.name = name
        self.uid = uid
        self.gid = gid
        self.groups = groups
        self.home = home
    }

    /// Looks `user` up as a user name, else as a numeric uid ("nobody", "65534").
    public static func lookup(_ user: String) throws(UserLookupError) -> RunAsUser {
        if let found = try entry(user, byName: true) { return found }
        if let uid = uid_t(user), let found = try entry(user, byName: false, uid: uid) { return found }
        throw UserLookupError(user: user, errno: 0)
    }

    /// HOME, USER and LOGNAME as a login would set them, for a job that runs as this user.
    public var environment: [String: String] { ["HOME": home, "USER": name, "LOGNAME": name] }

    /// Whether a spawn has to change credentials: always as root (which may also name itself), otherwise only
    /// if this is another user (which then fails with EPERM, reported as a spawn failure).
    var needsSwitch: Bool { geteuid() == 0 || uid != geteuid() || gid != getegid() }

    private static func entry(_ user: String, byName: Bool, uid: uid_t = 0) throws(UserLookupError) -> RunAsUser? {
        var size = max(1024, sysconf(Int32(_SC_GETPW_R_SIZE_MAX)))
        while true {
            var record = passwd()
            var result: UnsafeMutablePointer<passwd>?
            let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: size)
            defer { buffer.deallocate() }
            let rc = byName
                ? getpwnam_r(user, &record, buffer, size, &result)
                : getpwuid_r(uid, &record, buffer, size, &result)
            if rc == ERANGE && size < 1 << 20 {
                size *= 2
                continue
            }
            // man getpwnam_r: 0, ENOENT, ESRCH, EBADF and EPERM can all mean "not found".
            if result == nil && [0, ENOENT, ESRCH, EBADF, EPERM].contains(rc) { return nil }
            guard rc == 0, let found = result?.pointee else { throw UserLookupError(user: user, errno: rc) }
            let name = String(cString: found.pw_name)
            return RunAsUser(name: name, uid: found.pw_uid, gid: found.pw_gid,
                             groups: try groupList(name, found.pw_gid, user: user), home: String(cString: found.pw_dir))
        }
    }

    private static func groupList(_ name: String, _ gid: gid_t, user: String) throws(UserLookupError) -> [gid_t] {
        var capacity: Int32 = 64
        while capacity <= 1 << 16 {
            var groups = [gid_t](repeating: 0, count: Int(capacity))
            var count = capacity
            if getgrouplist(name, gid, &groups, &count) >= 0 { return Array(groups.prefix(Int(count))) }
            capacity = max(count, capacity * 2)  // -1: `count` now says how many there are
        }
        throw UserLookupError(user: user, errno: E2BIG)
    }
}

/// `--run-as` named a user the user database does not know, or the lookup failed.
public struct UserLookupError: Error, Sendable, CustomStringConvertible {
    public let user: String
    /// 0: no such user.
    public let errno: Int32

    public var description: String {
        errno == 0
            ? "no user '\(user)' (neither a user name nor a uid in the user database)"
            : "cannot look up user '\(user)': \(String(cString: strerror(errno)))"
    }
}
