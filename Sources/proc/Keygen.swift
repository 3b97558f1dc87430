import ArgumentParser
import Foundation
import ProcCommandSupport
import ProcCore
import ProcSystem
import ZeroMQ

struct Keygen: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a CURVE key pair: NAME.key (public) and NAME.key_secret (secret, mode 0600).",
        discussion: """
            The files are ZeroMQ certificates, as czmq's zcert and pyzmq's zmq.auth write them. Give the \
            coordinator its own pair (--cert), and put the public NAME.key of each agent, client and observer \
            in its --authorized-keys directory. The role is written in the certificate's metadata; a \
            certificate without one (pyzmq's, say) gets the role of the folder it is put in: agent/, client/ \
            or observer/.
            """)

    @Argument(help: "The name of the pair (the files are NAME.key and NAME.key_secret).")
    var name: String

    @Option(help: "agent, client or observer (none for the coordinator's own pair).")
    var role: String?

    @Option(help: "Where to write the files (default: the current directory).")
    var dir: String = "."

    func validate() throws {
        if let role, PeerRole(rawValue: role) == nil {
            throw ValidationError("--role must be agent, client or observer")
        }
        if let problem = AgentName.problem(name) {
            throw ValidationError("NAME must be a plain file name: \(problem.replacingOccurrences(of: "an agent name", with: "it"))")
        }
    }

    func run() throws {
        guard CurveKeyPair.isAvailable else {
            printError("this libzmq was built without CURVE (libsodium); install Debian's libzmq5")
            throw ExitCode(1)
        }
        do {
            try DataDirectory.makeDirectories(dir, option: "--dir")
            let certificate = try Certificate.generate(metadata: role.map { ["role": $0] } ?? [:])
            let base = dir + "/" + name + ".key"
            try certificate.save(base: base)
            print("public key \(certificate.publicKey)")
            print("wrote \(base) (public) and \(base)_secret (secret: keep it on this host only)")
        } catch {
            printError("\(error)")
            throw ExitCode(1)
        }
    }
}
