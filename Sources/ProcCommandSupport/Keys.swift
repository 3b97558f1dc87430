import Foundation
import ZeroMQ

/// The CURVE keys of an agent or a client: `cert` is its own secret certificate (`NAME.key_secret`),
/// `coordinatorKey` the coordinator's public key, as a 40-character Z85 key or the path of its public
/// certificate. Neither given: nil (no CURVE). One without the other is an error.
public func loadClientKeys(cert: String?, coordinatorKey: String?) throws -> CurveClientKeys? {
    switch (cert, coordinatorKey) {
    case (nil, nil):
        return nil
    case (nil, _):
        throw CommandError("--coordinator-key needs --cert too (this side's secret certificate; see proc keygen)")
    case (_, nil):
        throw CommandError("--cert needs --coordinator-key too (the coordinator's public key or its .key file)")
    case (let cert?, let coordinatorKey?):
        let keys = try loadSecretCertificate(cert).keyPair!
        let serverKey: String
        do { serverKey = try Certificate.publicKey(keyOrPath: coordinatorKey) } catch {
            throw CommandError("--coordinator-key: \(error)")
        }
        return CurveClientKeys(keys: keys, serverKey: serverKey)
    }
}

/// A secret certificate, checked to hold a usable key pair.
public func loadSecretCertificate(_ path: String) throws -> Certificate {
    let certificate: Certificate
    do { certificate = try Certificate.load(path: path) } catch { throw CommandError("--cert: \(error)") }
    guard certificate.secretKey != nil, certificate.keyPair != nil else {
        throw CommandError("--cert \(path) holds no secret key: give the NAME.key_secret file, not NAME.key")
    }
    return certificate
}

/// An environment variable, nil when unset or empty.
public func environment(_ name: String) -> String? {
    guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else { return nil }
    return value
}

/// Raises the soft limit of open files to the hard limit. Every connection is a file descriptor, taken
/// before any key is checked; at the usual soft limit (1024) a stranger opening connections could
/// starve the coordinator of descriptors for its own files (journal, key directory).
public func raiseOpenFileLimit() {
    var limit = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
    limit.rlim_cur = limit.rlim_max
    _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
}
