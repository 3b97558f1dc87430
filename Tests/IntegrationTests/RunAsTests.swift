import Foundation
import Glibc
import ProcCore
import Testing

extension Integration {
    /// Job isolation: an agent started with `--run-as USER` runs its jobs as that user (needs root, as in CI).
    @Suite struct RunAs {
        @Test(.enabled(if: geteuid() == 0, "needs root")) func jobsRunAsTheNamedUser() throws {
            let cluster = try TestCluster(agents: [["--run-as", "nobody"]])
            defer { cluster.stop() }
            let agent = cluster.agents[0]
            #expect(eventually { agent.stderr.contains("jobs run as nobody") }, "\(agent.stderr)")

            let id = try cluster.submit("--", "id", "-un")
            let environment = try cluster.submit("--", "sh", "-c", #"echo "$HOME $USER $LOGNAME""#)
            #expect(try cluster.proc("wait", id, environment, "--timeout", "30").code == 0)
            let shown = try cluster.proc("result", id)
            #expect(shown.code == 0)
            #expect(shown.stdout.contains("nobody"), "\(shown.stdout)")
            func stdout(_ id: String) throws -> String? {
                try JSONDecoder().decode(ResultReply.self, from: Data(cluster.proc("result", id, "--json").stdout.utf8))
                    .stdout
            }
            #expect(try stdout(id) == "nobody\n")
            #expect(try stdout(environment) == "/nonexistent nobody nobody\n")

            // A user that does not exist is a usage error at startup.
            let unknown = try run(binary("proc-agent"), ["join", cluster.control, "--run-as", "no-such-user-proc-test"],
                                  timeout: 20)
            #expect(unknown.code == 2)
            #expect(unknown.stderr.contains("no user 'no-such-user-proc-test'"), "\(unknown.stderr)")
        }
    }
}
