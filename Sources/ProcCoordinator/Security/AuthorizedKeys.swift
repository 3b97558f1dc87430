import Glibc
import ProcCore
import ZeroMQ

/// The public keys a coordinator lets in, each with its role, read from a directory of certificates in
/// the zcert/pyzmq format:
///
///     DIR/NAME.key            role from the certificate's metadata (`role = "agent"`)
///     DIR/agent/NAME.key      role agent    (likewise client/ and observer/): certificates from tools
///     DIR/client/NAME.key                   that write no metadata, such as pyzmq's create_certificates,
///     DIR/observer/NAME.key                 work as they are
///
/// A certificate in a role folder has that folder's role, whatever its metadata says (the metadata is
/// written by whoever made the key; the folder is the operator's choice). A certificate with no role, an
/// unknown role, or a key listed under two roles is left out and reported in `problems`: when in doubt, a
/// key gets nothing.
public struct AuthorizedKeys: Sendable {
    public struct Entry: Sendable, Equatable {
        public let role: PeerRole
        /// The certificate's file name without `.key`, for logs.
        public let name: String
        public let path: String
    }

    public enum LoadError: Error, CustomStringConvertible {
        /// The directory does not exist (any more): nobody is authorized.
        case gone(String)
        /// It cannot be read now (out of file descriptors, I/O): keep what was loaded and try again.
        case unreadable(String)
        public var description: String {
            switch self {
            case .gone(let message), .unreadable(let message): message
            }
        }
    }

    /// Public key (Z85) → entry.
    public private(set) var entries: [String: Entry] = [:]
    public private(set) var problems: [String] = []

    public init() {}

    public func role(of publicKey: String) -> PeerRole? { entries[publicKey]?.role }

    public func count(_ role: PeerRole) -> Int { entries.values.filter { $0.role == role }.count }

    /// Reads the directory. A certificate that cannot be read now (being written, say) keeps the entry
    /// `previous` had from the same file. Throws `LoadError` when the directory itself cannot be read.
    public static func load(directory: String, previous: AuthorizedKeys = AuthorizedKeys()) throws -> AuthorizedKeys {
        guard let top = listDirectory(directory) else {
            let message = "cannot read the authorized keys directory \(directory): \(String(cString: strerror(errno)))"
            throw errno == ENOENT || errno == ENOTDIR ? LoadError.gone(message) : LoadError.unreadable(message)
        }
        var keys = AuthorizedKeys()
        var found: [String: [(PeerRole?, String, String)]] = [:]  // key → (role, name, path)
        let previousByPath = Dictionary(previous.entries.map { ($0.value.path, ($0.key, $0.value)) }) { first, _ in first }
        func read(_ path: String, folderRole: PeerRole?) {
            let name = String(path.split(separator: "/").last!.dropLast(4))
            let certificate: Certificate
            do { certificate = try Certificate.load(path: path) } catch {
                if let (key, entry) = previousByPath[path] {
                    keys.problems.append("\(error); keeping its previous key until it reads again")
                    found[key, default: []].append((entry.role, entry.name, path))
                } else {
                    keys.problems.append("\(error)")
                }
                return
            }
            var role = folderRole
            if let written = certificate.metadata["role"] {
                let declared = PeerRole(rawValue: written)
                if let folderRole {
                    if declared != folderRole {
                        keys.problems.append("\(path): its metadata says role '\(written)'; its folder '\(folderRole.rawValue)' wins")
                    }
                } else {
                    guard let declared else {
                        keys.problems.append("\(path): unknown role '\(written)' (agent, client or observer)")
                        return
                    }
                    role = declared
                }
            }
            guard let role else {
                keys.problems.append("\(path): no role; put it in agent/, client/ or observer/, or write role = \"…\" under metadata")
                return
            }
            found[certificate.publicKey, default: []].append((role, name, path))
        }
        for entry in top where entry.hasSuffix(".key") {
            read(directory + "/" + entry, folderRole: nil)
        }
        for role in PeerRole.allCases {
            let folder = directory + "/" + role.rawValue
            for entry in listDirectory(folder) ?? [] where entry.hasSuffix(".key") {
                read(folder + "/" + entry, folderRole: role)
            }
        }
        for (key, listings) in found {
            let roles = Set(listings.compactMap(\.0))
            if roles.count > 1 {
                keys.problems.append("one key is listed with different roles (\(listings.map(\.2).joined(separator: ", "))); it is refused")
                continue
            }
            keys.entries[key] = Entry(role: roles.first!, name: listings[0].1, path: listings[0].2)
        }
        keys.problems.sort()
        return keys
    }

    /// Names, sizes and change times of everything that `load` reads: when it changes, reload. nil when
    /// the directory cannot be listed now for a reason other than its absence (EMFILE, EIO…).
    public static func signature(directory: String) -> String? {
        let top = listDirectory(directory)
        if top == nil && errno != ENOENT && errno != ENOTDIR { return nil }
        var parts: [String] = []
        for folder in [directory] + PeerRole.allCases.map({ directory + "/" + $0.rawValue }) {
            let entries = folder == directory ? top : listDirectory(folder)
            for entry in (entries ?? []).sorted() where entry.hasSuffix(".key") {
                var info = stat()
                guard stat(folder + "/" + entry, &info) == 0 else { continue }
                parts.append("\(folder)/\(entry):\(info.st_ino):\(info.st_size):\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)")
            }
        }
        return parts.joined(separator: "\n")
    }
}

/// The entry names of a directory (no "." or ".."), nil when it cannot be opened.
func listDirectory(_ path: String) -> [String]? {
    guard let dir = opendir(path) else { return nil }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if name != "." && name != ".." { names.append(name) }
    }
    return names
}
